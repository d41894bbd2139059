"""Thrombopoiesis: megakaryocyte progenitors, megakaryocytes, platelets.

Megakaryocyte progenitors pass a transit chain whose input TPO amplifies;
megakaryocytes mature for about a week (Colijn & Mackey 2005, tau_PM 7 d) and
shed platelets, which age through a short chain whose mean transit is the
platelet lifespan (9.5 d, Colijn & Mackey 2005). The platelet count is the
circulating pool. Units: 10^9 cells (platelets) per litre of blood volume;
megakaryocyte compartments count platelet-equivalents.
"""

from __future__ import annotations

from marrowsim.mechanisms.base import (
    Context,
    Mechanism,
    Namespace,
    Readout,
    State,
    by_name,
    chain_rates,
    chain_steady_state,
)

# transit-chain lengths are structural (assumed; Friberg 2002 uses 3 per phase);
# 3 platelet age classes make survival closer to the fixed life than an exponential
PROGENITOR_STAGES = 3
MEGAKARYOCYTE_STAGES = 2
PLATELET_STAGES = 3


class Megakaryocytic(Mechanism):
    name = "megakaryocytic"
    states = (
        State(
            "megakaryocyte_progenitor",
            "10^9/L",
            "megakaryocyte progenitors (platelet-equivalents)",
            PROGENITOR_STAGES,
        ),
        State(
            "megakaryocyte",
            "10^9/L",
            "maturing megakaryocytes (platelet-equivalents)",
            MEGAKARYOCYTE_STAGES,
        ),
        State("platelet", "10^9/L", "circulating platelets by age class", PLATELET_STAGES),
    )
    parameters = (
        "megakaryocyte_progenitor_transit_days",
        "megakaryocyte_maturation_days",
        "platelet_lifespan_days",
        "platelet_set_point",
    )
    readouts = (Readout("platelets", "10^9/L", "platelet count"),)
    publishes = ("platelets", "megakaryocytic_marrow_relative")

    def derived(self, p: Namespace) -> dict:
        production = p.platelet_set_point / p.platelet_lifespan_days
        marrow = production * (
            p.megakaryocyte_progenitor_transit_days + p.megakaryocyte_maturation_days
        )
        return {"platelet_production_healthy": production, "megakaryocytic_marrow_healthy": marrow}

    def signals(self, c: Context) -> dict:
        s, p = c.s, c.p
        marrow = sum(s.megakaryocyte_progenitor) + sum(s.megakaryocyte)
        return {
            # donor platelets (transfusion) count, and clear TPO like the patient's
            "platelets": sum(s.platelet) + c.signal("transfused_platelets", 0),
            "megakaryocytic_marrow_relative": marrow / p.megakaryocytic_marrow_healthy,
        }

    def rates(self, c: Context) -> dict:
        s, p = c.s, c.p
        inflow = (
            p.platelet_production_healthy
            * c.signal("progenitor_output_relative", 1)
            * c.signal("tpo_megakaryocyte_gain", 1)
        )
        k_progenitor = PROGENITOR_STAGES / p.megakaryocyte_progenitor_transit_days
        k_maturation = MEGAKARYOCYTE_STAGES / p.megakaryocyte_maturation_days
        k_platelet = PLATELET_STAGES / p.platelet_lifespan_days
        rates = by_name(
            s.megakaryocyte_progenitor,
            chain_rates(
                inflow,
                k_progenitor,
                s.megakaryocyte_progenitor,
                loss=c.signal("radiation_progenitor_kill_rate", 0)
                + c.signal("transplant_progenitor_kill_rate", 0),
            ),
        )
        rates.update(
            by_name(
                s.megakaryocyte,
                chain_rates(
                    k_progenitor * s.megakaryocyte_progenitor[-1], k_maturation, s.megakaryocyte
                ),
            )
        )
        platelet_rates = chain_rates(
            k_maturation * s.megakaryocyte[-1],
            k_platelet,
            s.platelet,
            loss=c.signal("blood_loss_rate", 0),
        )
        rates.update(by_name(s.platelet, platelet_rates))
        return rates

    def steady_state(self, p: Namespace) -> dict:
        production = p.platelet_production_healthy
        chains = (
            (
                "megakaryocyte_progenitor",
                PROGENITOR_STAGES,
                p.megakaryocyte_progenitor_transit_days,
            ),
            ("megakaryocyte", MEGAKARYOCYTE_STAGES, p.megakaryocyte_maturation_days),
            ("platelet", PLATELET_STAGES, p.platelet_lifespan_days),
        )
        values: dict = {}
        for name, stages, days in chains:
            names = tuple(f"{name}_{i + 1}" for i in range(stages))
            values.update(by_name(names, chain_steady_state(production, stages / days, stages)))
        return values

    def readout_values(self, c: Context) -> dict:
        return {"platelets": c.sig["platelets"]}
