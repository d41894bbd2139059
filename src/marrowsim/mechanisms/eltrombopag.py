"""Eltrombopag: oral once-daily thrombopoietin-receptor (c-MPL) agonist,
with a platelet ceiling at clinic visits.

Course (input ``eltrombopag_dose_given``, mg/day): ``eltrombopag_dose_mg_per_day``
from ``eltrombopag_start_day`` (counted from day 0 of the outputs: the
diagnosis in a scenario that enrols at diagnosis) for ``eltrombopag_days``
(150 mg/day for 6 months in severe AA, 75 mg/day in East Asian patients and
at 6-11 years: eltrombopag label; Townsley et al., NEJM 2017;376:1540).

Pharmacokinetics. The states are the daily-average plasma concentrations of
the two-compartment model of Gibiansky et al., J Clin Pharmacol
2011;51:842 (apparent CL/F, Vc/F, Q/F, Vp/F; ug/mL = mg/L):

    d C / dt  = f dose / Vc - (CL + Q) / Vc * C + Q / Vc * Cp
    d Cp / dt = Q / Vp * (C - Cp)

with ``f`` the visits' dose factor. Every volume and clearance scales with
weight as (W / 70)^0.62 (Gibiansky: 26% lower to 41% higher over 43-122 kg,
which that power reproduces at both ends), and CL/F is 33% lower in East
Asian patients (``eltrombopag_east_asian`` = 1). Once-daily doses are not
simulated one by one: for this linear model the average over a dosing
interval is the constant-rate solution, and the swing around it is small
beside a terminal half-life of about 35 h. At steady state C = dose / CL
(9.4 ug/mL for 150 mg/day at 70 kg).

Pharmacodynamics. Eltrombopag activates c-MPL by binding its transmembrane
domain, so it adds a TPO-equivalent signal

    E = eltrombopag_max_tpo_equivalent * C / (C + ec50)

(in units of the healthy TPO signal; signal ``eltrombopag_tpo_equivalent``)
to the endogenous one *after* the IFN-gamma block, which acts by binding
TPO itself (Alvarado et al., Blood 2019;133:2043; commentary Blood
2019;133:2004): the feedback mechanism's effective TPO is
``TPO (1 - block) + tpo_baseline E``. It therefore drives megakaryopoiesis
and HSC cycling (Kovtonyuk et al., Blood 2016) wherever TPO does, and keeps
doing so under an attack that silences endogenous TPO. Eltrombopag is not
cleared by platelets, so its signal does not fall as they recover.

Clinical rule (``eltrombopag_visit``, every ``eltrombopag_visit_every_days``
while on the course): platelets above ``eltrombopag_hold_above_platelets``
hold the drug (dose factor 0); a held patient whose platelets are back below
``eltrombopag_resume_below_platelets`` resumes at the dose less
``eltrombopag_resume_reduction_mg`` (label: interrupt above 400 x 10^9/L for
at least a week, resume 25 mg lower once below 200). Not modelled: the
label's stepwise 25-mg reductions while platelets are 200-400, and the
hepatotoxicity and clonal-evolution rules.
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
    State,
    Visit,
    emax,
    visits_if_given,
)

VISIT = "eltrombopag_visit"
HELD = 1e-9  # a dose factor below this is a hold


class Eltrombopag(Mechanism):
    name = "eltrombopag"
    states = (
        State(
            "eltrombopag_concentration",
            "ug/mL",
            "daily-average plasma eltrombopag (central compartment)",
            scale=10.0,
        ),
        State(
            "eltrombopag_peripheral",
            "ug/mL",
            "eltrombopag in the peripheral compartment (concentration)",
            scale=10.0,
        ),
        State(
            "eltrombopag_dose_factor",
            "fold",
            "dose taken relative to the prescribed one (0 while held at a visit)",
            held=True,
        ),
    )
    inputs = (
        Input(
            "eltrombopag_dose_given",
            "mg/day",
            "daily dose prescribed (0 off the course)",
        ),
    )
    visits = (
        Visit(
            VISIT,
            "platelets are counted: the drug is held above the ceiling and resumed below"
            " the resume level",
            every="eltrombopag_visit_interval_days",
            first="eltrombopag_visit_interval_days",
        ),
    )
    parameters = (
        "eltrombopag_dose_mg_per_day",
        "eltrombopag_start_day",
        "eltrombopag_days",
        "eltrombopag_clearance_l_per_h",
        "eltrombopag_central_volume_l",
        "eltrombopag_distribution_clearance_l_per_h",
        "eltrombopag_peripheral_volume_l",
        "eltrombopag_weight_exponent",
        "eltrombopag_east_asian",
        "eltrombopag_east_asian_clearance_reduction",
        "eltrombopag_max_tpo_equivalent",
        "eltrombopag_ec50_ug_per_ml",
        "eltrombopag_visit_every_days",
        "eltrombopag_hold_above_platelets",
        "eltrombopag_resume_below_platelets",
        "eltrombopag_resume_reduction_mg",
        "patient_weight_kg",
    )
    publishes = ("eltrombopag_tpo_equivalent",)

    def derived(self, p: Namespace) -> dict:

        size = (p.patient_weight_kg / REFERENCE_WEIGHT_KG) ** p.eltrombopag_weight_exponent
        clearance = (
            HOURS_PER_DAY
            * p.eltrombopag_clearance_l_per_h
            * size
            * (1 - p.eltrombopag_east_asian_clearance_reduction * p.eltrombopag_east_asian)
        )  # L/day
        distribution = HOURS_PER_DAY * p.eltrombopag_distribution_clearance_l_per_h * size
        central = p.eltrombopag_central_volume_l * size
        peripheral = p.eltrombopag_peripheral_volume_l * size
        return {
            # a patient never given eltrombopag has no visits
            "eltrombopag_visit_interval_days": visits_if_given(
                p.eltrombopag_visit_every_days, p.eltrombopag_dose_mg_per_day
            ),
            "eltrombopag_clearance_l_per_day": clearance,
            "eltrombopag_central_volume": central,
            "eltrombopag_elimination_rate": clearance / central,  # 1/day
            "eltrombopag_central_to_peripheral_rate": distribution / central,  # 1/day
            "eltrombopag_peripheral_to_central_rate": distribution / peripheral,  # 1/day
        }

    def signals(self, c: Context) -> dict:
        s, p = c.s, c.p
        return {
            "eltrombopag_tpo_equivalent": emax(
                s.eltrombopag_concentration,
                p.eltrombopag_max_tpo_equivalent,
                p.eltrombopag_ec50_ug_per_ml,
            )
        }

    def rates(self, c: Context) -> dict:
        s, p, u = c.s, c.p, c.u
        central, peripheral = s.eltrombopag_concentration, s.eltrombopag_peripheral
        return {
            # mg/day over L is mg/L/day = ug/mL/day
            "eltrombopag_concentration": u.eltrombopag_dose_given
            * s.eltrombopag_dose_factor
            / p.eltrombopag_central_volume
            - (p.eltrombopag_elimination_rate + p.eltrombopag_central_to_peripheral_rate) * central
            + p.eltrombopag_central_to_peripheral_rate * peripheral,
            "eltrombopag_peripheral": p.eltrombopag_peripheral_to_central_rate
            * (central - peripheral),
        }

    def steady_state(self, p: Namespace) -> dict:
        return {
            "eltrombopag_concentration": 0,
            "eltrombopag_peripheral": 0,
            "eltrombopag_dose_factor": 1,
        }

    def visit_actions(self, c: Context) -> dict:
        import sympy

        s, p, u = c.s, c.p, c.u
        platelets = c.signal("platelets", 0)
        dose = p.eltrombopag_dose_mg_per_day
        on_course = (dose > 0) & (u.eltrombopag_dose_given > 0)
        held = s.eltrombopag_dose_factor < HELD  # exactly 0 once held
        resumed = sympy.Max(0, 1 - p.eltrombopag_resume_reduction_mg / sympy.Max(dose, 1e-9))
        hold = on_course & sympy.Not(held) & (platelets > p.eltrombopag_hold_above_platelets)
        resume = (
            on_course
            & held
            & (resumed > HELD)  # a reduction to nothing stops the drug for good
            & (platelets < p.eltrombopag_resume_below_platelets)
        )
        return {
            VISIT: EventAction(
                jumps={
                    "eltrombopag_dose_factor": sympy.Piecewise(
                        (0, hold), (resumed, resume), (s.eltrombopag_dose_factor, True)
                    )
                },
                when=hold | resume,
            )
        }

    def schedule(self, p: Any) -> list[InputChange]:
        # the dose itself is the input, so a patient never given it has no
        # segments for it (a change to the value in force makes none)
        start = p["eltrombopag_start_day"]
        return [
            InputChange(
                "eltrombopag_dose_given",
                start,
                p["eltrombopag_dose_mg_per_day"],
                from_enrolment=True,
            ),
            InputChange(
                "eltrombopag_dose_given", start + p["eltrombopag_days"], 0.0, from_enrolment=True
            ),
        ]
