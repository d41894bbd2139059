"""DNA damage and repair in haematopoietic stem cells; the Fanconi genotype.

Damage. HSC acquire DNA lesions (interstrand crosslinks and the breaks made
while repairing them) from endogenous aldehydes all the time (formaldehyde,
acetaldehyde: the genotoxin that Fanconi-pathway repair protects HSC from;
Langevin et al., Nature 2011; Garaycoechea et al., Nature 2012), and more
from genotoxic exposures and inflammation. The lesion production, relative to
a healthy HSC's endogenous aldehyde load (``dna_damage_aldehyde_load``, 1 by
definition), is

    production = aldehyde load
                 + dna_damage_exposure_load_days x (radiation + benzene HSC kill rate)
                 + dna_damage_cytokine_load x (IFN-gamma effect + TNF-alpha effect)

where an exposure makes lesions in proportion to the HSC kill rate it causes
in a healthy marrow (signals ``radiation_hsc_kill_rate``,
``benzene_hsc_kill_rate``, 1/day) and inflammatory cytokines in proportion to
their effect (``interferon_gamma_effect``, ``tnf_alpha_effect``, 0..1, of the
immune mechanism; oxidative lesions). Lesions are repaired within hours, far
faster than HSC turn over (months), so the unrepaired damage is in quasi-steady
state and needs no state of its own: the damage index (unrepaired lesions per
HSC, 1 in a healthy HSC at the aldehyde baseline) is

    damage = production / repair capacity

with the patient's repair capacity relative to healthy (``dna_repair_capacity``,
1; the Fanconi genotype's ``fanconi_repair_capacity``).

Loss. Unrepaired damage drives p53/p21 apoptosis and senescence of HSPC
(Ceccaldi et al., Cell Stem Cell 2012). A healthy marrow's responses to
aldehydes, radiation, benzene and cytokines are already in the model (a
healthy HSC's own turnover, the exposures' kill rates, the Fas apoptosis of
the immune attack), so the extra loss counts only the damage a healthy repair
capacity would not have left:

    extra HSC loss = dna_damage_apoptosis_rate x (damage - production)
                   = dna_damage_apoptosis_rate x production x (1 / repair - 1)

exactly 0 at a healthy repair capacity, whatever the exposures, so the models
of healthy people are unchanged. With a low repair capacity the loss is
present from birth (aldehydes) and rises with radiation, benzene and
cytokines: the Fanconi hypersensitivity to crosslinks, radiation, IFN-gamma
and TNF-alpha (Rathbun et al., Blood 1997) is the same unrepaired-damage term.
Published as ``hsc_dna_damage_loss_rate`` (1/day), which the stem-cell pool
adds to its loss, and ``hsc_dna_damage_index``.

Persistent damage. Damage left unrepaired does not all go away with the cells
that carry it: persistent lesions, and the p53/p21 response to them, build up
with age in Fanconi HSPC (Ceccaldi et al. 2012). The input
``hsc_dna_damage_persistent_load`` adds to the lesion production a load that
grows linearly from day 0 in proportion to the repair defect,

    persistent load = (1 / repair - 1) x t / dna_damage_persistence_days

(half-year steps at their midpoint values), and adds
``dna_damage_apoptosis_rate`` x that load to the loss. It is what makes the
failure of a Fanconi marrow progressive, accruing through childhood and
beyond, rather than all at birth or never; it is 0 at a healthy capacity (no
input change, no segment). Day 0 is birth in a course from birth; in an
adult's course the load starts at 0 on day 0 (a limitation: no age covariate).

Genotype. Each patient is ``healthy`` or ``fanconi``: a cohort holds a
fraction ``genotype_fanconi_fraction`` of Fanconi patients, patient i being
one where its random draw ``genotype_draw`` (Exp(1) from its outcome stream)
gives a uniform 1 - exp(-draw) at or below the fraction (scenario key
``genotype: fanconi`` sets the fraction to 1, ``healthy`` to 0). A Fanconi
patient has the repair capacity ``fanconi_repair_capacity`` (varying between
patients: complementation groups and modifiers, FANCC failing earlier than
FANCA or FANCG; Kutler et al., Blood 2003) and an HSC pool at birth
``fanconi_birth_pool_fraction`` of a healthy newborn's (the aldehyde-driven
loss starts in utero; Ceccaldi et al. 2012).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from marrowsim.libm import libm_exp
from marrowsim.mechanisms.base import (
    DAYS_PER_YEAR,
    Context,
    Input,
    InputChange,
    Mechanism,
    Namespace,
    exp,
    genotype_carrier,
    piecewise,
)

GENOTYPES = ("healthy", "fanconi")
# the persistent load is held piecewise constant over half-year steps (at its
# midpoint value), over at most 100 years
PERSISTENT_STEP_DAYS = DAYS_PER_YEAR / 2
PERSISTENT_STEPS = 200


def repair_defect(p: Any) -> Any:
    """1 / repair capacity - 1 of each patient (0 at a healthy capacity), from
    table values: numeric arrays (simulation) or sympy symbols (SBML export)."""
    draw, fraction = p["genotype_draw"], p["genotype_fanconi_fraction"]
    if isinstance(draw, np.ndarray | float | int):
        fanconi = 1 - libm_exp(-np.asarray(draw, dtype=float)) <= fraction
        repair = np.where(fanconi, p["fanconi_repair_capacity"], p["dna_repair_capacity"])
        return 1 / np.asarray(repair, dtype=float) - 1
    repair = piecewise(
        [
            (p["fanconi_repair_capacity"], 1 - exp(-draw) <= fraction),
            (p["dna_repair_capacity"], True),
        ]
    )
    return 1 / repair - 1


class DnaDamage(Mechanism):
    name = "dna_damage"
    parameters = (
        "dna_repair_capacity",
        "dna_damage_aldehyde_load",
        "dna_damage_exposure_load_days",
        "dna_damage_cytokine_load",
        "dna_damage_apoptosis_rate",
        "genotype_fanconi_fraction",
        "genotype_draw",
        "fanconi_repair_capacity",
        "fanconi_birth_pool_fraction",
        "dna_damage_persistence_days",
        "marrow_growth_start_fraction",
    )
    inputs = (
        Input(
            "hsc_dna_damage_persistent_load",
            "relative lesion production",
            "persistent unrepaired damage accumulated since day 0 (0 at a healthy repair capacity)",
        ),
    )
    publishes = ("hsc_dna_damage_index", "hsc_dna_damage_loss_rate")

    def derived(self, p: Namespace) -> dict:
        # the patient's uniform draw 1 - exp(-Exp(1)) against the carrier fraction
        fanconi = genotype_carrier(p.genotype_draw, p.genotype_fanconi_fraction)
        repair = piecewise(
            [(p.fanconi_repair_capacity, fanconi > 0), (p.dna_repair_capacity, True)]
        )
        birth_pool = piecewise([(p.fanconi_birth_pool_fraction, fanconi > 0), (1, True)])
        return {
            "genotype_fanconi": fanconi,
            "dna_repair_capacity_patient": repair,
            # the extra loss from each source of lesions (1/day at the aldehyde
            # baseline and at full cytokine effect, per unit of an exposure's
            # kill rate), each 0 at a healthy repair capacity
            "dna_damage_loss_baseline": p.dna_damage_apoptosis_rate
            * (1 / repair - 1)
            * p.dna_damage_aldehyde_load,
            "dna_damage_loss_per_exposure_kill": p.dna_damage_apoptosis_rate
            * (1 / repair - 1)
            * p.dna_damage_exposure_load_days,
            "dna_damage_loss_per_cytokine": p.dna_damage_apoptosis_rate
            * (1 / repair - 1)
            * p.dna_damage_cytokine_load,
            "hsc_start_fraction": p.marrow_growth_start_fraction * birth_pool,
        }

    def signals(self, c: Context) -> dict:
        p = c.p
        exposure = c.signal("radiation_hsc_kill_rate", 0) + c.signal("benzene_hsc_kill_rate", 0)
        cytokines = c.signal("interferon_gamma_effect", 0) + c.signal("tnf_alpha_effect", 0)
        persistent = c.u.hsc_dna_damage_persistent_load
        production = (
            p.dna_damage_aldehyde_load
            + p.dna_damage_exposure_load_days * exposure
            + p.dna_damage_cytokine_load * cytokines
            + persistent
        )
        # the loss is the same expression as dna_damage_apoptosis_rate x
        # production x (1 / repair - 1), written with one parameter per term
        # so that it adds no parameter-only subexpression to the HSC rate
        return {
            "hsc_dna_damage_index": production / p.dna_repair_capacity_patient,
            "hsc_dna_damage_loss_rate": p.dna_damage_loss_baseline
            + p.dna_damage_loss_per_exposure_kill * exposure
            + p.dna_damage_loss_per_cytokine * cytokines
            + p.dna_damage_apoptosis_rate * persistent,
        }

    def rates(self, c: Context) -> dict:
        return {}

    def steady_state(self, p: Namespace) -> dict:
        return {}

    def schedule(self, p: Any) -> list[InputChange]:
        # the persistent load grows with the unrepaired damage and time since
        # day 0; 0 throughout at a healthy capacity (no input change, no segment)
        defect = repair_defect(p)
        changes = []
        for k in range(1, PERSISTENT_STEPS + 1):
            day = k * PERSISTENT_STEP_DAYS
            load = defect * (day + PERSISTENT_STEP_DAYS / 2) / p["dna_damage_persistence_days"]
            changes.append(InputChange("hsc_dna_damage_persistent_load", day, load))
        return changes
