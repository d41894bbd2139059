"""Ionising radiation: an acute or protracted whole-body dose (Gy).

The dose ``radiation_dose_gy`` is delivered at a constant dose rate from
``radiation_start_day`` for ``radiation_duration_days`` (input
``radiation_on``; an acute exposure lasts minutes, a protracted one days or
more). Radiosensitive compartments are killed first order at (dose rate) / D0
while it lasts, so an exposure leaves exp(-dose / D0) of each whatever its
duration: single-hit survival without a shoulder (MODELS.md 7.2; the surveys
give no linear-quadratic values). Repair and regrowth during a protracted
exposure come from the lineages' own dynamics, not from a repair term.

Radiosensitivity by compartment class (published as kill rates, 1/day):

* ``radiation_lymphocyte_kill_rate``: lymphocytes, the most sensitive
  (D0 ~0.5-1 Gy), including the T cells of the immune mechanism;
* ``radiation_progenitor_kill_rate``: cycling progenitors, MPP and the
  committed progenitor chains of every lineage (D0 ~1 Gy, CFU-GM / CFU-S);
* ``radiation_hsc_kill_rate``: HSC, mostly quiescent and more resistant than
  cycling progenitors (no measured value).

Maturing, mature and blood cells are radioresistant (no kill; the Smirnova
lineage structure). The dose rate itself is published as
``radiation_dose_rate`` (Gy/day), which injures the niche stroma
(mechanisms/niche.py); the DNA damage it causes is in mechanisms/dna_damage.py.
Not modelled here: the gastrointestinal and neurovascular syndromes (above ~6-10 Gy a marrow-only
model no longer describes lethality).
"""

from __future__ import annotations

from typing import Any

from marrowsim.mechanisms.base import Context, Input, InputChange, Mechanism, Namespace


class Radiation(Mechanism):
    name = "radiation"
    inputs = (Input("radiation_on", "switch", "1 while the radiation dose is delivered, else 0"),)
    parameters = (
        "radiation_dose_gy",
        "radiation_start_day",
        "radiation_duration_days",
        "radiation_d0_lymphocyte_gy",
        "radiation_d0_progenitor_gy",
        "radiation_d0_hsc_gy",
    )
    publishes = (
        "radiation_dose_rate",
        "radiation_lymphocyte_kill_rate",
        "radiation_progenitor_kill_rate",
        "radiation_hsc_kill_rate",
    )

    def derived(self, p: Namespace) -> dict:
        return {"radiation_dose_rate": p.radiation_dose_gy / p.radiation_duration_days}  # Gy/day

    def signals(self, c: Context) -> dict:
        rate = c.u.radiation_on * c.p.radiation_dose_rate
        return {
            "radiation_dose_rate": rate,
            "radiation_lymphocyte_kill_rate": rate / c.p.radiation_d0_lymphocyte_gy,
            "radiation_progenitor_kill_rate": rate / c.p.radiation_d0_progenitor_gy,
            "radiation_hsc_kill_rate": rate / c.p.radiation_d0_hsc_gy,
        }

    def rates(self, c: Context) -> dict:
        return {}

    def steady_state(self, p: Namespace) -> dict:
        return {}

    def schedule(self, p: Any) -> list[InputChange]:
        start = p["radiation_start_day"]
        return [
            InputChange("radiation_on", start, 1.0),
            InputChange("radiation_on", start + p["radiation_duration_days"], 0.0),
        ]
