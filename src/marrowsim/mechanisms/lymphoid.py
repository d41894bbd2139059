"""Lymphocytes, as a readout of the lymphoid compartment.

Adult lymphocytes are long-lived and mostly maintained by peripheral
homeostatic proliferation, so only a fraction of their production depends on
marrow progenitor output; in aplastic anemia the lymphocyte count is therefore
relatively preserved. The autoreactive effector T cells of the immune
mechanism are added to the count. Lymphocytes are the most radiosensitive
cells (signal ``radiation_lymphocyte_kill_rate``); antithymocyte globulin
depletes them (``atg_lymphocyte_kill_rate``), and so does the conditioning of
a transplant (``transplant_lymphocyte_kill_rate``).
"""

from __future__ import annotations

from marrowsim.mechanisms.base import Context, Mechanism, Namespace, Readout, State


class Lymphoid(Mechanism):
    name = "lymphoid"
    states = (
        State("lymphocyte_pool", "10^9/L", "blood lymphocytes other than autoreactive effectors"),
    )
    parameters = (
        "lymphocyte_set_point",
        "lymphocyte_lifespan_days",
        "lymphocyte_marrow_dependent_fraction",
    )
    readouts = (Readout("lymphocytes", "10^9/L", "absolute lymphocyte count"),)
    publishes = ("lymphoid_relative", "lymphocyte_count")

    def signals(self, c: Context) -> dict:
        return {
            "lymphoid_relative": c.s.lymphocyte_pool / c.p.lymphocyte_set_point,
            "lymphocyte_count": c.s.lymphocyte_pool + c.signal("t_effector_count", 0),
        }

    def rates(self, c: Context) -> dict:
        p = c.p
        marrow_share = p.lymphocyte_marrow_dependent_fraction
        supply = (1 - marrow_share) + marrow_share * c.signal("progenitor_output_relative", 1)
        return {
            "lymphocyte_pool": (p.lymphocyte_set_point * supply - c.s.lymphocyte_pool)
            / p.lymphocyte_lifespan_days
            - c.signal("blood_loss_rate", 0) * c.s.lymphocyte_pool
            - (
                c.signal("radiation_lymphocyte_kill_rate", 0)
                + c.signal("atg_lymphocyte_kill_rate", 0)
                + c.signal("transplant_lymphocyte_kill_rate", 0)
            )
            * c.s.lymphocyte_pool
        }

    def steady_state(self, p: Namespace) -> dict:
        return {"lymphocyte_pool": p.lymphocyte_set_point}

    def readout_values(self, c: Context) -> dict:
        return {"lymphocytes": c.sig["lymphocyte_count"]}
