"""Shared shapes of the cause-specific death hazards (infection, bleeding,
anaemia, transplant), each of which lives in its own mechanism module, and
:class:`DeathCause`, the part every such mechanism shares.

A cause of death is a cumulative hazard ``H`` (a state, dimensionless) whose
rate is the instantaneous hazard of dying from that cause (per day). Each
patient draws a threshold ``E ~ Exp(1)`` before integration, from its own seed
stream (``ParameterTable.draw``); the patient dies of the cause when ``H``
reaches ``E``, and of the first cause to get there (a competing-risks course
with the given cause-specific hazards). The typical patient's threshold is the
median, ln 2, so it dies when half of a cohort like it would have.

Every hazard is exactly zero above its onset (a healthy patient never dies of
a marrow cause) and continuous there, so the integrator sees no jump. Each
hazard is scaled at a reference level below its onset; the table's bounds keep
the two apart.
"""

from __future__ import annotations

from marrowsim.clinic.definitions import death_event
from marrowsim.mechanisms.base import Context, Event, EventAction, Expr, Mechanism, Namespace


def _below(level: Expr, onset: Expr, rising: Expr) -> Expr:
    """``rising`` where ``level`` is below ``onset``, 0 above it."""
    import sympy

    return sympy.Piecewise((rising, level < onset), (0, True))


def power_hazard(level: Expr, reference: Expr, onset: Expr, exponent: Expr, floor: Expr) -> Expr:
    """Relative hazard rising as a count falls: ``(reference / (level + floor))
    ** exponent`` less its value at ``onset``, scaled to 1 at ``reference``
    (so the rate parameter is the hazard at the reference count), 0 at and
    above ``onset``. ``floor`` keeps it finite as the count vanishes (counts
    below it are not measured apart)."""
    at_onset = (reference / (onset + floor)) ** exponent
    at_reference = (reference / (reference + floor)) ** exponent
    rising = ((reference / (level + floor)) ** exponent - at_onset) / (at_reference - at_onset)
    return _below(level, onset, rising)


def odds_hazard(level: Expr, reference: Expr, onset: Expr, odds_per_unit: Expr) -> Expr:
    """Relative hazard multiplied by ``odds_per_unit`` for each unit ``level``
    falls below ``onset`` (less its value at the onset), scaled to 1 at
    ``reference``; 0 at and above ``onset``."""
    rising = (odds_per_unit ** (onset - level) - 1) / (odds_per_unit ** (onset - reference) - 1)
    return _below(level, onset, rising)


def death(cause: str) -> Event:
    return Event(
        death_event(cause),
        f"death from {cause}: the cumulative {cause} hazard reaches the drawn threshold",
        +1,
    )


class DeathCause(Mechanism):
    """A mechanism whose cumulative hazard state ``hazard_state`` (0 in
    health) kills the patient of ``cause`` when it reaches the drawn
    threshold parameter ``threshold_parameter``: the steady state, the
    trigger and the terminal action every cause of death shares."""

    cause: str
    hazard_state: str
    threshold_parameter: str

    def steady_state(self, p: Namespace) -> dict:
        return {self.hazard_state: 0}

    def event_triggers(self, c: Context) -> dict:
        hazard = getattr(c.s, self.hazard_state)
        return {death_event(self.cause): hazard - getattr(c.p, self.threshold_parameter)}

    def event_actions(self, c: Context) -> dict:
        return {death_event(self.cause): EventAction(terminal=True)}
