"""Granulopoiesis: mitotic and post-mitotic marrow stages, reserve, blood.

Myeloid progenitors divide while they pass a mitotic transit chain whose input
G-CSF amplifies; post-mitotic cells mature, wait in the marrow reserve, and are
released into blood faster under G-CSF (Craig et al., Bull Math Biol 2016
structure). Blood neutrophils leave at a fixed rate (half-life ~7 h, the
classical radiolabel definition; Colijn & Mackey 2005: 2.4/day). ANC is the
blood pool. Units: 10^9 cells per litre of blood volume.
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

# 3 transit compartments per phase, as in Friberg et al., J Clin Oncol 2002 (assumed)
MITOTIC_STAGES = 3
MATURATION_STAGES = 3


class Granulocytic(Mechanism):
    name = "granulocytic"
    states = (
        State(
            "granulocyte_progenitor",
            "10^9/L",
            "dividing myeloid precursors (myeloblast to myelocyte)",
            MITOTIC_STAGES,
        ),
        State(
            "granulocyte_maturing",
            "10^9/L",
            "post-mitotic maturing neutrophils (metamyelocyte, band)",
            MATURATION_STAGES,
        ),
        State("neutrophil_reserve", "10^9/L", "mature neutrophils stored in the marrow"),
        State("neutrophil", "10^9/L", "neutrophils in blood (ANC)"),
    )
    parameters = (
        "granulocyte_mitotic_transit_days",
        "granulocyte_maturation_days",
        "neutrophil_reserve_days",
        "neutrophil_removal_rate",
        "anc_set_point",
    )
    readouts = (Readout("anc", "10^9/L", "absolute neutrophil count"),)
    publishes = ("anc", "granulocytic_marrow_relative")

    def derived(self, p: Namespace) -> dict:
        production = p.anc_set_point * p.neutrophil_removal_rate
        marrow = production * (
            p.granulocyte_mitotic_transit_days
            + p.granulocyte_maturation_days
            + p.neutrophil_reserve_days
        )
        return {"granulocyte_production_healthy": production, "granulocytic_marrow_healthy": marrow}

    def signals(self, c: Context) -> dict:
        s, p = c.s, c.p
        marrow = sum(s.granulocyte_progenitor) + sum(s.granulocyte_maturing) + s.neutrophil_reserve
        return {
            "anc": s.neutrophil,
            "granulocytic_marrow_relative": marrow / p.granulocytic_marrow_healthy,
        }

    def rates(self, c: Context) -> dict:
        s, p = c.s, c.p
        inflow = (
            p.granulocyte_production_healthy
            * c.signal("progenitor_output_relative", 1)
            * c.signal("gcsf_granulocyte_gain", 1)
        )
        k_mitotic = MITOTIC_STAGES / p.granulocyte_mitotic_transit_days
        k_maturation = MATURATION_STAGES / p.granulocyte_maturation_days
        release = (
            s.neutrophil_reserve / p.neutrophil_reserve_days * c.signal("gcsf_release_gain", 1)
        )
        rates = by_name(
            s.granulocyte_progenitor,
            chain_rates(
                inflow,
                k_mitotic,
                s.granulocyte_progenitor,
                loss=c.signal("radiation_progenitor_kill_rate", 0)
                + c.signal("transplant_progenitor_kill_rate", 0),
            ),
        )
        rates.update(
            by_name(
                s.granulocyte_maturing,
                chain_rates(
                    k_mitotic * s.granulocyte_progenitor[-1], k_maturation, s.granulocyte_maturing
                ),
            )
        )
        rates["neutrophil_reserve"] = k_maturation * s.granulocyte_maturing[-1] - release
        rates["neutrophil"] = (
            release
            - p.neutrophil_removal_rate * s.neutrophil
            - c.signal("blood_loss_rate", 0) * s.neutrophil
        )
        return rates

    def steady_state(self, p: Namespace) -> dict:
        production = p.granulocyte_production_healthy
        values = by_name(
            tuple(f"granulocyte_progenitor_{i + 1}" for i in range(MITOTIC_STAGES)),
            chain_steady_state(
                production, MITOTIC_STAGES / p.granulocyte_mitotic_transit_days, MITOTIC_STAGES
            ),
        )
        values.update(
            by_name(
                tuple(f"granulocyte_maturing_{i + 1}" for i in range(MATURATION_STAGES)),
                chain_steady_state(
                    production, MATURATION_STAGES / p.granulocyte_maturation_days, MATURATION_STAGES
                ),
            )
        )
        values["neutrophil_reserve"] = production * p.neutrophil_reserve_days
        values["neutrophil"] = p.anc_set_point
        return values

    def readout_values(self, c: Context) -> dict:
        return {"anc": c.s.neutrophil}
