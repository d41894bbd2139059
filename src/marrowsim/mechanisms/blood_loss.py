"""Blood loss: a volume of whole blood lost over a time (a donation, a bleed).

The loss runs at a constant rate from ``blood_loss_start_day`` for
``blood_loss_duration_days``. Plasma volume is restored while cells are not,
so cell concentrations wash out at a first-order rate (``blood_loss_rate``,
1/day, consumed by the lineages) chosen so that the cells lost are exactly the
fraction ``volume / blood_volume`` of each blood compartment, as when whole
blood is drawn (a 500 mL donation from 5 L removes 10% of the red cells),
whatever the duration. The volume must be below the blood volume. Blood
volume ~70 mL/kg (MODELS.md 10.1): 5 L in a 70 kg adult.
"""

from __future__ import annotations

from typing import Any

from marrowsim.mechanisms.base import (
    Context,
    Input,
    InputChange,
    Mechanism,
    Namespace,
    first_violation,
    log,
)


class BloodLoss(Mechanism):
    name = "blood_loss"
    inputs = (Input("blood_loss_on", "switch", "1 while blood is being lost, else 0"),)
    parameters = (
        "blood_volume_ml",
        "blood_loss_volume_ml",
        "blood_loss_start_day",
        "blood_loss_duration_days",
    )
    publishes = ("blood_loss_rate",)

    def derived(self, p: Namespace) -> dict:
        # exp(-rate * duration) = 1 - volume / blood volume
        return {
            "blood_loss_washout_rate": -log(1 - p.blood_loss_volume_ml / p.blood_volume_ml)
            / p.blood_loss_duration_days
        }

    def signals(self, c: Context) -> dict:
        return {"blood_loss_rate": c.u.blood_loss_on * c.p.blood_loss_washout_rate}

    def rates(self, c: Context) -> dict:
        return {}

    def steady_state(self, p: Namespace) -> dict:
        return {}

    def problems(self, values: Any) -> list[str]:
        return first_violation(
            values,
            lambda v: v["blood_loss_volume_ml"] >= v["blood_volume_ml"],
            lambda v, k: (
                f"blood_loss.volume_ml: {v['blood_loss_volume_ml'][k]:g} mL must be below"
                f" the blood volume (blood_volume_ml = {v['blood_volume_ml'][k]:g} mL)"
            ),
        )

    def schedule(self, p: Any) -> list[InputChange]:
        start = p["blood_loss_start_day"]
        return [
            InputChange("blood_loss_on", start, 1.0),
            InputChange("blood_loss_on", start + p["blood_loss_duration_days"], 0.0),
        ]
