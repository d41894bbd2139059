"""Cyclosporine: oral twice-daily dosing, blood concentration, trough
titration at visits, taper; a reversible block of T-cell activation.

Course (input ``cyclosporine_dose_given``, mg/kg/day before titration): the
full dose ``cyclosporine_dose_mg_per_kg_day`` from ``cyclosporine_start_day``
(counted from day 0 of the outputs: the enrolment in a scenario that enrols
at diagnosis) for ``cyclosporine_full_dose_days``, then tapered to zero in
``TAPER_STEPS`` equal reductions, the first at the end of the full dose and
the last ``cyclosporine_taper_days`` later (0: stopped at once). A second
course (input ``cyclosporine_second_course_dose_given``) starts at
``cyclosporine_second_course_start_day``, after the first has ended, at the
same starting dose, keeps the titration the first course reached, lasts
``cyclosporine_second_course_full_dose_days`` (0: none) and is tapered the
same way. With the salvage rule, a second course that starts after the
assessment is given only to the patients switched to a second ATG course
(signal ``cyclosporine_second_course_gate``, ``salvage`` mechanism): it is
the cyclosporine of a second course of immunosuppression.

Restart on relapse. With ``cyclosporine_restart_on_relapse`` 1, the clinic
watches the counts at the same visits. Once a patient's own counts have left
the severe count criteria while cyclosporine is given (a response to it:
``cyclosporine_response_seen``), a visit that finds them back within those
criteria while none is given restarts it at the starting dose, kept from then
on (``cyclosporine_restarted``; the titration visits resume): a relapse after
immunosuppression is treated first by reinstating cyclosporine (Rosenfeld et
al., JAMA 2003;289:1130). A course given later adds nothing above that dose.

Pharmacokinetics. The state is the dosing-interval average blood
concentration ``cyclosporine_concentration`` (ng/mL) of a one-compartment
oral model,

    d C / dt = 1000 * dose_given * titration / V - k * C,   k = CL / V,

with CL/F scaled allometrically, CL(W) = CL70 (W / 70)^0.75, V/F
proportional to weight (Gao et al., Front Pharmacol 2022). Twice-daily
doses are not simulated one by one (1460 discontinuities in two years):
within an interval the concentration swings around its average, and the
trough of the swing at steady state is the average times

    r = k tau ka / (ka - k) * [e^(-k tau) / (1 - e^(-k tau))
                               - e^(-ka tau) / (1 - e^(-ka tau))]

(superposition of first-order absorption and elimination over a dosing
interval ``tau``). The readout ``cyclosporine_trough`` is C r: the trough a
clinic would measure once the average has settled (its half-life is about
10 hours, so within two days of a dose change).

Titration. At each visit (every ``cyclosporine_visit_every_days``) during
the full-dose course, a trough outside ``cyclosporine_trough_low`` ..
``cyclosporine_trough_high`` moves the dose in proportion towards
``cyclosporine_target_trough_ng_per_ml`` (linear kinetics: the trough
scales with the dose), by at most a halving or a doubling per visit; a
trough inside the range leaves the dose alone, as clinics do. A target of 0
keeps the dose fixed. The visits keep the cadence of the patient's clock
(day 0 of its simulated history), not of the start of the course.

Pharmacodynamics. Cyclosporine blocks calcineurin and so T-cell activation
and IL-2-driven expansion: the immune attack's recruitment and expansion of
effectors are multiplied by ``1 - block``,

    block = inhibition_max * C / (C + ic50),

reversibly: when the drug is tapered or stopped in a patient whose attack is
still primed, the effectors come back (relapse; Patel et al., Blood
2022;139:34).
"""

from __future__ import annotations

from typing import Any

from marrowsim.mechanisms.base import (
    HOURS_PER_DAY,
    REFERENCE_WEIGHT_KG,
    Context,
    EventAction,
    Input,
    InputChange,
    Mechanism,
    Namespace,
    Readout,
    State,
    Visit,
    emax,
    exp,
    first_violation,
    select,
    visits_if_given,
)
from marrowsim.mechanisms.diagnosis import own_severe_count_margin

TAPER_STEPS = 4  # equal dose reductions over the taper (a fixed count: SBML needs one)
TITRATION = "cyclosporine_titration"
RELAPSE_CHECK = "cyclosporine_relapse_check"
LARGEST_STEP = 2.0  # a visit at most doubles or halves the dose
# a visit reads the trough once the average is within 10% of its steady state
SETTLED_FRACTION = 0.9
# the full dose is being given (not a taper step), to round-off
FULL_DOSE_FRACTION = 0.999
ALLOMETRIC_CLEARANCE_EXPONENT = 0.75  # CL ~ weight^0.75 (Gao et al. 2022)


class Cyclosporine(Mechanism):
    name = "cyclosporine"
    states = (
        State(
            "cyclosporine_concentration",
            "ng/mL",
            "average whole-blood cyclosporine over a dosing interval",
            scale=100.0,
        ),
        State(
            "cyclosporine_titration_factor",
            "fold",
            "dose relative to the starting dose, after titration at visits",
            held=True,
        ),
        State(
            "cyclosporine_response_seen",
            "switch",
            "1 once a visit has found the own counts out of the severe criteria on the drug",
            held=True,
        ),
        State(
            "cyclosporine_restarted",
            "switch",
            "1 once cyclosporine is restarted for a relapse",
            held=True,
        ),
    )
    inputs = (
        Input(
            "cyclosporine_dose_given",
            "mg/kg/day",
            "daily dose prescribed before titration (the taper's steps; 0 off the course)",
        ),
        Input(
            "cyclosporine_second_course_dose_given",
            "mg/kg/day",
            "daily dose of the second course before titration (0 off it)",
        ),
    )
    readouts = (Readout("cyclosporine_trough", "ng/mL", "whole-blood cyclosporine trough"),)
    visits = (
        Visit(
            TITRATION,
            "a trough is measured and an out-of-range dose moved towards the target",
            every="cyclosporine_visit_interval_days",
            first="cyclosporine_visit_interval_days",
        ),
        Visit(
            RELAPSE_CHECK,
            "the counts are read: a response is noted, and a relapse off cyclosporine restarts it",
            every="cyclosporine_relapse_visit_interval_days",
            first="cyclosporine_relapse_visit_interval_days",
        ),
    )
    parameters = (
        "cyclosporine_dose_mg_per_kg_day",
        "cyclosporine_start_day",
        "cyclosporine_full_dose_days",
        "cyclosporine_taper_days",
        "cyclosporine_second_course_start_day",
        "cyclosporine_second_course_full_dose_days",
        "cyclosporine_restart_on_relapse",
        "cyclosporine_target_trough_ng_per_ml",
        "cyclosporine_trough_low",
        "cyclosporine_trough_high",
        "cyclosporine_visit_every_days",
        "cyclosporine_clearance_l_per_h",
        "cyclosporine_volume_l_per_kg",
        "cyclosporine_absorption_rate_per_h",
        "cyclosporine_dosing_interval_h",
        "cyclosporine_inhibition_max",
        "cyclosporine_ic50_ng_per_ml",
        "patient_weight_kg",
    )
    publishes = ("cyclosporine_t_cell_block",)

    def derived(self, p: Namespace) -> dict:

        size = (p.patient_weight_kg / REFERENCE_WEIGHT_KG) ** ALLOMETRIC_CLEARANCE_EXPONENT
        clearance = p.cyclosporine_clearance_l_per_h * size  # L/h
        k = clearance / (p.cyclosporine_volume_l_per_kg * p.patient_weight_kg)  # 1/h
        ka = p.cyclosporine_absorption_rate_per_h
        tau = p.cyclosporine_dosing_interval_h
        return {
            # a patient never given cyclosporine has no titration visits
            "cyclosporine_visit_interval_days": visits_if_given(
                p.cyclosporine_visit_every_days, p.cyclosporine_dose_mg_per_kg_day
            ),
            # the relapse watch only where the rule is on
            "cyclosporine_relapse_visit_interval_days": visits_if_given(
                p.cyclosporine_visit_every_days,
                p.cyclosporine_dose_mg_per_kg_day * p.cyclosporine_restart_on_relapse,
            ),
            "cyclosporine_elimination_rate": HOURS_PER_DAY * k,  # 1/day
            "cyclosporine_trough_ratio": k
            * tau
            * ka
            / (ka - k)
            * (exp(-k * tau) / (1 - exp(-k * tau)) - exp(-ka * tau) / (1 - exp(-ka * tau))),
        }

    def signals(self, c: Context) -> dict:
        s, p = c.s, c.p
        return {
            "cyclosporine_t_cell_block": emax(
                s.cyclosporine_concentration,
                p.cyclosporine_inhibition_max,
                p.cyclosporine_ic50_ng_per_ml,
            )
        }

    def rates(self, c: Context) -> dict:
        s, p = c.s, c.p
        return {
            "cyclosporine_concentration": _dosing(c)
            - p.cyclosporine_elimination_rate * s.cyclosporine_concentration,
        }

    def steady_state(self, p: Namespace) -> dict:
        return {
            "cyclosporine_concentration": 0,
            "cyclosporine_titration_factor": 1,
            "cyclosporine_response_seen": 0,
            "cyclosporine_restarted": 0,
        }

    def readout_values(self, c: Context) -> dict:
        return {
            "cyclosporine_trough": c.s.cyclosporine_concentration * c.p.cyclosporine_trough_ratio
        }

    def visit_actions(self, c: Context) -> dict:
        import sympy

        s, p = c.s, c.p
        trough = s.cyclosporine_concentration * p.cyclosporine_trough_ratio
        target = p.cyclosporine_target_trough_ng_per_ml
        dosing = _dosing(c)
        # the trough scales with the dose: move it to the target, by a
        # bounded step (a trough of ~0 just after the start doubles it)
        step = sympy.Min(
            LARGEST_STEP,
            sympy.Max(1 / LARGEST_STEP, target / sympy.Max(trough, target / LARGEST_STEP)),
        )
        margin = own_severe_count_margin(c)
        seen, restarted = s.cyclosporine_response_seen, s.cyclosporine_restarted
        responding = margin >= 0
        # a relapse (a response seen, the counts severe again) while none is given
        relapse_off_drug = (seen > 0) & (margin < 0) & (dosing <= 0) & (restarted <= 0)
        return {
            RELAPSE_CHECK: EventAction(
                jumps={
                    "cyclosporine_response_seen": 1,
                    "cyclosporine_restarted": sympy.Piecewise(
                        (1, relapse_off_drug), (restarted, True)
                    ),
                },
                when=(p.cyclosporine_restart_on_relapse > 0)
                & ((responding & (seen <= 0) & (dosing > 0)) | relapse_off_drug),
            ),
            TITRATION: EventAction(
                jumps={"cyclosporine_titration_factor": s.cyclosporine_titration_factor * step},
                # only once the average has settled (within 10% of its steady
                # state), since the trough read is a steady-state trough
                when=(p.cyclosporine_dose_mg_per_kg_day > 0)
                & (
                    s.cyclosporine_concentration * p.cyclosporine_elimination_rate
                    >= SETTLED_FRACTION * dosing
                )
                & (_prescribed(c) > FULL_DOSE_FRACTION * p.cyclosporine_dose_mg_per_kg_day)
                & (target > 0)
                & ((trough < p.cyclosporine_trough_low) | (trough > p.cyclosporine_trough_high)),
            ),
        }

    def schedule(self, p: Any) -> list[InputChange]:
        # the dose itself is the input, so a patient never given it has no
        # segments for it (a change to the value in force makes none)
        dose = p["cyclosporine_dose_mg_per_kg_day"]
        taper = p["cyclosporine_taper_days"]
        second_days = p["cyclosporine_second_course_full_dose_days"]
        return [
            *_course(
                "cyclosporine_dose_given",
                dose,
                p["cyclosporine_start_day"],
                p["cyclosporine_full_dose_days"],
                taper,
            ),
            *_course(
                "cyclosporine_second_course_dose_given",
                select(second_days > 0, dose, 0.0),
                p["cyclosporine_second_course_start_day"],
                second_days,
                taper,
            ),
        ]

    def problems(self, values: Any) -> list[str]:
        names = {
            "start": "cyclosporine_start_day",
            "full": "cyclosporine_full_dose_days",
            "taper": "cyclosporine_taper_days",
            "second_start": "cyclosporine_second_course_start_day",
            "second_days": "cyclosporine_second_course_full_dose_days",
        }
        return first_violation(
            {key: values[name] for key, name in names.items()},
            lambda v: (
                (v["second_days"] > 0) & (v["second_start"] < v["start"] + v["full"] + v["taper"])
            ),
            lambda v, k: (
                "cyclosporine.second_course_start_day:"
                f" {v['second_start'][k]:g} (patient {k}); the second course must start"
                f" after the first has ended (day {v['start'][k] + v['full'][k] + v['taper'][k]:g})"
            ),
        )


def _course(name: str, dose: Any, start: Any, full_days: Any, taper: Any) -> list[InputChange]:
    """The input changes of one course: ``dose`` from ``start`` for
    ``full_days``, then tapered to zero in :data:`TAPER_STEPS` steps over
    ``taper`` days."""
    changes = [InputChange(name, start, dose, from_enrolment=True)]
    for k in range(1, TAPER_STEPS + 1):
        day = start + full_days + taper * (k - 1) / (TAPER_STEPS - 1)
        changes.append(InputChange(name, day, dose * (1.0 - k / TAPER_STEPS), from_enrolment=True))
    return changes


def _prescribed(c: Context) -> Any:
    """The daily dose prescribed before titration (mg/kg/day): the first
    course's, and the second's where it is given."""
    import sympy

    gate = c.signal("cyclosporine_second_course_gate", 1)
    scheduled = c.u.cyclosporine_dose_given + gate * c.u.cyclosporine_second_course_dose_given
    # restarted for a relapse: at least the starting dose from then on
    return sympy.Max(scheduled, c.s.cyclosporine_restarted * c.p.cyclosporine_dose_mg_per_kg_day)


def _dosing(c: Context) -> Any:
    """Input rate of the average blood level (ng/mL/day): mg/kg/day over L/kg
    is mg/L/day, 1000 ng/mL/day."""
    return (
        1000 * _prescribed(c) * c.s.cyclosporine_titration_factor / c.p.cyclosporine_volume_l_per_kg
    )
