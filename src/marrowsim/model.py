"""Model = chosen mechanisms -> state layout, parameter needs, traced equations.

The model traces each mechanism's declarations with sympy symbols and holds the
result: one expression per state derivative, per derived parameter, per
healthy steady state and per readout. The engine compiles these expressions;
the SBML exporter and the docs print them. Numeric evaluation of parameters
(derived values, steady states) is also done here, vectorised over patients.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import platform
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import metadata
from pathlib import Path
from types import CodeType
from typing import Any

import numpy as np

from marrowsim.errors import InputError
from marrowsim.libm import NAMESPACE as LIBM_NAMESPACE
from marrowsim.mechanisms import InputChange, Mechanism, default_mechanisms
from marrowsim.mechanisms.base import Context, EventAction, Namespace, State, Visit
from marrowsim.parameters import load_table


class _SignalNotReady(Exception):
    """A signal that some mechanism publishes has not been computed yet."""


class _Signals(dict):
    """Signals resolved so far; asking for one still pending defers the caller."""

    def __init__(self, published: Mapping[str, str]) -> None:
        super().__init__()
        self.published = published

    def __missing__(self, name: str) -> Any:
        if name in self.published:
            raise _SignalNotReady(name)
        raise KeyError(f"no mechanism in this model publishes the signal {name!r}")


class _ResolvingContext(Context):
    def signal(self, name: str, neutral: Any) -> Any:
        if name in self.sig:
            return self.sig[name]
        if name in self.sig.published:  # type: ignore[attr-defined]
            raise _SignalNotReady(name)
        return neutral


@dataclass(frozen=True)
class EventInfo:
    """A declared event or visit, traced: its trigger (crossing zero in
    ``direction`` fires it) and its actions (see
    :class:`marrowsim.mechanisms.EventAction`). ``jumps``, ``inputs``,
    ``terminal`` and the log entry apply only where ``when`` holds (None:
    always); ``unconditional_jumps`` apply whenever it fires (a visit's clock
    restarts whether or not the visit acts)."""

    name: str
    meaning: str
    direction: int
    mechanism: str
    trigger: Any  # sympy expression of states, parameters and inputs
    jumps: dict[str, Any]  # state name -> new value (of the pre-event state)
    inputs: dict[str, Any]  # input name -> value from the event on
    terminal: bool
    when: Any = None  # sympy boolean of the pre-event state, or None
    unconditional_jumps: dict[str, Any] = field(default_factory=dict)
    visit: tuple[str, str] | None = None  # a visit's (every, first) parameter names


def _declared_states(m: Mechanism) -> tuple[State, ...]:
    """A mechanism's states followed by the clock of each of its visits."""
    clocks = tuple(
        State(v.clock, "day", f"days since the last {v.name} visit", signed=True, scale=1.0)
        for v in m.visits
    )
    return tuple(m.states) + clocks


@dataclass(frozen=True)
class StateInfo:
    name: str
    unit: str
    meaning: str
    mechanism: str
    scale: float | None


class Model:
    """A model assembled from mechanisms (the default marrow + immune model if
    none are given). Equations are traced once, at construction."""

    def __init__(
        self, mechanisms: Sequence[Mechanism] | None = None, *, traced: bool = True
    ) -> None:
        self.mechanisms: tuple[Mechanism, ...] = tuple(mechanisms or default_mechanisms())
        self.states: tuple[StateInfo, ...] = tuple(
            StateInfo(name, decl.unit, decl.meaning, m.name, decl.scale)
            for m in self.mechanisms
            for decl in _declared_states(m)
            for name in decl.names
        )
        self.state_names = tuple(s.name for s in self.states)
        # States are amounts (cells, a concentration, a fraction) that the
        # equations keep >= 0, so the engine holds them there within the
        # tolerance; a state that may go negative is declared ``signed``.
        self.nonnegative = np.array(
            [
                not decl.signed
                for m in self.mechanisms
                for decl in _declared_states(m)
                for _ in decl.names
            ],
            dtype=np.bool_,
        )
        self.layout: dict[str, slice] = {}
        offset = 0
        for m in self.mechanisms:
            for decl in _declared_states(m):
                self.layout[decl.name] = slice(offset, offset + decl.length)
                offset += decl.length
        # (visit, every, first) names: visit days are checked per patient
        self.visit_parameters = tuple(
            (v.name, v.every, v.first) for m in self.mechanisms for v in m.visits
        )
        self.inputs = tuple(i for m in self.mechanisms for i in m.inputs)
        self.input_names = tuple(i.name for i in self.inputs)
        self.readouts = tuple(r for m in self.mechanisms for r in m.readouts)
        self.readout_names = tuple(r.name for r in self.readouts)
        needed = {name for m in self.mechanisms for name in m.parameters}
        table_order = load_table().names
        missing = sorted(needed - set(table_order))
        if missing:
            raise InputError(f"parameter table lacks {', '.join(missing)}, needed by the model")
        self.parameter_names = tuple(n for n in table_order if n in needed)
        self._check_unique()
        self._trace_key: str | None = None  # set by default_model: cache this trace
        # traced=False (load_trace only): the expressions are traced on first use
        self._untraced = not traced
        if traced:
            self._trace()

    def __getattr__(self, name: str) -> Any:
        # a model loaded from the trace cache (load_trace) traces on the first
        # use of an expression (SBML export, equations, a new compiled module)
        if name in _TRACED and self.__dict__.get("_untraced"):
            self._untraced = False
            self._trace()
            return getattr(self, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- tracing -------------------------------------------------------------
    def _check_unique(self) -> None:
        seen: dict[str, str] = {}
        for kind, names in (
            ("state", self.state_names),
            ("input", self.input_names),
            ("parameter", self.parameter_names),
        ):
            for name in names:
                if name in seen:
                    raise ValueError(
                        f"{kind} {name!r} clashes with a {seen[name]} of the same name"
                    )
                seen[name] = kind
        if len(set(self.readout_names)) != len(self.readout_names):
            raise ValueError("two mechanisms declare the same readout")
        for name in self.readout_names:
            # readouts become SBML ids beside states and parameters
            if name in seen:
                raise ValueError(f"readout {name!r} clashes with a {seen[name]} of the same name")

    def _trace(self) -> None:
        import sympy

        self.state_symbols = tuple(sympy.Symbol(n, real=True) for n in self.state_names)
        self.input_symbols = tuple(sympy.Symbol(n, real=True) for n in self.input_names)
        # zero-valued parameters are allowed, so symbols are only "real"
        table_symbols = {n: sympy.Symbol(n, real=True) for n in self.parameter_names}

        state_ns = {}
        by_name = dict(zip(self.state_names, self.state_symbols, strict=True))
        for m in self.mechanisms:
            for decl in _declared_states(m):
                syms = tuple(by_name[n] for n in decl.names)
                state_ns[decl.name] = syms if decl.length > 1 else syms[0]
        s = Namespace("state", state_ns)
        u = Namespace("input", dict(zip(self.input_names, self.input_symbols, strict=True)))

        # derived parameters, in mechanism order; each sees table parameters and
        # the derived parameters before it
        derived_exprs: dict[str, Any] = {}
        derived_symbols: dict[str, sympy.Symbol] = {}
        self.derived_owner: dict[str, str] = {}  # derived parameter -> mechanism
        for m in self.mechanisms:
            ns = self._parameter_namespace(m, table_symbols, derived_symbols)
            for name, expr in m.derived(ns).items():
                if name in table_symbols or name in derived_symbols:
                    raise ValueError(f"derived parameter {name!r} of {m.name} is defined twice")
                derived_exprs[name] = sympy.sympify(expr)
                derived_symbols[name] = sympy.Symbol(name, real=True)
                self.derived_owner[name] = m.name
        self.derived_names = tuple(derived_exprs)
        self.derived_exprs = derived_exprs
        self.parameter_symbols = tuple(table_symbols.values()) + tuple(derived_symbols.values())
        self.all_parameter_names = self.parameter_names + self.derived_names

        # signals: resolved by deferring mechanisms whose inputs are pending
        published: dict[str, str] = {}
        for m in self.mechanisms:
            for name in m.publishes:
                if name in published:
                    raise ValueError(
                        f"signal {name!r} published by both {published[name]} and {m.name}"
                    )
                published[name] = m.name
        signals = _Signals(published)
        contexts = {
            m.name: _ResolvingContext(
                s, self._parameter_namespace(m, table_symbols, derived_symbols), u, signals
            )
            for m in self.mechanisms
        }
        pending = list(self.mechanisms)
        while pending:
            progress = False
            for m in list(pending):
                try:
                    out = m.signals(contexts[m.name])
                except _SignalNotReady:
                    continue
                if set(out) != set(m.publishes):
                    raise ValueError(
                        f"{m.name} publishes {sorted(m.publishes)} but returned {sorted(out)}"
                    )
                signals.update(out)
                pending.remove(m)
                progress = True
            if not progress:
                raise ValueError(
                    f"signals of {[m.name for m in pending]} depend on each other in a cycle"
                )
        self.signal_exprs = dict(signals)

        rates: dict[str, Any] = {name: sympy.Integer(0) for name in self.state_names}
        owned = {info.name: info.mechanism for info in self.states}
        # a held state changes only where an event sets it (a titrated dose)
        held = {n for m in self.mechanisms for d in _declared_states(m) if d.held for n in d.names}
        clocks = {v.clock for m in self.mechanisms for v in m.visits}
        for m in self.mechanisms:
            for name, expr in m.rates(contexts[m.name]).items():
                if name not in rates:
                    raise ValueError(f"{m.name} gives a rate for unknown state {name!r}")
                if name in clocks:
                    raise ValueError(f"{m.name} gives a rate for the visit clock {name!r}")
                rates[name] = rates[name] + sympy.sympify(expr)
        for name in clocks:
            rates[name] = sympy.Integer(1)  # days since the last visit
        for name, expr in rates.items():
            if expr == 0 and owned[name] and name not in held:
                raise ValueError(f"state {name!r} has no rate")
        self.rate_exprs = rates

        steady: dict[str, Any] = {}
        for m in self.mechanisms:
            values = m.steady_state(self._parameter_namespace(m, table_symbols, derived_symbols))
            expected = {n for decl in m.states for n in decl.names}
            if set(values) != expected:
                raise ValueError(
                    f"{m.name}: steady state must cover exactly its states {sorted(expected)}"
                )
            steady.update({k: sympy.sympify(v) for k, v in values.items()})
            for visit in m.visits:
                every, first = self._visit_symbols(m, visit, contexts[m.name])
                steady[visit.clock] = every - first  # so the clock reaches every at first
        self.steady_state_exprs = {name: steady[name] for name in self.state_names}

        readouts: dict[str, Any] = {}
        for m in self.mechanisms:
            values = m.readout_values(contexts[m.name])
            if set(values) != {r.name for r in m.readouts}:
                raise ValueError(f"{m.name}: readout values must match its declared readouts")
            readouts.update({k: sympy.sympify(v) for k, v in values.items()})
        self.readout_exprs = {name: readouts[name] for name in self.readout_names}
        self._trace_events(contexts)
        self._trace_for_display(s, u, table_symbols, derived_symbols, published)

    def _trace_events(self, contexts: Mapping[str, Context]) -> None:
        """Trace each mechanism's events and visits (a visit becomes an event
        on its clock), and check names."""
        import sympy

        events: list[EventInfo] = []
        taken = set(self.state_names) | set(self.input_names) | set(self.all_parameter_names)
        taken |= set(self.readout_names)
        known = set(self.state_symbols) | set(self.input_symbols) | set(self.parameter_symbols)
        for m in self.mechanisms:
            c = contexts[m.name]
            triggers, event_actions, visit_actions = (
                m.event_triggers(c), m.event_actions(c), m.visit_actions(c)
            )  # fmt: skip
            for kind, declared, actions in (
                ("event", [e.name for e in m.events], event_actions),
                ("visit", [v.name for v in m.visits], visit_actions),
            ):
                if kind == "event" and set(triggers) != set(declared):
                    raise ValueError(
                        f"{m.name}: event triggers must match its declared events {sorted(declared)}"
                    )
                unknown = sorted(set(actions) - set(declared))
                if unknown:
                    raise ValueError(f"{m.name} gives actions for undeclared {kind}s {unknown}")
                for name in declared:
                    if name in taken:
                        raise ValueError(f"{kind} {name!r} of {m.name} clashes with another name")
                    taken.add(name)
            for decl in m.events:
                trigger = sympy.sympify(triggers[decl.name])
                info = self._traced_action(decl.name, event_actions.get(decl.name), trigger, known)
                events.append(
                    EventInfo(decl.name, decl.meaning, decl.direction, m.name, trigger, **info)
                )
            for visit in m.visits:
                every, _ = self._visit_symbols(m, visit, c)
                clock = getattr(c.s, visit.clock)
                info = self._traced_action(
                    visit.name, visit_actions.get(visit.name), clock - every, known
                )
                if clock.name in info["jumps"]:
                    raise ValueError(f"visit {visit.name!r} jumps its own clock {clock.name!r}")
                events.append(
                    EventInfo(
                        visit.name,
                        visit.meaning,
                        +1,
                        m.name,
                        clock - every,
                        **info,
                        # back by one period, not to 0: an error in locating one
                        # visit does not carry over into the next visit's day
                        unconditional_jumps={clock.name: clock - every},
                        visit=(visit.every, visit.first),
                    )
                )
        self.events: tuple[EventInfo, ...] = tuple(events)
        self.event_names = tuple(e.name for e in events)

    def _traced_action(
        self, name: str, action: EventAction | None, trigger: Any, known: set[Any]
    ) -> dict[str, Any]:
        """The traced jumps, inputs, terminal flag and condition of an action."""
        import sympy
        from sympy.logic.boolalg import Boolean

        action = action or EventAction()
        jumps = {k: sympy.sympify(v) for k, v in action.jumps.items()}
        sets = {k: sympy.sympify(v) for k, v in action.inputs.items()}
        for state in jumps:
            if state not in self.state_names:
                raise ValueError(f"event {name!r} jumps unknown state {state!r}")
        for inp in sets:
            if inp not in self.input_names:
                raise ValueError(f"event {name!r} sets unknown input {inp!r}")
        when = None if action.when is None else sympy.sympify(action.when)
        if when is sympy.true:
            when = None  # holds everywhere: an ordinary action
        elif when is sympy.false:
            raise ValueError(f"event {name!r}: its condition never holds")
        elif when is not None and not isinstance(when, Boolean):
            when = sympy.Gt(when, 0)  # an expression holds where it is > 0
        checked = [("trigger", trigger), *jumps.items(), *sets.items()]
        if when is not None:
            checked.append(("when", when))
        for what, expr in checked:
            stray = sorted(str(x) for x in expr.free_symbols - known)
            if stray:
                raise ValueError(f"event {name!r} ({what}) uses unknown {stray}")
        return {"jumps": jumps, "inputs": sets, "terminal": bool(action.terminal), "when": when}

    @staticmethod
    def _visit_symbols(m: Mechanism, visit: Visit, c: Context) -> tuple[Any, Any]:
        """The symbols of a visit's ``every`` and ``first`` parameters."""
        found = []
        for what in ("every", "first"):
            name = getattr(visit, what)
            if name not in c.p:
                raise ValueError(
                    f"visit {visit.name!r} of {m.name}: {what} {name!r} is not a parameter "
                    f"it declares"
                )
            found.append(getattr(c.p, name))
        return found[0], found[1]

    def _trace_for_display(
        self,
        s: Namespace,
        u: Namespace,
        table_symbols: Mapping[str, Any],
        derived_symbols: Mapping[str, Any],
        published: Mapping[str, str],
    ) -> None:
        """Trace again with every signal as a named symbol, so the printed
        equations read like the mechanisms are written (signals defined once,
        then used by name) instead of fully expanded."""
        import sympy

        named = {name: sympy.Symbol(name) for name in published}
        self.display_signals: dict[str, Any] = {}
        self.display_rates: dict[str, Any] = {name: sympy.Integer(0) for name in self.state_names}
        self.display_readouts: dict[str, Any] = {}
        for m in self.mechanisms:
            c = Context(
                s, self._parameter_namespace(m, table_symbols, derived_symbols), u, dict(named)
            )
            self.display_signals.update({k: sympy.sympify(v) for k, v in m.signals(c).items()})
            for name, expr in m.rates(c).items():
                self.display_rates[name] = self.display_rates[name] + sympy.sympify(expr)
            self.display_readouts.update(
                {k: sympy.sympify(v) for k, v in m.readout_values(c).items()}
            )
            for visit in m.visits:
                self.display_rates[visit.clock] = sympy.Integer(1)  # days since the last visit

    def _parameter_namespace(
        self, m: Mechanism, table_symbols: Mapping[str, Any], derived_symbols: Mapping[str, Any]
    ) -> Namespace:
        items = {name: table_symbols[name] for name in m.parameters}
        items.update(derived_symbols)
        return Namespace(f"parameter (declared by {m.name})", items)

    # -- numeric helpers -----------------------------------------------------
    @cached_property
    def _derived_functions(self) -> list[Any]:
        symbols = self.parameter_symbols
        return [_lambdify(symbols, self.derived_exprs[n]) for n in self.derived_names]

    @cached_property
    def _steady_function(self) -> Any:
        return _lambdify(self.parameter_symbols, list(self.steady_state_exprs.values()))

    def parameter_matrix(self, values: Mapping[str, Any]) -> np.ndarray:
        """(n_patients, n_parameters + n_derived) array: table values then derived."""
        columns = [np.atleast_1d(np.asarray(values[n], dtype=float)) for n in self.parameter_names]
        n = max(len(c) for c in columns)
        matrix = np.empty((n, len(self.all_parameter_names)))
        for j, column in enumerate(columns):
            matrix[:, j] = column
        k = len(self.parameter_names)
        for j, fn in enumerate(self._derived_functions):
            matrix[:, k + j] = fn(*matrix.T)
        if not np.all(np.isfinite(matrix)):
            bad = sorted({self.all_parameter_names[j] for j in np.where(~np.isfinite(matrix))[1]})
            raise InputError(f"parameters give non-finite derived values: {', '.join(bad)}")
        for visit, *names in self.visit_parameters:
            # a visit on day 0 would sit on the clock's start, where no crossing is seen
            for name in names:
                days = matrix[:, self.all_parameter_names.index(name)]
                if not np.all(days > 0):
                    k = int(np.flatnonzero(~(days > 0))[0])
                    raise InputError(
                        f"visit {visit!r}: {name} must be > 0 days, got {days[k]!r} for patient {k}"
                    )
        return matrix

    def steady_state(self, parameter_matrix: np.ndarray) -> np.ndarray:
        """(n_patients, n_states) healthy steady state."""
        values = self._steady_function(*parameter_matrix.T)
        n = parameter_matrix.shape[0]
        return np.column_stack([np.broadcast_to(np.asarray(v, dtype=float), (n,)) for v in values])

    def state_scale(self, steady_state: np.ndarray) -> np.ndarray:
        """Typical magnitude of each state, for absolute tolerances: the scale
        its mechanism declares, else its healthy value (1 if that is 0)."""
        typical = np.abs(np.asarray(steady_state, dtype=float))
        declared = np.array([np.nan if s.scale is None else s.scale for s in self.states])
        scale = np.where(np.isnan(declared), typical, declared)
        return np.where(scale > 0, scale, 1.0)

    def check(self, values: Mapping[str, np.ndarray]) -> None:
        """Refuse parameter values that do not make sense together."""
        for m in self.mechanisms:
            for problem in m.problems(values):
                raise InputError(problem)

    def schedule(self, values: Mapping[str, np.ndarray]) -> list[InputChange]:
        changes = []
        for m in self.mechanisms:
            for change in m.schedule(values):
                if change.input not in self.input_names:
                    raise ValueError(f"{m.name} schedules unknown input {change.input!r}")
                changes.append(change)
        return changes

    def equations_markdown(self) -> str:
        """The model's equations as Markdown, printed from the traced expressions
        (the same ones the engine compiles): states, rates, derived parameters,
        healthy steady state and readouts, mechanism by mechanism."""
        import sympy

        lines = [
            "# marrowsim model equations",
            "",
            "Generated by `marrowsim equations` from the traced mechanism definitions;",
            "do not edit. Time in days; parameters are listed by `marrowsim parameters`.",
            "",
        ]
        for m in self.mechanisms:
            lines += [f"## {m.name}", ""]
            doc = (type(m).__doc__ or sys.modules[type(m).__module__].__doc__ or "").strip()
            if doc:
                lines += [doc.splitlines()[0], ""]
            names = [n for decl in m.states for n in decl.names]
            if names:
                lines += ["| state | unit | meaning |", "|---|---|---|"]
                for decl in m.states:
                    label = decl.name if decl.length == 1 else f"{decl.name}_1..{decl.length}"
                    lines.append(f"| `{label}` | {decl.unit} | {decl.meaning} |")
                lines += ["", "```"]
                for n in names:
                    lines.append(f"d{n}/dt = {sympy.sstr(self.display_rates[n])}")
                lines += ["```", ""]
            if m.publishes:
                lines += ["Signals (used by name above and in other mechanisms):", "", "```"]
                lines += [f"{n} = {sympy.sstr(self.display_signals[n])}" for n in m.publishes]
                lines += ["```", ""]
            derived = [n for n in self.derived_names if self.derived_owner[n] == m.name]
            if derived:
                lines += ["Derived parameters:", "", "```"]
                lines += [f"{n} = {sympy.sstr(self.derived_exprs[n])}" for n in derived]
                lines += ["```", ""]
            visits = [e for e in self.events if e.mechanism == m.name and e.visit is not None]
            if visits:
                lines += ["Visits (`<name>_clock`: days since the last visit day):", "", "```"]
                for e in visits:
                    every, first = e.visit or ("", "")
                    when = "" if e.when is None else f" when {sympy.sstr(e.when)}"
                    acts = ", ".join(
                        f"{k} := {sympy.sstr(v)}" for k, v in [*e.jumps.items(), *e.inputs.items()]
                    )
                    lines.append(f"{e.name}: every {every} days from day {first}{when}: {acts}")
                lines += ["```", ""]
            if m.readouts:
                lines += ["Readouts:", "", "```"]
                lines += [
                    f"{r.name} [{r.unit}] = {sympy.sstr(self.display_readouts[r.name])}"
                    for r in m.readouts
                ]
                lines += ["```", ""]
        return "\n".join(lines).rstrip() + "\n"


# set by Model._trace (with the sympy expressions); a model from the trace
# cache has only the names and numeric functions until it is traced
_TRACED = frozenset(
    {
        "state_symbols", "input_symbols", "derived_owner", "derived_exprs",
        "parameter_symbols", "signal_exprs", "rate_exprs", "steady_state_exprs",
        "readout_exprs", "events", "display_signals", "display_rates", "display_readouts",
        "derived_names", "all_parameter_names", "event_names",
    }
)  # fmt: skip

# -- the trace cache ----------------------------------------------------------
# A warm run needs from the trace only names, the compiled module's key and the
# numeric functions (derived parameters, steady state). The engine stores them
# beside the compiled module (store_trace, when it loads one for a model built
# by default_model); default_model loads them (load_trace) and traces with
# sympy only on a miss. The key is a hash of everything the trace depends on:
# the source of the mechanisms, of this module, of the code generator and the
# kernel, the parameter table, the mechanisms' classes and settings, and the
# Python, numpy and sympy versions.
TRACE_CACHE_VERSION = "2"  # 2: exp, log and powers through marrowsim.libm
_PACKAGE = Path(__file__).resolve().parent
_TRACE_SOURCES = (
    "model.py",
    "libm.py",
    "engine/codegen.py",
    "engine/kernel_template.py",
    "parameters/__init__.py",
    "parameters/table.yaml",
)


def trace_key(mechanisms: Sequence[Mechanism]) -> str | None:
    """Key of the trace cache for a model of ``mechanisms`` (None: not cacheable,
    a mechanism is not one of marrowsim's own)."""
    digest = hashlib.sha256(f"trace {TRACE_CACHE_VERSION};".encode())
    for m in mechanisms:
        kind = type(m)
        if not kind.__module__.startswith("marrowsim.mechanisms."):
            return None
        digest.update(
            f"{kind.__module__}.{kind.__qualname__}:{sorted(vars(m).items())!r};".encode()
        )
    files = [
        *_TRACE_SOURCES,
        *sorted(str(p.relative_to(_PACKAGE)) for p in (_PACKAGE / "mechanisms").glob("*.py")),
    ]
    for name in files:
        digest.update(f"{name}:".encode())
        digest.update((_PACKAGE / name).read_bytes())
    versions = (platform.python_version(), np.__version__, metadata.version("sympy"))
    digest.update(repr(versions).encode())
    return digest.hexdigest()[:20]


def _trace_path(directory: Path, key: str) -> Path:
    return directory / f"marrowsim_trace_{key}.json"


@lru_cache(maxsize=1)
def _libm_printer_class() -> Any:
    """sympy's numpy printer with exp, log and powers sent to marrowsim.libm
    (made on first use: a warm run never imports sympy)."""
    from sympy.printing.numpy import NumPyPrinter

    class LibmPrinter(NumPyPrinter):
        def _print_Pow(self, expr: Any, rational: bool = False) -> str:
            return f"libm_pow({self._print(expr.base)}, {self._print(expr.exp)})"

        def _print_exp(self, expr: Any) -> str:
            return f"libm_exp({self._print(expr.args[0])})"

        def _print_log(self, expr: Any) -> str:
            return f"libm_log({self._print(expr.args[0])})"

    return LibmPrinter


def _lambdify(symbols: Any, expr: Any) -> Any:
    """A numpy function of ``expr`` over patients whose exp, log and powers
    are the C library's (:mod:`marrowsim.libm`: the same on every CPU)."""
    import sympy

    # the settings lambdify gives its own printer: numpy's names unqualified
    printer = _libm_printer_class()(
        {"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True}
    )
    return sympy.lambdify(symbols, expr, modules=[LIBM_NAMESPACE, "numpy"], printer=printer)


# what a cached lambdified source runs in: numpy's names and marrowsim.libm's
_SOURCE_NAMESPACE: dict[str, Any] = {**vars(np), **LIBM_NAMESPACE}


def _global_names(code: CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _global_names(const)
    return names


def _portable_source(function: Any) -> str | None:
    """The source of a lambdified function if every global it uses is the
    numpy or marrowsim.libm object of that name (so it runs the same from
    their namespace)."""
    import inspect

    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return None
    scope = function.__globals__
    for name in _global_names(function.__code__):
        ours = _SOURCE_NAMESPACE.get(name) if name != "__builtins__" else None
        if name in scope:
            if ours is None or ours is not scope[name]:
                return None
        elif ours is not None and ours is not getattr(builtins, name, None):
            return None  # numpy's name would shadow the builtin the function uses
    return source


def _function_from_source(source: str) -> Any:
    namespace: dict[str, Any] = dict(_SOURCE_NAMESPACE)
    exec(compile(source, "<marrowsim trace cache>", "exec"), namespace)
    return namespace["_lambdifygenerated"]


def store_trace(model: Model, structure_key: str, directory: Path) -> None:
    """Write what a warm run needs of ``model``'s trace beside its compiled
    module (only for a model that ``default_model`` traced on a miss)."""
    key = getattr(model, "_trace_key", None)
    if key is None or _trace_path(directory, key).exists():
        return
    functions = [_portable_source(f) for f in model._derived_functions]
    steady = _portable_source(model._steady_function)
    if steady is None or any(f is None for f in functions):
        return
    record = {
        "version": TRACE_CACHE_VERSION,
        "structure_key": structure_key,
        "state_names": list(model.state_names),
        "input_names": list(model.input_names),
        "readout_names": list(model.readout_names),
        "parameter_names": list(model.parameter_names),
        "derived_names": list(model.derived_names),
        "event_names": list(model.event_names),
        "derived_functions": functions,
        "steady_function": steady,
    }
    from marrowsim._cache import write_atomically

    try:
        write_atomically(_trace_path(directory, key), json.dumps(record))
    except OSError:
        pass  # a read-only cache: the next run traces again


def load_trace(mechanisms: Sequence[Mechanism], key: str, directory: Path) -> Model | None:
    """The model of ``mechanisms`` from the trace cache, untraced, or None."""
    try:
        record = json.loads(_trace_path(directory, key).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    try:
        model = Model(mechanisms, traced=False)
        if record.get("version") != TRACE_CACHE_VERSION or [
            list(model.state_names),
            list(model.input_names),
            list(model.readout_names),
            list(model.parameter_names),
        ] != [
            record["state_names"],
            record["input_names"],
            record["readout_names"],
            record["parameter_names"],
        ]:
            return None
        derived = [_function_from_source(s) for s in record["derived_functions"]]
        steady = _function_from_source(record["steady_function"])
        model.__dict__.update(
            derived_names=tuple(record["derived_names"]),
            event_names=tuple(record["event_names"]),
            _derived_functions=derived,
            _steady_function=steady,
            _structure_key=str(record["structure_key"]),
        )
        model.__dict__["all_parameter_names"] = model.parameter_names + model.derived_names
    except (KeyError, TypeError, ValueError, SyntaxError):
        return None
    return model


_MODEL: Model | None = None


def default_model() -> Model:
    """The default marrow + immune model (traced once per process, or loaded
    from the trace cache)."""
    global _MODEL
    if _MODEL is None:
        from marrowsim._cache import cache_dir

        mechanisms = default_mechanisms()
        key = trace_key(mechanisms)
        model = None if key is None else load_trace(mechanisms, key, cache_dir())
        if model is None:
            model = Model(mechanisms)
            model._trace_key = key  # the engine stores the trace beside the compiled module
        load_table().require(model.parameter_names)  # the table holds nothing unused
        _MODEL = model
    return _MODEL
