"""Transfusion support: red-cell and platelet transfusions given on a trigger.

From ``transfusion.start_day`` (counted from day 0 of the outputs: the
diagnosis in a scenario that enrols at diagnosis), a red-cell transfusion of
``transfusion.red_cell_units`` units is given when Hb falls to
``transfusion.red_cell_trigger_hb``, and a platelet transfusion when the count
falls to ``transfusion.platelet_trigger`` (prophylactic, 10 x 10^9/L: Rebulla
et al., NEJM 1997;337:1870; Slichter et al. (PLADO), NEJM 2010;362:600). A
trigger of 0 gives none. The events are located crossings, so a transfusion is
given the moment a count reaches its trigger. A bleeding episode (the
``bleeding`` mechanism's ``bleeding_episode_margin`` crossing zero) is answered
with ``transfusion.platelet_therapeutic_units`` when the count is below
``transfusion.platelet_therapeutic_below`` (50 in active bleeding: Estcourt et
al., Br J Haematol 2017;176:365), while transfusion support is given.

Donor cells are states of their own, counted in Hb and in the platelet count
(and so in the EPO and TPO feedback): a red-cell unit raises Hb by about
1 g/dL in an adult not bleeding (Wiesen et al., Ann Intern Med 1994;121:278:
20 g/L per 2 units); a platelet unit adds dose x recovery / blood volume
(60% recovery in marrow hypoplasia, Hanson & Slichter, Blood 1985;66:1105). A
unit holds cells of every age, so its cells are lost first order with a mean
survival of about half the lifespan of transfused cells.
"""

from __future__ import annotations

from typing import Any

from marrowsim.mechanisms.base import (
    Context,
    Event,
    EventAction,
    Input,
    InputChange,
    Mechanism,
    Namespace,
    State,
)
from marrowsim.mechanisms.erythroid import HB_G_PER_DL_PER_CELLS_PG

RED_CELLS = "red_cell_transfusion"
PLATELETS = "platelet_transfusion"
THERAPEUTIC = "therapeutic_platelet_transfusion"


class Transfusion(Mechanism):
    name = "transfusion"
    states = (
        State("transfused_red_cells", "10^9/L", "donor red cells in blood", scale=1000.0),
        State("transfused_platelets", "10^9/L", "donor platelets in blood", scale=10.0),
    )
    inputs = (Input("transfusion_on", "switch", "1 while transfusion support is given"),)
    parameters = (
        "transfusion_start_day",
        "transfusion_red_cell_trigger_hb",
        "transfusion_red_cell_units",
        "transfusion_red_cell_unit_hb_gain",
        "transfusion_red_cell_survival_days",
        "transfusion_platelet_trigger",
        "transfusion_platelet_units",
        "transfusion_platelet_unit_dose",
        "transfusion_platelet_recovery",
        "transfusion_platelet_survival_days",
        "transfusion_platelet_therapeutic_below",
        "transfusion_platelet_therapeutic_units",
        "mean_corpuscular_hemoglobin",
        "blood_volume_ml",
    )
    publishes = ("transfused_red_cells", "transfused_platelets")
    events = (
        Event(RED_CELLS, "Hb falls to the red-cell transfusion trigger", -1),
        Event(PLATELETS, "platelets fall to the platelet transfusion trigger", -1),
        Event(THERAPEUTIC, "a bleeding episode with platelets below the therapeutic level", +1),
    )

    def derived(self, p: Namespace) -> dict:
        return {
            # 10^9/L of donor red cells in a unit: its Hb gain over the Hb of one cell
            "transfusion_red_cells_per_unit": p.transfusion_red_cell_unit_hb_gain
            / (p.mean_corpuscular_hemoglobin * HB_G_PER_DL_PER_CELLS_PG),
            # 10^9/L of donor platelets from a unit: 10^11 platelets = 100 x 10^9
            "transfusion_platelets_per_unit": 100
            * p.transfusion_platelet_unit_dose
            * p.transfusion_platelet_recovery
            / (p.blood_volume_ml / 1000),
        }

    def signals(self, c: Context) -> dict:
        return {
            "transfused_red_cells": c.s.transfused_red_cells,
            "transfused_platelets": c.s.transfused_platelets,
        }

    def rates(self, c: Context) -> dict:
        s, p = c.s, c.p
        bled = c.signal("blood_loss_rate", 0)
        return {
            "transfused_red_cells": -(1 / p.transfusion_red_cell_survival_days + bled)
            * s.transfused_red_cells,
            "transfused_platelets": -(1 / p.transfusion_platelet_survival_days + bled)
            * s.transfused_platelets,
        }

    def steady_state(self, p: Namespace) -> dict:
        return {"transfused_red_cells": 0, "transfused_platelets": 0}

    def event_triggers(self, c: Context) -> dict:
        # with the support off (or a trigger of 0) the trigger is the count
        # itself, which never falls to zero
        on = c.u.transfusion_on
        return {
            RED_CELLS: c.sig["hb"] - on * c.p.transfusion_red_cell_trigger_hb,
            PLATELETS: c.sig["platelets"] - on * c.p.transfusion_platelet_trigger,
            # no bleeding mechanism: never crosses
            THERAPEUTIC: c.signal("bleeding_episode_margin", -1),
        }

    def event_actions(self, c: Context) -> dict:
        s, p = c.s, c.p
        red_cells = p.transfusion_red_cell_units * p.transfusion_red_cells_per_unit
        platelets = p.transfusion_platelet_units * p.transfusion_platelets_per_unit
        return {
            RED_CELLS: EventAction(
                jumps={"transfused_red_cells": s.transfused_red_cells + red_cells}
            ),
            PLATELETS: EventAction(
                jumps={"transfused_platelets": s.transfused_platelets + platelets}
            ),
            THERAPEUTIC: EventAction(
                jumps={
                    "transfused_platelets": s.transfused_platelets
                    + p.transfusion_platelet_therapeutic_units * p.transfusion_platelets_per_unit
                },
                when=(c.u.transfusion_on > 0.5)
                & (c.sig["platelets"] < p.transfusion_platelet_therapeutic_below),
            ),
        }

    def schedule(self, p: Any) -> list[InputChange]:
        return [InputChange("transfusion_on", p["transfusion_start_day"], 1.0, from_enrolment=True)]
