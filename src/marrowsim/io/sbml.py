"""SBML Level 3 export, generated from the same traced equations as the engine.

Every state becomes an SBML parameter with a rate rule (its initial value the
patient's healthy steady state, also given as an initial assignment so that
changing a parameter and resetting re-derives it); every table parameter a
constant parameter with its value, unit, and its meaning, bounds and source in
the notes; derived parameters initial assignments; schedule changes (the immune
trigger, later doses and exposures) events; readouts assignment rules with the
ids of ``timecourse.csv``. The document must pass libSBML's consistency checks
with no errors. python-libsbml is an optional extra (``marrowsim[sbml]``).

State-triggered events declared by mechanisms become events with the trigger
``g < 0`` (falling) or ``g > 0`` (rising), persistent, with initialValue true
(so an event does not fire at the start unless its trigger crosses), values
from the trigger time, and assignments for its jumps and the inputs it sets.
An input set by an event holds over later schedule changes, as in the engine:
the event also sets ``<input>_held_by_event`` to 1, and the schedule's
assignments to that input keep its value once the flag is set. A terminal
event (the engine ends the course) only says so in its notes: SBML simulators
(libRoadRunner) cannot stop a run, so the course continues past it there.

An action with a condition (``when``) assigns ``piecewise(new, when, old)``
to each variable it changes, so where the condition is false the event
leaves everything as it was. A visit is exported as the engine runs it: its
clock is a state of rate 1 (initial value ``every - first``), and an event
where the clock rises through ``every`` sets it back by ``every`` and
applies the visit's (conditional) action.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import numpy as np
import sympy
from sympy.printing.str import StrPrinter

from marrowsim._version import __version__
from marrowsim.errors import InputError
from marrowsim.model import Model, default_model
from marrowsim.parameters import load_table

# unit string of the parameter table / state declarations -> SBML units:
# (kind, exponent, scale, multiplier); anything else is exported dimensionless
# and its unit text kept in the notes.
_DAY = ("second", 1, 0, 86400.0)
_PER_DAY = ("second", -1, 0, 86400.0)
_BILLION_PER_LITRE = (("item", 1, 9, 1.0), ("litre", -1, 0, 1.0))
UNITS: dict[str, tuple[tuple[str, int, int, float], ...]] = {
    "day": (_DAY,),
    "1/day": (_PER_DAY,),
    "cells": (("item", 1, 0, 1.0),),
    "10^9/L": _BILLION_PER_LITRE,
    "10^9/L/day": (*_BILLION_PER_LITRE, _PER_DAY),
    "g/dL": (("gram", 1, 0, 1.0), ("litre", -1, -1, 1.0)),
    "pg/mL": (("gram", 1, -12, 1.0), ("litre", -1, -3, 1.0)),
    "ng/mL": (("gram", 1, -9, 1.0), ("litre", -1, -3, 1.0)),
    "pg": (("gram", 1, -12, 1.0),),
    # (pg/mL) / (10^9/L) / day: the litres cancel up to a factor 1000
    "pg/mL per 10^9/L per day": (("gram", 1, -12, 1000.0), ("item", -1, 9, 1.0), _PER_DAY),
}


class _FormulaPrinter(StrPrinter):
    """sympy -> libSBML Level 3 infix formula."""

    def _print_Pow(self, expr: Any, rational: bool = False) -> str:
        base, exponent = expr.as_base_exp()
        return f"({self._print(base)})^({self._print(exponent)})"

    def _print_Float(self, expr: Any) -> str:
        return repr(float(expr))

    def _print_Rational(self, expr: Any) -> str:
        return f"({expr.p}/{expr.q})"

    def _print_Function(self, expr: Any) -> str:
        names = {"exp": "exp", "log": "ln", "sqrt": "sqrt", "Abs": "abs"}
        name = names.get(type(expr).__name__)
        if name is None:
            raise ValueError(f"no SBML formula for function {type(expr).__name__}")
        return f"{name}({', '.join(self._print(a) for a in expr.args)})"

    _print_exp = _print_Function
    _print_log = _print_Function
    _print_Abs = _print_Function

    def _print_And(self, expr: Any) -> str:
        return f"and({', '.join(self._print(a) for a in expr.args)})"

    def _print_Or(self, expr: Any) -> str:
        return f"or({', '.join(self._print(a) for a in expr.args)})"

    def _print_Not(self, expr: Any) -> str:
        return f"not({self._print(expr.args[0])})"

    def _print_Piecewise(self, expr: Any) -> str:
        parts = []
        for value, condition in expr.args:
            parts.append(self._print(value))
            if condition is not sympy.true:
                parts.append(self._print(condition))
        return f"piecewise({', '.join(parts)})"

    def _print_Relational(self, expr: Any) -> str:
        return f"({self._print(expr.lhs)} {expr.rel_op} {self._print(expr.rhs)})"

    def _extremum(self, expr: Any, keep: str) -> str:
        # min and max as piecewise, which every SBML simulator runs
        first, *rest = (self._print(a) for a in expr.args)
        for other in rest:
            first = f"piecewise({first}, {first} {keep} {other}, {other})"
        return first

    def _print_Min(self, expr: Any) -> str:
        return self._extremum(expr, "<=")

    def _print_Max(self, expr: Any) -> str:
        return self._extremum(expr, ">=")


def _libsbml() -> Any:
    try:
        import libsbml
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise InputError(
            "SBML export needs python-libsbml: pip install 'marrowsim[sbml]'"
        ) from None
    return libsbml


def check_exportable(model: Model) -> None:
    """Raise a clear error naming every part of the model SBML cannot carry."""
    problems = [
        f"{m.name} ({getattr(m, 'not_exportable_because', 'it has a stochastic part')})"
        for m in model.mechanisms
        if getattr(m, "stochastic", False)
    ]
    if problems:
        raise InputError(
            "cannot export to SBML: "
            + "; ".join(problems)
            + ". SBML describes deterministic equations; run these parts in marrowsim instead"
        )


def export_sbml(
    model: Model, values: Mapping[str, Any], *, name: str, description: str = ""
) -> str:
    """The SBML document (a string) of ``model`` for one patient.

    ``values`` maps every table parameter to this patient's number.
    """
    libsbml = _libsbml()
    check_exportable(model)
    table = load_table()
    printer = _FormulaPrinter()
    patient = {
        k: np.atleast_1d(np.asarray(values[k], dtype=float))[:1] for k in model.parameter_names
    }
    matrix = model.parameter_matrix(patient)
    steady = model.steady_state(matrix)[0]

    document = libsbml.SBMLDocument(3, 2)
    sbml = document.createModel()
    model_id = "marrowsim_" + "".join(ch if ch.isalnum() else "_" for ch in name)
    _check(sbml.setId(model_id), "model id")
    sbml.setName(f"marrowsim {__version__}: {name}")
    _notes(
        sbml, f"{description} Exported by marrowsim {__version__} for research and teaching only."
    )
    unit_ids: dict[str, str] = {}

    def unit(text: str) -> str:
        if text not in UNITS:
            return "dimensionless"
        if text not in unit_ids:
            ident = "u_" + "".join(ch if ch.isalnum() else "_" for ch in text).replace("__", "_")
            definition = sbml.createUnitDefinition()
            definition.setId(ident)
            definition.setName(text)
            for kind, exponent, scale, multiplier in UNITS[text]:
                u = definition.createUnit()
                u.setKind(libsbml.UnitKind_forName(kind))
                u.setExponent(exponent)
                u.setScale(scale)
                u.setMultiplier(multiplier)
            unit_ids[text] = ident
        return unit_ids[text]

    sbml.setTimeUnits(unit("day"))

    def formula(expr: Any, what: str) -> Any:
        text = printer.doprint(sympy.sympify(expr))
        ast = libsbml.parseL3Formula(text)
        if ast is None:
            raise RuntimeError(
                f"{what}: libSBML cannot parse {text!r}: {libsbml.getLastParseL3Error()}"
            )
        return ast

    def parameter(
        ident: str, value: float, units: str | None, constant: bool, notes: str = ""
    ) -> Any:
        p = sbml.createParameter()
        _check(p.setId(ident), f"parameter {ident}")
        if np.isfinite(value):
            p.setValue(float(value))
        if units is not None:  # no units rather than wrong ones
            p.setUnits(unit(units))
        p.setConstant(constant)
        if notes:
            _notes(p, notes)
        return p

    def attach(kind: str, variable: str, expr: Any) -> None:
        """An initial assignment, rate rule or assignment rule for ``variable``."""
        if kind == "initial":
            element = sbml.createInitialAssignment()
            element.setSymbol(variable)
        else:
            element = sbml.createRateRule() if kind == "rate" else sbml.createAssignmentRule()
            element.setVariable(variable)
        element.setMath(formula(expr, f"{kind} of {variable}"))

    for k, pname in enumerate(model.parameter_names):
        entry = table[pname]
        variability = (
            f" between patients: {entry.variability.describe()}." if entry.variability else ""
        )
        parameter(
            pname,
            matrix[0, k],
            entry.unit,
            True,
            f"{entry.meaning} [{entry.unit}]; bounds {list(entry.bounds)}.{variability} Source: {entry.source}",
        )
    for k, dname in enumerate(model.derived_names):
        parameter(
            dname,
            matrix[0, len(model.parameter_names) + k],
            None,
            True,
            f"derived parameter = {sympy.sstr(model.derived_exprs[dname])}",
        )
        attach("initial", dname, model.derived_exprs[dname])
    for k, info in enumerate(model.states):
        parameter(
            info.name,
            steady[k],
            info.unit,
            False,
            f"state of {info.mechanism}: {info.meaning} [{info.unit}]",
        )
        attach("initial", info.name, model.steady_state_exprs[info.name])
        attach("rate", info.name, model.rate_exprs[info.name])
    for inp in model.inputs:
        parameter(inp.name, inp.default, inp.unit, False, f"input: {inp.meaning}")
    held = {}  # input set by an event -> its flag parameter
    for e in model.events:
        for name in e.inputs:
            if name not in held:
                held[name] = f"{name}_held_by_event"
                parameter(held[name], 0.0, None, False, f"1 once an event has set {name}")
    symbols = {n: sympy.Symbol(n) for n in model.parameter_names}
    changes = model.schedule(symbols)
    for k, change in enumerate(changes):
        event = sbml.createEvent()
        event.setId(f"change_{k}_{change.input}")
        event.setUseValuesFromTriggerTime(True)
        # changes on the same day apply in schedule order, as in the engine
        # (the later one wins): SBML fires higher priorities first
        event.createPriority().setMath(formula(sympy.Integer(len(changes) - k), f"event {k}"))
        trigger = event.createTrigger()
        trigger.setInitialValue(False)
        trigger.setPersistent(True)
        trigger.setMath(formula(sympy.Symbol("time") >= change.day, f"event {k}"))
        target = event.createEventAssignment()
        target.setVariable(change.input)
        value = formula(change.value, f"event {k} value")
        if change.input in held:
            text = libsbml.formulaToL3String(value)
            value = libsbml.parseL3Formula(
                f"piecewise({change.input}, {held[change.input]} > 0.5, {text})"
            )
        target.setMath(value)
    for e in model.events:
        event = sbml.createEvent()
        _check(event.setId(e.name), f"event {e.name}")
        event.setUseValuesFromTriggerTime(True)
        crossing = "falls through" if e.direction < 0 else "rises through"
        terminal = (
            " Terminal: marrowsim ends the patient's course here; SBML simulators"
            " cannot stop, so the course continues past it."
            if e.terminal
            else ""
        )
        if e.visit is not None:
            every, first = e.visit
            what = f"visit of {e.mechanism}: {e.meaning} (every {every} days from day {first})"
        else:
            what = f"event of {e.mechanism}: {e.meaning} (trigger {crossing} 0)"
        condition = f" Acts only where {sympy.sstr(e.when)}." if e.when is not None else ""
        _notes(event, f"{what}.{condition}{terminal}")
        trigger = event.createTrigger()
        trigger.setInitialValue(True)
        trigger.setPersistent(True)
        g = e.trigger
        trigger.setMath(
            formula(sympy.Lt(g, 0) if e.direction < 0 else sympy.Gt(g, 0), f"event {e.name}")
        )

        def conditional(new: Any, old: str, when: Any = e.when) -> Any:
            # where the condition is false the variable keeps its value
            if when is None:
                return new
            return sympy.Piecewise((new, when), (sympy.Symbol(old), True))

        assignments = [*e.unconditional_jumps.items()]
        assignments += [(name, conditional(v, name)) for name, v in e.jumps.items()]
        assignments += [(name, conditional(v, name)) for name, v in e.inputs.items()]
        assignments += [(held[n], conditional(sympy.Integer(1), held[n])) for n in e.inputs]
        for name, expr in assignments:
            target = event.createEventAssignment()
            target.setVariable(name)
            target.setMath(formula(expr, f"event {e.name}: {name}"))
    for readout in model.readouts:
        parameter(
            readout.name,
            np.nan,
            readout.unit,
            False,
            f"readout: {readout.meaning} [{readout.unit}]",
        )
        attach("assignment", readout.name, model.readout_exprs[readout.name])

    errors = consistency_errors(document)
    if errors:
        raise RuntimeError(
            "exported SBML fails libSBML's consistency checks: " + "; ".join(errors[:5])
        )
    return str(libsbml.writeSBMLToString(document))


def consistency_errors(document: Any) -> list[str]:
    """Messages of libSBML consistency findings of severity error or worse."""
    libsbml = _libsbml()
    document.checkConsistency()
    found = []
    for i in range(document.getNumErrors()):
        error = document.getError(i)
        if error.getSeverity() >= libsbml.LIBSBML_SEV_ERROR:
            found.append(f"{error.getErrorId()}: {error.getMessage().strip()}")
    return found


def _notes(element: Any, text: str) -> None:
    _check(
        element.setNotes(
            f'<body xmlns="http://www.w3.org/1999/xhtml"><p>{html.escape(text)}</p></body>'
        ),
        "notes",
    )


def _check(code: int, what: str) -> None:
    if code != 0:
        raise RuntimeError(f"libSBML refused {what} (code {code})")


def export_scenario(
    scenario: Any = "immune-aa",
    *,
    overrides: Mapping[str, Any] | None = None,
    patient: int | None = None,
    seed: int = 0,
    model: Model | None = None,
) -> str:
    """SBML of a scenario's typical patient, or of virtual patient ``patient``
    of the cohort drawn with ``seed`` (the same patient ``marrowsim run
    --patients N --seed S`` simulates as row ``patient``)."""
    from marrowsim.cohort import draw_cohort
    from marrowsim.io.scenario import load_scenario

    sc = load_scenario(scenario, overrides or {})
    values = sc.typical_values()
    name = sc.name
    if patient is not None:
        if isinstance(patient, bool) or not isinstance(patient, int) or patient < 0:
            raise InputError(f"--patient: {patient!r} must be a whole number >= 0")
        drawn = draw_cohort(values, patient + 1, seed)
        values = {k: float(v[patient]) for k, v in drawn.items()}
        name = f"{sc.name}_patient_{patient}_seed_{seed}"
    return export_sbml(model or default_model(), values, name=name, description=sc.description)


def state_scales(scenario: Any = "immune-aa", *, model: Model | None = None) -> dict[str, float]:
    """Typical magnitude of each state (its healthy value, or its declared
    scale), by id: multiply by a small number to give another simulator the
    per-state absolute tolerances marrowsim uses. A single absolute tolerance
    for all states spans values from 1e-2 to 1e6 badly (CVODE's BDF stalls at
    the immune trigger with 1e-12 for every state)."""
    from marrowsim.io.scenario import load_scenario

    model = model or default_model()
    values = load_scenario(scenario).typical_values()
    matrix = model.parameter_matrix({k: np.array([v]) for k, v in values.items()})
    scale = model.state_scale(model.steady_state(matrix))[0]
    return dict(zip(model.state_names, (float(x) for x in scale), strict=True))
