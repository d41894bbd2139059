"""Biology, one module per mechanism. No solver code lives here."""

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
from marrowsim.mechanisms.blood_loss import BloodLoss
from marrowsim.mechanisms.erythroid import Erythroid
from marrowsim.mechanisms.feedback import Feedback
from marrowsim.mechanisms.granulocytic import Granulocytic
from marrowsim.mechanisms.immune import ImmuneAttack
from marrowsim.mechanisms.lymphoid import Lymphoid
from marrowsim.mechanisms.marrow_readouts import MarrowReadouts
from marrowsim.mechanisms.megakaryocytic import Megakaryocytic
from marrowsim.mechanisms.stem_cells import StemCells


def default_mechanisms() -> tuple[Mechanism, ...]:
    """The mechanisms of the core marrow + immune-attack model, in order."""
    return (
        ImmuneAttack(),
        BloodLoss(),
        StemCells(),
        Erythroid(),
        Granulocytic(),
        Megakaryocytic(),
        Lymphoid(),
        Feedback(),
        MarrowReadouts(),
    )


__all__ = [
    "BloodLoss",
    "Erythroid",
    "Event",
    "EventAction",
    "Feedback",
    "Granulocytic",
    "ImmuneAttack",
    "Input",
    "InputChange",
    "Lymphoid",
    "MarrowReadouts",
    "Mechanism",
    "Megakaryocytic",
    "Readout",
    "State",
    "StemCells",
    "Visit",
    "default_mechanisms",
]
