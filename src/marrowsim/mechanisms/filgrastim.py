"""Filgrastim: recombinant G-CSF, subcutaneous once daily.

Course (input ``filgrastim_dose_given``, ug/kg/day): ``filgrastim_dose_ug_per_kg_day``
from ``filgrastim_start_day`` (counted from day 0 of the outputs: the
diagnosis in a scenario that enrols at diagnosis) for ``filgrastim_days``
(5 ug/kg/day is the label's starting dose in neutropenia).

Pharmacokinetics. The state ``filgrastim_concentration`` (ng/mL, the same
unit as the endogenous ``granulocyte_csf`` state: 1 ng/mL = 1000 pg/mL,
MODELS.md section 10 item 8) is the daily-average serum level of a
one-compartment model with linear clearance plus clearance by neutrophil
G-CSF receptors that grows with the ANC (Wang et al., J Pharmacokinet
Pharmacodyn 2001;28:321; Craig et al., Bull Math Biol 2016):

    d G / dt = 1000 F dose / V - k (phi + (1 - phi) ANC / anc_set_point) G

with bioavailability ``F`` and volume ``V`` per kg (Vd 4755 mL at 70 kg, F
0.64; Craig 2016), ``k`` the elimination rate at the healthy ANC (half-life
3.5 h: filgrastim label) and ``phi`` its linear (renal) share, so a
neutropenic patient clears filgrastim more slowly and reaches higher levels.
Absorption (ka 8/day, half-time about 2 h) is faster than a day and is not
a state: the dose enters at its daily rate. Daily doses are not simulated
one by one: the state is the constant-rate solution, the average over a
dosing interval for linear kinetics (the neutrophil route makes that
approximate), and a once-daily level swings widely around it.

Pharmacodynamics. Filgrastim is G-CSF: the feedback mechanism adds it
(signal ``filgrastim_gcsf``, ng/mL) to the endogenous G-CSF where G-CSF
acts, i.e. in the gains on granulocyte production and reserve release, so
its effect is the model's G-CSF effect (saturating at
``gcsf_granulocyte_max_gain`` and ``gcsf_release_max_gain``). It acts
downstream of the stem cells, as the trials of G-CSF added to ATG and
cyclosporine found no change in response (Tichelli et al., Blood
2011;117:4434).
"""

from __future__ import annotations

import math
from typing import Any

from marrowsim.mechanisms.base import (
    HOURS_PER_DAY,
    Context,
    Input,
    InputChange,
    Mechanism,
    Namespace,
    State,
)

NG_PER_UG = 1000.0


class Filgrastim(Mechanism):
    name = "filgrastim"
    states = (
        State(
            "filgrastim_concentration",
            "ng/mL",
            "daily-average serum filgrastim (exogenous G-CSF)",
            scale=10.0,
        ),
    )
    inputs = (
        Input("filgrastim_dose_given", "ug/kg/day", "daily dose prescribed (0 off the course)"),
    )
    parameters = (
        "filgrastim_dose_ug_per_kg_day",
        "filgrastim_start_day",
        "filgrastim_days",
        "filgrastim_bioavailability",
        "filgrastim_volume_ml_per_kg",
        "filgrastim_half_life_h",
        "filgrastim_linear_clearance_fraction",
        "anc_set_point",
    )
    publishes = ("filgrastim_gcsf",)

    def derived(self, p: Namespace) -> dict:
        return {
            "filgrastim_elimination_rate": HOURS_PER_DAY * math.log(2) / p.filgrastim_half_life_h
        }

    def signals(self, c: Context) -> dict:
        return {"filgrastim_gcsf": c.s.filgrastim_concentration}

    def rates(self, c: Context) -> dict:
        s, p, u = c.s, c.p, c.u
        phi = p.filgrastim_linear_clearance_fraction
        neutrophils = c.signal("anc", p.anc_set_point) / p.anc_set_point
        return {
            # ug/kg/day over mL/kg, in ng: ng/mL/day
            "filgrastim_concentration": NG_PER_UG
            * p.filgrastim_bioavailability
            * u.filgrastim_dose_given
            / p.filgrastim_volume_ml_per_kg
            - p.filgrastim_elimination_rate
            * (phi + (1 - phi) * neutrophils)
            * s.filgrastim_concentration
        }

    def steady_state(self, p: Namespace) -> dict:
        return {"filgrastim_concentration": 0}

    def schedule(self, p: Any) -> list[InputChange]:
        # the dose itself is the input, so a patient never given it has no segments
        start = p["filgrastim_start_day"]
        return [
            InputChange(
                "filgrastim_dose_given",
                start,
                p["filgrastim_dose_ug_per_kg_day"],
                from_enrolment=True,
            ),
            InputChange(
                "filgrastim_dose_given", start + p["filgrastim_days"], 0.0, from_enrolment=True
            ),
        ]
