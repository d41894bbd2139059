"""Diagnosis: the moment a patient first meets the severe-AA criteria.

A scenario that enrols at diagnosis runs each drawn patient's disease with
``awaiting_diagnosis`` on until this event, which ends that run; the patient's
course from diagnosis (day 0 of the outputs) starts from the state there. The
trigger is a margin that is negative exactly where the criteria hold (marrow
cellularity < 25% and at least two of ANC < 0.5, platelets < 20, reticulocytes
< 60 x 10^9/L; ``clinic.definitions``): the larger of the cellularity margin
and the second smallest of the three count margins, each relative to its
threshold. It is continuous, so the crossing is located like any other.
Outside such a run the trigger is held at 1 and never fires.
"""

from __future__ import annotations

from marrowsim.clinic.definitions import (
    DIAGNOSIS_EVENT,
    SEVERE_ANC_BELOW,
    SEVERE_CELLULARITY_BELOW,
    SEVERE_PLATELETS_BELOW,
    SEVERE_RETIC_BELOW,
)
from marrowsim.mechanisms.base import Context, Event, EventAction, Input, Mechanism, Namespace

# the criteria are strict inequalities: the event fires a relative 1e-9 inside
# them, so the state at diagnosis (day 0) reads severe
INSIDE = 1e-9


def severe_count_margin(anc, platelets, retic):
    """Negative exactly where at least two of the three severe count criteria
    are met: the second smallest of the count margins, each relative to its
    threshold."""
    import sympy

    counts = (
        anc / SEVERE_ANC_BELOW - 1,
        platelets / SEVERE_PLATELETS_BELOW - 1,
        retic / SEVERE_RETIC_BELOW - 1,
    )
    return sum(counts) - sympy.Min(*counts) - sympy.Max(*counts)


def own_severe_count_margin(c):
    """:func:`severe_count_margin` of the patient's own counts (transfused
    platelets left out), as a response is read: negative where they still
    meet the severe count criteria."""
    own_platelets = c.sig["platelets"] - c.signal("transfused_platelets", 0)
    return severe_count_margin(c.sig["anc"], own_platelets, c.s.reticulocyte)


def severe_margin(cellularity, anc, platelets, retic):
    """Negative exactly where the severe-AA criteria are met."""
    import sympy

    return sympy.Max(
        cellularity / SEVERE_CELLULARITY_BELOW - 1, severe_count_margin(anc, platelets, retic)
    )


class Diagnosis(Mechanism):
    name = "diagnosis"
    inputs = (
        Input(
            "awaiting_diagnosis",
            "switch",
            "1 while a scenario that enrols at diagnosis waits for it",
        ),
    )
    events = (Event(DIAGNOSIS_EVENT, "severe AA criteria first met", -1),)

    def rates(self, c: Context) -> dict:
        return {}

    def steady_state(self, p: Namespace) -> dict:
        return {}

    def event_triggers(self, c: Context) -> dict:
        margin = severe_margin(
            c.sig["cellularity"], c.sig["anc"], c.sig["platelets"], c.s.reticulocyte
        )
        import sympy

        # a branch, not a product: the margin is computed only while waiting
        waiting = c.u.awaiting_diagnosis > 0.5
        return {DIAGNOSIS_EVENT: sympy.Piecewise((margin + INSIDE, waiting), (1, True))}

    def event_actions(self, c: Context) -> dict:
        return {DIAGNOSIS_EVENT: EventAction(terminal=True)}
