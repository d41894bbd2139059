"""Blood loss: a volume of whole blood lost over a time (a donation, a bleed).

The loss is a piecewise-constant rate (mL/day) from ``blood_loss_start_day``
for ``blood_loss_duration_days``; plasma volume is restored within hours, so
every blood cell concentration falls by the fraction of the blood volume lost
(``blood_loss_rate``, 1/day, consumed by the lineages). Blood volume ~70 mL/kg
(MODELS.md 10.1): 5 L in a 70 kg adult.
"""

from __future__ import annotations

from typing import Any

from marrowsim.mechanisms.base import Context, Input, InputChange, Mechanism, Namespace


class BloodLoss(Mechanism):
    name = "blood_loss"
    inputs = (Input("blood_loss_ml_per_day", "mL/day", "whole blood lost per day"),)
    parameters = (
        "blood_volume_ml",
        "blood_loss_volume_ml",
        "blood_loss_start_day",
        "blood_loss_duration_days",
    )
    publishes = ("blood_loss_rate",)

    def signals(self, c: Context) -> dict:
        return {"blood_loss_rate": c.u.blood_loss_ml_per_day / c.p.blood_volume_ml}

    def rates(self, c: Context) -> dict:
        return {}

    def steady_state(self, p: Namespace) -> dict:
        return {}

    def schedule(self, p: Any) -> list[InputChange]:
        start = p["blood_loss_start_day"]
        duration = p["blood_loss_duration_days"]
        return [
            InputChange("blood_loss_ml_per_day", start, p["blood_loss_volume_ml"] / duration),
            InputChange("blood_loss_ml_per_day", start + duration, 0.0),
        ]
