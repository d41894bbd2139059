"""Erythropoiesis: progenitors, reticulocytes, and red cells with a fixed life.

Committed erythroid progenitors (BFU-E to erythroblast) pass a transit chain
whose input is amplified by EPO; enucleated reticulocytes spend a while in the
marrow, then about a day in blood, where they are counted (ARC). Red cells then
age through a chain of ``rbc`` compartments whose total mean transit is the
red-cell lifespan, so when production stops Hb falls nearly linearly to zero
over ~120 days instead of exponentially (Colijn & Mackey 2005; DESIGN).

Iron supply sets a ceiling on erythroid output: with iron from stores the
marrow reaches only 2-3 times its basal production (Hillman & Henderson,
J Clin Invest 1969), whatever the EPO drive. A blood loss (signal
``blood_loss_rate``, the fraction of blood volume lost per day) removes
reticulocytes and red cells of every age alike. Ionising radiation
(``radiation_progenitor_kill_rate``) and marrow-toxic drugs
(``chloramphenicol_erythroid_loss_rate``, ``drug_erythroid_loss_rate``) add a
first-order loss to the progenitor chain.

All compartments are in 10^9 cells per litre of blood volume. The production
that puts Hb on its set point is derived, so the healthy patient starts at
equilibrium whatever its parameters.
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
    smooth_ceiling,
)

# transit-chain lengths are structural: 3 compartments per maturation phase as
# in Friberg et al., J Clin Oncol 2002 (assumed for each lineage phase here)
PROGENITOR_STAGES = 3
RBC_STAGES = 16  # 16 compartments: lifespan CV 25%, near-linear Hb decline
# marrow-toxic drugs (mechanisms/chloramphenicol.py): first-order losses of
# erythroid progenitors while taken, 1/day
DRUG_LOSS_SIGNALS = ("chloramphenicol_erythroid_loss_rate", "drug_erythroid_loss_rate")
# unit conversion: (10^9 cells/L) x (pg/cell) = 10^-3 g/L = 10^-4 g/dL
HB_G_PER_DL_PER_CELLS_PG = 1e-4


def _rbc_rate(p: Namespace):
    return RBC_STAGES / (p.rbc_lifespan_days - p.blood_reticulocyte_days)


def _progenitor_rate(p: Namespace):
    return PROGENITOR_STAGES / p.erythroid_progenitor_transit_days


class Erythroid(Mechanism):
    name = "erythroid"
    states = (
        State(
            "erythroid_progenitor",
            "10^9/L",
            "committed erythroid progenitors and erythroblasts",
            PROGENITOR_STAGES,
        ),
        State("marrow_reticulocyte", "10^9/L", "reticulocytes still in the marrow"),
        State("reticulocyte", "10^9/L", "reticulocytes in blood"),
        State("rbc", "10^9/L", "mature red cells by age class", RBC_STAGES),
    )
    parameters = (
        "erythroid_progenitor_transit_days",
        "marrow_reticulocyte_days",
        "blood_reticulocyte_days",
        "rbc_lifespan_days",
        "rbc_random_loss_rate",
        "mean_corpuscular_hemoglobin",
        "hb_set_point",
        "erythroid_iron_max_fold",
    )
    readouts = (
        Readout("hb", "g/dL", "blood hemoglobin"),
        Readout("retic", "10^9/L", "absolute reticulocyte count"),
    )
    publishes = ("hb", "erythroid_marrow_relative")

    def derived(self, p: Namespace) -> dict:
        rbc_per_production = sum(
            chain_steady_state(1, _rbc_rate(p), RBC_STAGES, p.rbc_random_loss_rate)
        )
        red_cells = p.hb_set_point / (
            HB_G_PER_DL_PER_CELLS_PG * p.mean_corpuscular_hemoglobin
        )  # 10^9/L
        production = red_cells / (p.blood_reticulocyte_days + rbc_per_production)
        return {
            "erythroid_production_healthy": production,
            "erythroid_progenitor_healthy_total": production * p.erythroid_progenitor_transit_days,
        }

    def signals(self, c: Context) -> dict:
        s, p = c.s, c.p
        # donor red cells (transfusion) count in Hb and so in the EPO feedback
        red_cells = s.reticulocyte + sum(s.rbc) + c.signal("transfused_red_cells", 0)
        return {
            "hb": red_cells * p.mean_corpuscular_hemoglobin * HB_G_PER_DL_PER_CELLS_PG,
            "erythroid_marrow_relative": sum(s.erythroid_progenitor)
            / p.erythroid_progenitor_healthy_total,
        }

    def rates(self, c: Context) -> dict:
        s, p = c.s, c.p
        demand = (
            p.erythroid_production_healthy
            * c.signal("progenitor_output_relative", 1)
            * c.signal("epo_erythroid_gain", 1)
        )
        inflow = smooth_ceiling(demand, p.erythroid_production_healthy, p.erythroid_iron_max_fold)
        bled = c.signal("blood_loss_rate", 0)
        k_progenitor = _progenitor_rate(p)
        rates = by_name(
            s.erythroid_progenitor,
            chain_rates(
                inflow,
                k_progenitor,
                s.erythroid_progenitor,
                loss=c.signal("radiation_progenitor_kill_rate", 0)
                + sum(c.signal(name, 0) for name in DRUG_LOSS_SIGNALS)
                + c.signal("transplant_progenitor_kill_rate", 0),
            ),
        )
        into_marrow_retic = k_progenitor * s.erythroid_progenitor[-1]
        rates["marrow_reticulocyte"] = (
            into_marrow_retic - s.marrow_reticulocyte / p.marrow_reticulocyte_days
        )
        rates["reticulocyte"] = (
            s.marrow_reticulocyte / p.marrow_reticulocyte_days
            - s.reticulocyte / p.blood_reticulocyte_days
            - bled * s.reticulocyte
        )
        rbc_rates = chain_rates(
            s.reticulocyte / p.blood_reticulocyte_days,
            _rbc_rate(p),
            s.rbc,
            p.rbc_random_loss_rate + bled,
        )
        rates.update(by_name(s.rbc, rbc_rates))
        return rates

    def steady_state(self, p: Namespace) -> dict:
        production = p.erythroid_production_healthy
        progenitors = chain_steady_state(production, _progenitor_rate(p), PROGENITOR_STAGES)
        rbc = chain_steady_state(production, _rbc_rate(p), RBC_STAGES, p.rbc_random_loss_rate)
        values = {f"erythroid_progenitor_{i + 1}": v for i, v in enumerate(progenitors)}
        values["marrow_reticulocyte"] = production * p.marrow_reticulocyte_days
        values["reticulocyte"] = production * p.blood_reticulocyte_days
        values.update({f"rbc_{i + 1}": v for i, v in enumerate(rbc)})
        return values

    def readout_values(self, c: Context) -> dict:
        return {"hb": c.sig["hb"], "retic": c.s.reticulocyte}
