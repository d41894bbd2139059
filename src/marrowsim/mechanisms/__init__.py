"""Biology, one module per mechanism. No solver code lives here."""

from marrowsim.mechanisms.anaemia import Anaemia
from marrowsim.mechanisms.atg import Antithymocyte
from marrowsim.mechanisms.base import (
    Event,
    EventAction,
    Input,
    InputChange,
    Mechanism,
    Readout,
    State,
    Visit,
)
from marrowsim.mechanisms.benzene import Benzene
from marrowsim.mechanisms.bleeding import Bleeding
from marrowsim.mechanisms.blood_loss import BloodLoss
from marrowsim.mechanisms.chloramphenicol import Chloramphenicol, GenericDrug
from marrowsim.mechanisms.cyclosporine import Cyclosporine
from marrowsim.mechanisms.diagnosis import Diagnosis
from marrowsim.mechanisms.dna_damage import DnaDamage
from marrowsim.mechanisms.eltrombopag import Eltrombopag
from marrowsim.mechanisms.erythroid import Erythroid
from marrowsim.mechanisms.feedback import Feedback
from marrowsim.mechanisms.filgrastim import Filgrastim
from marrowsim.mechanisms.granulocytic import Granulocytic
from marrowsim.mechanisms.growth import MarrowGrowth
from marrowsim.mechanisms.immune import ImmuneAttack
from marrowsim.mechanisms.infection import Infection
from marrowsim.mechanisms.lymphoid import Lymphoid
from marrowsim.mechanisms.marrow_readouts import MarrowReadouts
from marrowsim.mechanisms.megakaryocytic import Megakaryocytic
from marrowsim.mechanisms.niche import Niche
from marrowsim.mechanisms.radiation import Radiation
from marrowsim.mechanisms.salvage import Salvage
from marrowsim.mechanisms.stem_cells import StemCells
from marrowsim.mechanisms.telomere import Telomere
from marrowsim.mechanisms.transfusion import Transfusion
from marrowsim.mechanisms.transplant import Transplant


def default_mechanisms() -> tuple[Mechanism, ...]:
    """The mechanisms of the core marrow + immune-attack model, in order:
    exposures (their kill rates are read by the marrow and the T cells; the
    drugs' idiosyncratic reactions start the immune attack), the
    immunosuppressive drugs (read by the T cells) and the growth factors
    eltrombopag and filgrastim (read by the hormone feedback), the
    salvage rule (its gates are read by ATG and the transplant), a
    transplant (read by the marrow and the T cells), the
    marrow and its disease, the clinic (diagnosis, the causes of death and
    bleeding), then supportive care (events at one time fire in this order, so
    a bleeding episode is logged before the transfusion that answers it),
    and last the slow marrow environment (the niche stroma), whose state is
    appended after the others so their layout is unchanged (the order of
    signals does not matter: they are resolved by dependency)."""
    return (
        Radiation(),
        Benzene(),
        Chloramphenicol(),
        GenericDrug(),
        Antithymocyte(),
        Cyclosporine(),
        Eltrombopag(),
        Filgrastim(),
        Salvage(),
        Transplant(),
        ImmuneAttack(),
        BloodLoss(),
        MarrowGrowth(),
        DnaDamage(),
        Telomere(),
        StemCells(),
        Erythroid(),
        Granulocytic(),
        Megakaryocytic(),
        Lymphoid(),
        Feedback(),
        MarrowReadouts(),
        Diagnosis(),
        Infection(),
        Bleeding(),
        Anaemia(),
        Transfusion(),
        Niche(),
    )


__all__ = [
    "Anaemia",
    "Antithymocyte",
    "Benzene",
    "Bleeding",
    "BloodLoss",
    "Chloramphenicol",
    "Cyclosporine",
    "Diagnosis",
    "DnaDamage",
    "Eltrombopag",
    "Erythroid",
    "Event",
    "EventAction",
    "Feedback",
    "Filgrastim",
    "GenericDrug",
    "Granulocytic",
    "ImmuneAttack",
    "Infection",
    "Input",
    "InputChange",
    "Lymphoid",
    "MarrowGrowth",
    "MarrowReadouts",
    "Mechanism",
    "Megakaryocytic",
    "Niche",
    "Radiation",
    "Readout",
    "Salvage",
    "State",
    "StemCells",
    "Telomere",
    "Transfusion",
    "Transplant",
    "Visit",
    "default_mechanisms",
]
