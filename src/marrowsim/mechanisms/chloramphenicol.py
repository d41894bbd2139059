"""Chloramphenicol, and a generic drug with the same two faces.

A course of ``<drug>_dose_mg_per_kg_day`` (mg/kg/day, given in divided
doses: chloramphenicol 50 mg/kg/day in 4 doses, up to 100 in exceptional
cases) from ``<drug>_start_day`` for ``<drug>_days`` (input
``<drug>_dose_given``: the daily dose while the course lasts, else 0).
``<drug>`` is ``chloramphenicol`` (:class:`Chloramphenicol`) or ``drug``
(:class:`GenericDrug`, whose parameters default to chloramphenicol's: set
its keys, ``--set drug.dose_mg_per_kg_day=10 --set
drug.idiosyncratic_risk_per_course=2e-4``, to describe another drug; both can
be given together). Chloramphenicol's toxicity has two faces (MODELS.md 7.3):

Dose-dependent, reversible erythroid suppression while the drug is taken.
Pharmacokinetics: the half-life is 1.5-4 h in adults (Chloromycetin label),
so the level settles within a day and follows the dosing rate; the model
uses the daily-average serum level, the steady state of linear kinetics,

    C = dose / CL        (mg/L = ug/mL; CL the apparent oral clearance per kg)

(1 g every 6 h, 57 mg/kg/day at 70 kg, gives mean levels of 8-14 ug/mL over
48 h: label), and a q6h level swings around it by about two-fold. No state
is needed, and a patient never given the drug sees no change at all.
Pharmacodynamics: chloramphenicol blocks mitochondrial protein synthesis in
erythroid precursors (vacuolated pronormoblasts, maturation arrest, raised
serum iron: a sideroblastic pattern); reticulocytes fall first, at serum
levels of about 25 ug/mL or more, and recover within days to weeks of
stopping. The erythroid progenitors are lost first order at

    erythroid_loss = L_max C^h / (C^h + C50^h)

published as ``<drug>_erythroid_loss_rate`` (1/day) and read by the
erythroid lineage beside radiation's kill; granulocytic and platelet
suppression at higher levels are not modelled.

A rare, dose-independent idiosyncratic reaction. Each patient's
``<drug>_idiosyncratic_draw`` is a unit exponential from its own random-
outcome stream (drawn before integration, so a patient reacts or not
whatever cohort it is in); the patient reacts to a course (any dose > 0, any
length > 0) where the draw lies below -ln(1 - risk), i.e. with probability
``<drug>_idiosyncratic_risk_per_course`` exactly (chloramphenicol about
1/30,000 courses: Wallerstein et al., JAMA 1969). A reacting patient's
tolerance breaks ``<drug>_idiosyncratic_latency_days`` (drawn per patient)
after the end of the course, through :func:`sensitisation_onset`: the general
hook by which an exposure sensitises the immune system (a neo-antigen or a
danger signal) and starts the immune attack of the immune mechanism. What
follows is immune AA, as in the immune-aa scenario, with that scenario's
immune settings: ``immune.strength`` (the susceptibility of the patient's
immune system; 0, the table's default, means no attack follows) and
``immune.trigger_day`` (36500 = no spontaneous break). That the
idiosyncratic aplasia is immune-mediated is an assumption (MODELS.md
section 11: a nitroso metabolite is the other proposal).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from marrowsim.libm import libm_log1p
from marrowsim.mechanisms.base import Context, Input, InputChange, Mechanism, Namespace

# the day of a change that never happens: beyond any run (at most 36500 days)
NEVER_DAY = 1.0e9
# the input of the immune mechanism that an exposure switches on
IMMUNE_ATTACK_INPUT = "immune_attack_on"


def _is_symbolic(*values: Any) -> bool:
    import sys

    sympy = sys.modules.get("sympy")
    return sympy is not None and any(isinstance(v, sympy.Basic) for v in values)


def reaction_threshold(risk: Any) -> Any:
    """The draw (a unit exponential) below which a patient reacts: a
    probability ``risk`` exactly, -ln(1 - risk)."""
    if _is_symbolic(risk):
        import sympy

        return -sympy.log(1 - risk)
    with np.errstate(divide="ignore"):  # risk 1: every course reacts (inf)
        return -libm_log1p(-np.asarray(risk, dtype=float))


def reacts(draw: Any, risk: Any) -> Any:
    """Whether a patient with the unit-exponential ``draw`` reacts to a course
    (numpy arrays; the same rule as the mechanism's schedule)."""
    return np.asarray(draw, dtype=float) < reaction_threshold(risk)


def sensitisation_onset(exposed: Any, draw: Any, risk: Any, day: Any) -> InputChange:
    """The hook by which an exposure sensitises the immune system: the input
    change that starts the immune attack (``immune_attack_on`` = 1) on
    ``day`` in the patients who are ``exposed`` (a boolean per patient, or a
    sympy relational) and whose unit-exponential ``draw`` lies below
    -ln(1 - ``risk``), i.e. with probability ``risk``; never in the others
    (:data:`NEVER_DAY`, beyond every run, so they see no change). Any
    exposure mechanism may return it from its ``schedule``; with numbers
    per patient (simulation) or sympy symbols (SBML export)."""
    if _is_symbolic(exposed, draw, risk, day):
        import sympy

        onset = sympy.Piecewise(
            (day, sympy.And(exposed, draw < reaction_threshold(risk))), (NEVER_DAY, True)
        )
        return InputChange(IMMUNE_ATTACK_INPUT, onset, 1.0)
    hit = np.asarray(exposed, dtype=bool) & reacts(draw, risk)
    return InputChange(IMMUNE_ATTACK_INPUT, np.where(hit, day, NEVER_DAY), 1.0)


class MarrowToxicDrug(Mechanism):
    """A drug with chloramphenicol's two faces; subclasses set ``prefix``
    (the parameter prefix and mechanism name) and the matching class
    attributes (:func:`_declarations`)."""

    prefix: ClassVar[str]

    def _name(self, what: str) -> str:
        return f"{self.prefix}_{what}"

    def signals(self, c: Context) -> dict:
        p = c.p
        level = c.u.get(self._name("dose_given")) / p.get(self._name("clearance_l_per_kg_day"))
        hill = p.get(self._name("erythroid_hill"))
        half = p.get(self._name("erythroid_half_effect_ug_per_ml"))
        loss = (
            p.get(self._name("erythroid_max_loss_rate")) * level**hill / (level**hill + half**hill)
        )
        return {self._name("erythroid_loss_rate"): loss}

    def rates(self, c: Context) -> dict:
        return {}

    def steady_state(self, p: Namespace) -> dict:
        return {}

    def schedule(self, p: Any) -> list[InputChange]:
        start, days, dose = (p[self._name(k)] for k in ("start_day", "days", "dose_mg_per_kg_day"))
        end = start + days
        exposed = (dose > 0) & (days > 0) if not _is_symbolic(dose, days) else None
        if exposed is None:
            import sympy

            exposed = sympy.And(dose > 0, days > 0)
        return [
            # the input carries the dose itself, so an unexposed patient (dose
            # 0) sees no input change and no new segment
            InputChange(self._name("dose_given"), start, dose),
            InputChange(self._name("dose_given"), end, 0.0),
            sensitisation_onset(
                exposed,
                p[self._name("idiosyncratic_draw")],
                p[self._name("idiosyncratic_risk_per_course")],
                end + p[self._name("idiosyncratic_latency_days")],
            ),
        ]


PARAMETER_KEYS = (
    "dose_mg_per_kg_day",
    "start_day",
    "days",
    "clearance_l_per_kg_day",
    "erythroid_half_effect_ug_per_ml",
    "erythroid_hill",
    "erythroid_max_loss_rate",
    "idiosyncratic_risk_per_course",
    "idiosyncratic_draw",
    "idiosyncratic_latency_days",
)


def _parameters(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}_{k}" for k in PARAMETER_KEYS)


class Chloramphenicol(MarrowToxicDrug):
    name = "chloramphenicol"
    prefix = "chloramphenicol"
    inputs = (
        Input(
            "chloramphenicol_dose_given",
            "mg/kg/day",
            "chloramphenicol daily dose (0 off the course)",
        ),
    )
    parameters = _parameters("chloramphenicol")
    publishes = ("chloramphenicol_erythroid_loss_rate",)


class GenericDrug(MarrowToxicDrug):
    name = "drug"
    prefix = "drug"
    inputs = (Input("drug_dose_given", "mg/kg/day", "generic drug daily dose (0 off the course)"),)
    parameters = _parameters("drug")
    publishes = ("drug_erythroid_loss_rate",)
