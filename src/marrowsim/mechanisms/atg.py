"""Antithymocyte globulin (ATG): horse (``hatg``, ATGAM) and rabbit (``ratg``,
Thymoglobulin).

Each product is an intravenous course of ``<product>_dose_mg_per_kg_day`` on
``<product>_days`` consecutive days from ``<product>_start_day`` (counted from
day 0 of the outputs: the enrolment in a scenario that enrols at diagnosis),
given as a constant infusion over each day (input ``<product>_infusion``,
mg/kg/day). Its lymphocyte-binding (active) globulin is a one-compartment
concentration ``<product>_concentration`` (ug/mL):

    d C / dt = infusion / V - ln 2 / t_half * C

with ``V`` the apparent volume of the active globulin per kg (L/kg). T cells
bound by it are cleared (complement lysis, phagocytosis) at a saturable rate

    kill = kill_rate_max * C / (C + ec50)

applied to the autoreactive effectors, to the regulatory T cells times
``<product>_regulatory_selectivity`` and to the other blood lymphocytes times
``<product>_lymphocyte_selectivity``. The two products share this structure
and differ only in their parameters (PKPD.md; Scheinberg et al., NEJM
2011;365:430, Figure 3): the same initial fall of the lymphocyte count, a
longer-lasting lymphopenia after rabbit ATG (its active half-life and
potency), and fewer regulatory T cells after rabbit ATG (its selectivity).
Which product gives more responses follows from those parameters through the
immune attack; nothing here names an outcome.

A course that starts after the response assessment of a scenario with the
salvage rule is a second course: it is infused only in the non-responders
switched to it (signal ``<product>_course_gate``, ``salvage`` mechanism).

Not modelled: target-mediated clearance of rabbit ATG rising with the
lymphocyte count (Admiraal et al., Clin Pharmacokinet 2015;54:435), and the
anti-horse antibodies that speed up the clearance of horse globulin from
days 20-35.
"""

from __future__ import annotations

import math
from typing import Any

from marrowsim.mechanisms.base import (
    Context,
    Input,
    InputChange,
    Mechanism,
    Namespace,
    State,
    emax,
)

PRODUCTS = ("hatg", "ratg")  # horse, rabbit
LN2 = math.log(2)
_PER_PRODUCT = (
    "dose_mg_per_kg_day",
    "start_day",
    "days",
    "volume_l_per_kg",
    "half_life_days",
    "kill_rate_max",
    "ec50_ug_per_ml",
    "regulatory_selectivity",
    "lymphocyte_selectivity",
)


class Antithymocyte(Mechanism):
    name = "atg"
    states = tuple(
        State(f"{product}_concentration", "ug/mL", f"active {label} ATG in plasma", scale=1.0)
        for product, label in zip(PRODUCTS, ("horse", "rabbit"), strict=True)
    )
    inputs = tuple(
        Input(f"{product}_infusion", "mg/kg/day", f"{label} ATG infused (0 outside the course)")
        for product, label in zip(PRODUCTS, ("horse", "rabbit"), strict=True)
    )
    parameters = tuple(f"{product}_{name}" for product in PRODUCTS for name in _PER_PRODUCT)
    publishes = (
        "atg_effector_kill_rate",
        "atg_regulatory_kill_rate",
        "atg_lymphocyte_kill_rate",
    )

    def signals(self, c: Context) -> dict:
        s, p = c.s, c.p
        effector = regulatory = lymphocyte = 0
        for product in PRODUCTS:
            concentration = getattr(s, f"{product}_concentration")
            kill = emax(
                concentration,
                getattr(p, f"{product}_kill_rate_max"),
                getattr(p, f"{product}_ec50_ug_per_ml"),
            )
            effector += kill
            regulatory += kill * getattr(p, f"{product}_regulatory_selectivity")
            lymphocyte += kill * getattr(p, f"{product}_lymphocyte_selectivity")
        return {
            "atg_effector_kill_rate": effector,
            "atg_regulatory_kill_rate": regulatory,
            "atg_lymphocyte_kill_rate": lymphocyte,
        }

    def rates(self, c: Context) -> dict:
        s, p, u = c.s, c.p, c.u
        return {
            # the gate is 0 for a second course the patient was not switched to
            f"{product}_concentration": c.signal(f"{product}_course_gate", 1)
            * getattr(u, f"{product}_infusion")
            / getattr(p, f"{product}_volume_l_per_kg")
            - LN2 / getattr(p, f"{product}_half_life_days") * getattr(s, f"{product}_concentration")
            for product in PRODUCTS
        }

    def steady_state(self, p: Namespace) -> dict:
        return {f"{product}_concentration": 0 for product in PRODUCTS}

    def schedule(self, p: Any) -> list[InputChange]:
        changes = []
        for product in PRODUCTS:
            start = p[f"{product}_start_day"]
            dose = p[f"{product}_dose_mg_per_kg_day"]
            changes += [
                InputChange(f"{product}_infusion", start, dose, from_enrolment=True),
                InputChange(
                    f"{product}_infusion", start + p[f"{product}_days"], 0.0, from_enrolment=True
                ),
            ]
        return changes
