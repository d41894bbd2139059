"""The mechanism interface: declarative biology that can be traced symbolically.

A mechanism lists its states (name, unit, meaning), the parameters it reads from
the parameter table, the piecewise-constant inputs it responds to, and writes its
rates *once*, as plain expressions over named states, parameters, derived
parameters, inputs and signals. Those expressions are traced with sympy; from the
trace the engine generates the compiled right-hand side and its analytic
Jacobian, and the SBML exporter writes the same equations. Nothing is written
twice.

Rules for writing a mechanism:

* name states, never index them (``c.s.hsc_cells``, ``c.s.rbc[3]``);
* use only arithmetic and the functions re-exported here (``exp``, ``log``,
  ``sqrt``) so expressions stay traceable and differentiable;
* state units in the declaration, parameter units live in the parameter table;
* every state needs a healthy steady-state expression, so a healthy patient
  starts (and stays) exactly at equilibrium.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

# sympy is imported when a mechanism is traced, not when it is imported: a
# warm run loads the traced model from the trace cache and never needs it


def exp(x: Any) -> Any:
    import sympy

    return sympy.exp(x)


def log(x: Any) -> Any:
    import sympy

    return sympy.log(x)


def sqrt(x: Any) -> Any:
    import sympy

    return sympy.sqrt(x)


Expr = Any  # a sympy expression (or a plain number); kept loose for readability


@dataclass(frozen=True)
class State:
    """A state variable, or a transit chain of ``length`` compartments.

    A chain ``State("rbc", length=16)`` creates states ``rbc_1 .. rbc_16``;
    mechanisms reach them as the tuple ``c.s.rbc``.
    """

    name: str
    unit: str
    meaning: str
    length: int = 1
    scale: float | None = None  # typical magnitude, for states whose healthy value is 0
    # amounts (cells, concentrations, fractions) are >= 0 and the engine holds
    # them there within the tolerance; a state that may go negative says so
    signed: bool = False
    # constant between events: only an event's jumps change it (its rate is 0)
    held: bool = False

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"state name {self.name!r} is not an identifier")
        if self.length < 1:
            raise ValueError(f"state {self.name!r}: length must be >= 1, got {self.length}")

    @property
    def names(self) -> tuple[str, ...]:
        if self.length == 1:
            return (self.name,)
        return tuple(f"{self.name}_{i}" for i in range(1, self.length + 1))


@dataclass(frozen=True)
class Input:
    """A piecewise-constant input (a switch, a dose rate) set by a schedule.

    Inputs change only at segment boundaries, so within a segment the model is
    autonomous and the integrator never steps across a discontinuity.
    """

    name: str
    unit: str
    meaning: str
    default: float = 0.0


@dataclass(frozen=True)
class Readout:
    """A clinical readout: an expression of states and parameters."""

    name: str
    unit: str
    meaning: str


@dataclass(frozen=True)
class Event:
    """A state-triggered event: it fires where its trigger expression (see
    :meth:`Mechanism.event_triggers`) crosses zero in ``direction``: -1
    falling (from > 0 to <= 0), +1 rising (from < 0 to >= 0). The engine
    locates the crossing inside the step; the SBML export writes an
    ``<event>``."""

    name: str
    meaning: str
    direction: int

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"event name {self.name!r} is not an identifier")
        if self.direction not in (-1, 1):
            raise ValueError(
                f"event {self.name!r}: direction must be -1 (falling) or +1 (rising), "
                f"got {self.direction!r}"
            )


@dataclass(frozen=True)
class EventAction:
    """What an event does at the located time.

    ``jumps``: new values of states, expressions of the state just before the
    event (all evaluated before any is assigned); ``inputs``: inputs set from
    the event on (expressions of the same), overriding the schedule for the
    rest of the course; ``terminal``: the event ends the patient's course;
    ``when``: a condition on the state just before the event (a relational
    such as ``c.s.hb < 8``, or an expression that holds where it is > 0).
    Where it does not hold the event does nothing: no jumps, no inputs, no
    log entry, no termination.
    """

    jumps: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, Any] = field(default_factory=dict)
    terminal: bool = False
    when: Any = None


@dataclass(frozen=True)
class Visit:
    """A periodic clinic visit at days ``first``, ``first + every``, ... where
    ``every`` and ``first`` name parameters (days, both > 0) of the mechanism.
    What happens at a visit is its :meth:`Mechanism.visit_actions` entry,
    usually conditional (``EventAction(jumps=..., when=c.s.hb < 8)``); a
    visit is logged (under its name) only where it acts.

    The model keeps a clock state ``<name>_clock`` (days since the last
    visit day, rate 1, starting at ``every - first``) and locates each visit
    as an event where the clock reaches ``every``, then sets it back by
    ``every``; the trigger is linear in time, so the root is exact.
    """

    name: str
    meaning: str
    every: str
    first: str

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"visit name {self.name!r} is not an identifier")
        for what in ("every", "first"):
            if not isinstance(getattr(self, what), str):
                raise ValueError(
                    f"visit {self.name!r}: {what} must name a parameter, "
                    f"got {getattr(self, what)!r}"
                )

    @property
    def clock(self) -> str:
        return f"{self.name}_clock"


@dataclass(frozen=True)
class InputChange:
    """At ``day`` (one value per patient) the input ``name`` becomes ``value``.

    ``from_enrolment``: the day counts from day 0 of the outputs, which in a
    scenario that enrols at diagnosis is each patient's diagnosis (care, a
    drug started N days after diagnosis); otherwise it counts from the start
    of the patient's simulated history (the disease's own clock), and is
    shifted to the diagnosis on enrolment.
    """

    input: str
    day: Any  # days: numpy array (n_patients,), or a sympy expression (SBML export)
    value: Any  # float, numpy array (n_patients,), or a sympy expression
    from_enrolment: bool = False

    def subset(self, index: Any) -> InputChange:
        """The change for the patients ``index`` (a slice or index array)."""

        def take(x: Any) -> Any:
            array = np.asarray(x, dtype=float)
            return array if array.ndim == 0 else array[index]

        return InputChange(self.input, take(self.day), take(self.value), self.from_enrolment)

    def shifted(self, days: Any) -> InputChange:
        """The change with its day moved ``days`` earlier (per patient)."""
        day = np.asarray(self.day, dtype=float) - np.asarray(days, dtype=float)
        return InputChange(self.input, day, self.value, self.from_enrolment)


class Namespace:
    """Attribute access to named symbols; chains come back as tuples."""

    def __init__(self, kind: str, items: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_items", dict(items))

    def __getattr__(self, name: str) -> Any:
        items = object.__getattribute__(self, "_items")
        try:
            return items[name]
        except KeyError:
            kind = object.__getattribute__(self, "_kind")
            raise AttributeError(f"no {kind} named {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{self._kind} namespace is read-only")

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def get(self, name: str, default: Any = None) -> Any:
        return self._items.get(name, default)


@dataclass
class Context:
    """What a mechanism sees: states ``s``, parameters ``p`` (table values and
    derived quantities), inputs ``u`` and signals ``sig`` published by
    mechanisms earlier in the model's order."""

    s: Namespace
    p: Namespace
    u: Namespace
    sig: dict[str, Expr] = field(default_factory=dict)

    def signal(self, name: str, neutral: Expr) -> Expr:
        """A signal from another mechanism, or ``neutral`` if no mechanism in
        this model publishes it (its biology is then absent)."""
        return self.sig.get(name, neutral)


class Mechanism:
    """Base of every mechanism. Subclasses are final: override, never extend."""

    name: ClassVar[str]
    states: ClassVar[tuple[State, ...]] = ()
    publishes: ClassVar[tuple[str, ...]] = ()
    parameters: ClassVar[tuple[str, ...]] = ()
    inputs: ClassVar[tuple[Input, ...]] = ()
    readouts: ClassVar[tuple[Readout, ...]] = ()
    events: ClassVar[tuple[Event, ...]] = ()
    visits: ClassVar[tuple[Visit, ...]] = ()

    def derived(self, p: Namespace) -> dict[str, Expr]:
        """Parameters computed from table parameters (e.g. an amplification that
        puts the healthy steady state on its set point). Evaluated once per
        patient, constant in time."""
        return {}

    def signals(self, c: Context) -> dict[str, Expr]:
        """Named quantities published for other mechanisms (and for readouts)."""
        return {}

    def rates(self, c: Context) -> dict[str, Expr]:
        """Rate contributions d(state)/dt, keyed by state name (per day)."""
        raise NotImplementedError

    def steady_state(self, p: Namespace) -> dict[str, Expr]:
        """Healthy steady state of this mechanism's states (expressions of p)."""
        raise NotImplementedError

    def readout_values(self, c: Context) -> dict[str, Expr]:
        """Expressions of this mechanism's readouts."""
        return {}

    def event_triggers(self, c: Context) -> dict[str, Expr]:
        """One trigger expression per declared event (keyed by event name);
        the event fires where it crosses zero in the event's direction."""
        return {}

    def event_actions(self, c: Context) -> dict[str, EventAction]:
        """Actions of the declared events, keyed by event name (an event
        without an action is only recorded)."""
        return {}

    def visit_actions(self, c: Context) -> dict[str, EventAction]:
        """What happens at each declared visit, keyed by visit name (a visit
        without an action is only logged)."""
        return {}

    def problems(self, values: Mapping[str, Any]) -> list[str]:
        """Messages for parameter values that are each inside their bounds but
        do not make sense together (``values[name]`` is an array per patient)."""
        return []

    def schedule(self, p: Mapping[str, Any]) -> list[InputChange]:
        """Input changes, written once for two uses: ``p[name]`` is either a
        numeric array (n_patients,) for simulation, or a sympy symbol for the
        SBML export (an event at that day)."""
        return []


def chain_steady_state(inflow: Expr, rate: Expr, length: int, loss: Expr = 0) -> list[Expr]:
    """Steady state of a linear transit chain fed at ``inflow`` (per day),
    passing on at ``rate`` (per day) with an extra first-order ``loss``."""
    values = []
    upstream = inflow / (rate + loss)
    for _ in range(length):
        values.append(upstream)
        upstream = upstream * rate / (rate + loss)
    return values


def chain_rates(
    inflow: Expr, rate: Expr, compartments: tuple[Expr, ...], loss: Expr = 0
) -> list[Expr]:
    """Rates of a linear transit chain: each compartment passes to the next at
    ``rate``; ``loss`` removes cells from every compartment (first order)."""
    rates = []
    upstream = inflow
    for x in compartments:
        rates.append(upstream - (rate + loss) * x)
        upstream = rate * x
    return rates


def by_name(symbols: tuple[Expr, ...], values: list[Expr]) -> dict[str, Expr]:
    """Key rate or steady-state values by the names of a chain's state symbols."""
    return {str(sym): value for sym, value in zip(symbols, values, strict=True)}


def emax(concentration: Expr, maximum: Expr, half: Expr) -> Expr:
    """A drug's effect ``maximum * C / (C + half)``: the Emax model, with
    ``half`` the concentration of half the largest effect (EC50 or IC50)."""
    return maximum * concentration / (concentration + half)


def saturating_gain(level: Expr, baseline: Expr, max_gain: Expr) -> Expr:
    """Hyperbolic response to a hormone ``level``, equal to 1 at ``baseline``
    and approaching ``max_gain`` at high levels (0 at zero level)."""
    return max_gain * level / (level + (max_gain - 1) * baseline)


def smooth_ceiling(flux: Expr, baseline: Expr, max_fold: Expr, sharpness: int = 4) -> Expr:
    """``flux`` limited smoothly to ``max_fold * baseline``: exactly ``baseline``
    at ``baseline`` (so a healthy steady state stays exact), tending to the
    ceiling and never above it, within a fraction ``max_fold**-sharpness`` of
    ``flux`` far below it (1% at 3-fold). ``max_fold`` must exceed 1."""
    import sympy

    ceiling = max_fold * baseline
    offset = 1 - max_fold ** (-sharpness)
    return flux / (offset + (flux / ceiling) ** sharpness) ** sympy.Rational(1, sharpness)


# -- shared by the drug mechanisms -------------------------------------------
HOURS_PER_DAY = 24.0
DAYS_PER_YEAR = 365.25


def piecewise(pairs: Any) -> Any:
    """``sympy.Piecewise`` of (value, condition) pairs, for derived parameters."""
    import sympy

    return sympy.Piecewise(*pairs)


def drawn_below(draw: Any, probability: Any) -> Any:
    """1 for a patient whose unit-exponential ``draw`` gives a uniform
    1 - exp(-draw) at or below ``probability``, else 0: a per-patient yes/no
    with that probability (a derived parameter: sympy)."""
    return piecewise([(1, 1 - exp(-draw) <= probability), (0, True)])


def genotype_carrier(draw: Any, fraction: Any) -> Any:
    """1 for a patient who carries a genotype found in ``fraction`` of the
    cohort (:func:`drawn_below` of the patient's genotype ``draw``), else 0."""
    return drawn_below(draw, fraction)


# the reference adult of the pharmacokinetic sources (weight-scaled clearances)
REFERENCE_WEIGHT_KG = 70  # an integer, so printed equations read W / 70
# the visit interval of a patient never given the drug: no visits in any run
NO_VISITS_DAYS = 1.0e6


def visits_if_given(every: Expr, dose: Expr) -> Expr:
    """A drug's visit interval: ``every`` days for a patient given the drug
    (``dose`` > 0), else :data:`NO_VISITS_DAYS`, so an untreated patient's
    integration is never stopped for a visit (a derived parameter)."""
    import sympy

    return sympy.Piecewise((every, dose > 0), (NO_VISITS_DAYS, True))


def hill_drive(level: Expr, half: Expr, exponent: Expr) -> Expr:
    """Drive in 0..1 that rises as ``level`` (1 = healthy) falls: 0 at the
    healthy level, 1 when the level is gone, ``(1 - half**exponent) / 2`` at
    ``half`` (0.48 at 0.45 with exponent 4; it is the Hill half-point only for a
    small ``half``), slightly negative above the healthy level (a crowded pool
    slows down)."""
    return (1 - level**exponent) * half**exponent / (half**exponent + level**exponent)


def is_symbolic(x: Any) -> bool:
    """True for a sympy expression (a schedule traced for the SBML export)."""
    return hasattr(x, "free_symbols")


def select(condition: Any, yes: Any, no: Any) -> Any:
    """``yes`` where ``condition`` holds, else ``no``, in a schedule: numpy
    arrays (simulation) or a sympy Piecewise (SBML export)."""
    if is_symbolic(condition):
        import sympy

        return sympy.Piecewise((yes, condition), (no, True))
    return np.where(condition, yes, no)


def first_violation(values: Mapping[str, Any], rule: Any, message: Any) -> list[str]:
    """The ``problems`` of a cross-parameter rule: ``rule(v)`` is True where the
    values ``v`` (float arrays by name, one entry per patient) break it, and
    ``message(v, k)`` describes the first patient ``k`` that does."""
    arrays = {name: np.atleast_1d(np.asarray(x, dtype=float)) for name, x in values.items()}
    bad = np.flatnonzero(rule(arrays))
    return [message(arrays, int(bad[0]))] if len(bad) else []
