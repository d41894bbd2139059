"""Generate the compiled model module from the traced equations.

From a :class:`~marrowsim.model.Model` this writes one Python module holding
straight-line numba functions:

* ``rhs(y, p, u, dy)``: the right-hand side;
* ``jac(y, p, u, jv)``: the analytic Jacobian's structural nonzeros (sympy);
* ``factor(jv, shift, lu)``: LU of ``shift * I - J`` on the static sparsity
  pattern (with fill-in), eliminating in a fill-reducing order without row
  exchanges and storing reciprocal pivots; it returns False when a pivot is too small relative to its row, and
  the integrator then falls back to a dense LU with partial pivoting;
* ``solve(lu, b)``: forward and back substitution on that pattern;
* ``readouts(y, p, r)``: the clinical readouts;
* ``event_triggers(y, p, u, g)``: the trigger of every declared event (a
  visit is an event on its clock), ``event_apply(k, y, p, u, uset)``: event
  ``k``'s jumps (into ``y``, every new value from the pre-event state) and the
  inputs it sets (into ``uset``), ``event_condition(k, y, p, u)``: whether its
  ``when`` holds, and ``event_skip(k, y, p, u)``: the jumps it makes where it
  does not (a visit's clock restart); with no events these are empty stubs
  that the kernel never calls, and with no conditions ``ANY_CONDITION`` is
  False and the kernel's condition test compiles away;
* ``extend(p)``: the parameter vector followed by every parameter-only
  subexpression of the functions above (divisions by parameters, products of
  rate constants), computed once per patient instead of at every call; the
  functions above take this extended vector as ``p``;

followed by the Rosenbrock kernel (``kernel_template.py``). The file name holds
a hash of its source, and numba caches its machine code beside it, so a second
run with the same model compiles nothing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from dataclasses import dataclass
from importlib import resources
from types import ModuleType
from typing import Any

from marrowsim._cache import cache_dir, write_atomically
from marrowsim.model import Model, store_trace

__all__ = ["cache_dir", "compiled_module", "generate_source", "sparsity", "structure_key"]

CODEGEN_VERSION = "6"
# numpy's error model: a division by zero gives inf/nan (the step is then
# rejected) instead of raising inside the parallel loop
NJIT = "@nb.njit(cache=True, error_model='numpy')"


def _printer() -> Any:
    """Plain ``math`` module printing that numba compiles (sympy is imported
    only when a model's source is generated, never on a warm run)."""
    from sympy.printing.pycode import PythonCodePrinter

    class _Printer(PythonCodePrinter):
        def _print_Pow(self, expr: Any, rational: bool = False) -> str:
            base, exponent = expr.as_base_exp()
            if exponent == -1:
                return f"(1.0/({self._print(base)}))"
            if exponent.is_Integer and 1 < int(exponent) <= 4:
                b = f"({self._print(base)})"
                return "(" + "*".join([b] * int(exponent)) + ")"
            return str(super()._print_Pow(expr, rational=rational))

    return _Printer({"fully_qualified_modules": True, "standard": "python3"})


@dataclass(frozen=True)
class SparsePattern:
    """Nonzeros of the Jacobian and of its LU factors (with fill-in)."""

    n: int
    jacobian: tuple[tuple[int, int], ...]  # (row, col) of each Jacobian value
    lu: tuple[tuple[int, int], ...]  # (row, col) of each slot of the factor
    order: tuple[int, ...]  # elimination order (state indices)

    @property
    def fill(self) -> int:
        return len(self.lu) - len(set(self.jacobian) | {(i, i) for i in range(self.n)})


def _symbolic_lu(n: int, entries: set[tuple[int, int]], order: list[int]) -> set[tuple[int, int]]:
    pattern = set(entries) | {(i, i) for i in range(n)}
    position = {v: k for k, v in enumerate(order)}
    rows: dict[int, set[int]] = {i: set() for i in range(n)}
    cols: dict[int, set[int]] = {i: set() for i in range(n)}
    for i, j in pattern:
        rows[i].add(j)
        cols[j].add(i)
    for v in order:
        below = [i for i in cols[v] if position[i] > position[v]]
        right = [j for j in rows[v] if position[j] > position[v]]
        for i in below:
            for j in right:
                if (i, j) not in pattern:
                    pattern.add((i, j))
                    rows[i].add(j)
                    cols[j].add(i)
    return pattern


def _minimum_degree_order(n: int, entries: set[tuple[int, int]]) -> list[int]:
    """Greedy minimum-degree order on the symmetrised pattern (ties by index)."""
    adjacency: dict[int, set[int]] = {i: set() for i in range(n)}
    for i, j in entries:
        if i != j:
            adjacency[i].add(j)
            adjacency[j].add(i)
    order = []
    remaining = set(range(n))
    while remaining:
        v = min(remaining, key=lambda x: (len(adjacency[x]), x))
        order.append(v)
        remaining.remove(v)
        neighbours = adjacency.pop(v)
        for a in neighbours:
            adjacency[a].discard(v)
            adjacency[a] |= neighbours - {a}
    return order


def sparsity(n: int, entries: set[tuple[int, int]]) -> SparsePattern:
    candidates = []
    for order in (list(range(n)), _minimum_degree_order(n, entries)):
        candidates.append((len(_symbolic_lu(n, entries, order)), order))
    _, order = min(candidates, key=lambda c: c[0])
    lu = _symbolic_lu(n, entries, order)
    return SparsePattern(n, tuple(sorted(entries)), tuple(sorted(lu)), tuple(order))


def _unpack(symbols: list[Any], names: dict[Any, str], array: str, used: set[Any]) -> list[str]:
    return [f"    {names[s]} = {array}[{k}]" for k, s in enumerate(symbols) if s in used]


def _body(
    outputs: list[tuple[str, Any]],
    sources: list[tuple[list[Any], str]],
    names: dict[Any, str],
    printer: Any,
    temporary: str,
) -> list[str]:
    """Lines that unpack the symbols used from their arrays, compute common
    subexpressions once, and assign each output expression to its target."""
    import sympy

    temporaries, reduced = sympy.cse(
        [e for _, e in outputs], symbols=sympy.numbered_symbols(temporary), optimizations="basic"
    )
    used: set[Any] = set()
    for e in [e for _, e in temporaries] + list(reduced):
        used |= e.free_symbols
    lines = []
    for symbols, array in sources:
        lines += _unpack(symbols, names, array, used)
    for symbol, e in temporaries:
        lines.append(f"    {symbol} = {printer.doprint(e.xreplace(_renames(e, names)))}")
    for (target, _), e in zip(outputs, reduced, strict=True):
        lines.append(f"    {target} = {printer.doprint(e.xreplace(_renames(e, names)))}")
    return lines


def _function(
    name: str,
    args: str,
    outputs: list[tuple[str, Any]],
    model: Model,
    names: dict[Any, str],
    printer: Any,
    parameters: list[Any],
) -> str:
    sources = [(list(model.state_symbols), "y"), (parameters, "p")]
    if "u" in args.split(", "):
        sources.append((list(model.input_symbols), "u"))
    lines = [NJIT, f"def {name}({args}):"]
    lines += _body(outputs, sources, names, printer, "t_")
    lines.append("    return 0")
    return "\n".join(lines)


def _renames(expr: Any, names: dict[Any, str]) -> dict[Any, Any]:
    import sympy

    return {s: sympy.Symbol(names[s]) for s in expr.free_symbols if s in names}


class _Hoister:
    """Moves parameter-only subexpressions out of the time loop.

    ``a * p1 / p2`` becomes ``a * c_0`` with ``c_0 = p1 / p2`` computed once per
    patient; sums and products are split into their parameter-only part and
    the rest, so the constant part is hoisted even when it is not a subtree.
    """

    def __init__(self, parameters: set[Any]) -> None:
        self.parameters = parameters
        self.constants: dict[Any, Any] = {}  # expression -> symbol

    def _constant(self, expr: Any) -> Any:
        import sympy

        if expr.is_Atom:
            return expr
        if expr not in self.constants:
            self.constants[expr] = sympy.Symbol(f"c_{len(self.constants)}", real=True)
        return self.constants[expr]

    def __call__(self, expr: Any) -> Any:
        if expr.is_Atom:
            return expr
        if expr.free_symbols <= self.parameters:
            return self._constant(expr)
        if expr.is_Add or expr.is_Mul:
            fixed = [a for a in expr.args if a.free_symbols <= self.parameters]
            varying = [self(a) for a in expr.args if not a.free_symbols <= self.parameters]
            if len(fixed) > 1 or (fixed and not all(a.is_Atom for a in fixed)):
                fixed = [self._constant(expr.func(*fixed))]
            return expr.func(*fixed, *varying)
        if expr.is_Piecewise:
            # hoist within each branch and condition, never a (value, condition) pair
            return expr.func(*[(self(e), self(c)) for e, c in expr.args])
        return expr.func(*[self(a) for a in expr.args])


def generate_source(model: Model) -> tuple[str, SparsePattern]:
    """Python source of the compiled model module, and its sparsity pattern."""
    import sympy

    printer = _printer()
    names: dict[Any, str] = {}
    for s in model.state_symbols:
        names[s] = f"s_{s.name}"
    for s in model.parameter_symbols:
        names[s] = f"p_{s.name}"
    for s in model.input_symbols:
        names[s] = f"u_{s.name}"

    rates = [model.rate_exprs[n] for n in model.state_names]
    index = {s: k for k, s in enumerate(model.state_symbols)}
    jacobian: list[tuple[int, int, Any]] = []
    for i, rate in enumerate(rates):
        for s in sorted(rate.free_symbols & set(index), key=lambda x: index[x]):
            # sympy writes d(x**n)/dx as n*x**n/x, which is 0/0 at x = 0 for a
            # symbolic n (an empty compartment); combine it to n*x**(n - 1)
            d = sympy.powsimp(sympy.diff(rate, s), combine="exp")
            if d != 0:
                jacobian.append((i, index[s], d))
    pattern = sparsity(len(rates), {(i, j) for i, j, _ in jacobian})
    # the jac function writes entries in the pattern's sorted order
    derivative = {(i, j): d for i, j, d in jacobian}

    hoist = _Hoister(set(model.parameter_symbols))
    rates_hoisted = [hoist(r) for r in rates]
    jacobian_hoisted = [hoist(derivative[ij]) for ij in pattern.jacobian]
    readouts_hoisted = [hoist(model.readout_exprs[n]) for n in model.readout_names]
    constant_symbols = list(hoist.constants.values())
    for c in constant_symbols:
        names[c] = c.name
    extended = list(model.parameter_symbols) + constant_symbols
    n_parameters = len(model.parameter_symbols)

    parts = [
        f"# generated by marrowsim.engine.codegen (version {CODEGEN_VERSION}); do not edit",
        "import math",
        "import numba as nb",
        "import numpy as np",
        "",
        f"N_STATES = {len(rates)}",
        f"N_READOUTS = {len(model.readout_names)}",
        f"N_JAC = {len(pattern.jacobian)}",
        f"N_LU = {len(pattern.lu)}",
        f"JAC_ROWS = np.array({[i for i, _ in pattern.jacobian]}, dtype=np.int64)",
        f"JAC_COLS = np.array({[j for _, j in pattern.jacobian]}, dtype=np.int64)",
        f"N_PARAMETERS = {n_parameters}",
        f"N_EXTENDED = {len(extended)}",
        "",
        _constants_function(hoist.constants, model, names, printer, n_parameters),
        "",
        _function(
            "rhs",
            "y, p, u, dy",
            [(f"dy[{k}]", r) for k, r in enumerate(rates_hoisted)],
            model,
            names,
            printer,
            extended,
        ),
        "",
        _function(
            "jac",
            "y, p, u, jv",
            [(f"jv[{k}]", d) for k, d in enumerate(jacobian_hoisted)],
            model,
            names,
            printer,
            extended,
        ),
        "",
        _function(
            "readouts",
            "y, p, r",
            [(f"r[{k}]", r) for k, r in enumerate(readouts_hoisted)],
            model,
            names,
            printer,
            extended,
        ),
        "",
        _lu_functions(pattern),
        "",
        _event_functions(model, names, printer),
        "",
        resources.files("marrowsim.engine").joinpath("kernel_template.py").read_text(),
    ]
    return "\n".join(parts), pattern


def _event_functions(model: Model, names: dict[Any, str], printer: Any) -> str:
    """Constants and functions of the declared events (the kernel's event
    code is compiled only when ``N_EVENTS > 0``)."""
    events = model.events
    n_inputs = max(len(model.input_names), 1)
    sets = [
        [name in e.inputs for name in model.input_names]
        + [False] * (n_inputs - len(model.input_names))
        for e in events
    ]
    lines = [
        f"N_EVENTS = {len(events)}",
        f"EVENT_DIRECTION = np.array({[e.direction for e in events]}, dtype=np.int64)",
        f"EVENT_TERMINAL = np.array({[e.terminal for e in events]}, dtype=np.bool_)",
        f"EVENT_SETS_INPUT = np.array({sets}, dtype=np.bool_).reshape(({len(events)}, {n_inputs}))",
        f"ANY_CONDITION = {any(e.when is not None for e in events)}",
        "",
        "",
    ]
    parameters = list(model.parameter_symbols)
    sources = [
        (list(model.state_symbols), "y"),
        (parameters, "p"),
        (list(model.input_symbols), "u"),
    ]
    lines += [NJIT, "def event_triggers(y, p, u, g):"]
    if events:
        outputs = [(f"g[{k}]", e.trigger) for k, e in enumerate(events)]
        lines += _body(outputs, sources, names, printer, "t_")
    lines += ["    return 0", "", ""]
    index = {name: k for k, name in enumerate(model.state_names)}
    inputs = {name: k for k, name in enumerate(model.input_names)}
    for k, e in enumerate(events):
        jumps = {**e.unconditional_jumps, **e.jumps}
        outputs = [(f"y[{index[n]}]", v) for n, v in jumps.items()]
        outputs += [(f"uset[{inputs[n]}]", v) for n, v in e.inputs.items()]
        lines += [NJIT, f"def event_apply_{k}(y, p, u, uset):"]
        if outputs:
            lines += _body(outputs, sources, names, printer, "t_")
        lines += ["    return 0", "", ""]
        if e.when is not None:
            lines += [NJIT, f"def event_condition_{k}(y, p, u):"]
            lines += _body([("holds", e.when)], sources, names, printer, "t_")
            lines += ["    return holds", "", ""]
            lines += [NJIT, f"def event_skip_{k}(y, p, u):"]
            skipped = [(f"y[{index[n]}]", v) for n, v in e.unconditional_jumps.items()]
            if skipped:
                lines += _body(skipped, sources, names, printer, "t_")
            lines += ["    return 0", "", ""]
    lines += [NJIT, "def event_apply(k, y, p, u, uset):"]
    for k in range(len(events)):
        lines += [f"    if k == {k}:", f"        event_apply_{k}(y, p, u, uset)"]
    lines += ["    return 0", "", ""]
    conditional = [k for k, e in enumerate(events) if e.when is not None]
    lines += [NJIT, "def event_condition(k, y, p, u):"]
    for k in conditional:
        lines += [f"    if k == {k}:", f"        return event_condition_{k}(y, p, u)"]
    lines += ["    return True", "", ""]
    lines += [NJIT, "def event_skip(k, y, p, u):"]
    for k in conditional:
        lines += [f"    if k == {k}:", f"        event_skip_{k}(y, p, u)"]
    lines.append("    return 0")
    return "\n".join(lines)


def _constants_function(
    constants: dict[Any, Any],
    model: Model,
    names: dict[Any, str],
    printer: Any,
    n_parameters: int,
) -> str:
    """``extend(p)``: the parameter vector followed by the hoisted constants.
    The functions below take this extended vector as their ``p``."""
    outputs = [(f"pc[{n_parameters + k}]", e) for k, e in enumerate(constants)]
    lines = [NJIT, "def extend(p):", "    pc = np.empty(N_EXTENDED)"]
    lines.append("    for k in range(N_PARAMETERS):")
    lines.append("        pc[k] = p[k]")
    lines += _body(outputs, [(list(model.parameter_symbols), "p")], names, printer, "k_")
    lines.append("    return pc")
    return "\n".join(lines)


def _lu_functions(pattern: SparsePattern) -> str:
    """Straight-line LU factorisation and solve on the static pattern."""
    slot = {ij: k for k, ij in enumerate(pattern.lu)}
    n = pattern.n
    position = {v: k for k, v in enumerate(pattern.order)}
    rows: dict[int, list[int]] = {i: [] for i in range(n)}
    for i, j in pattern.lu:
        rows[i].append(j)

    jac_slots = [slot[ij] for ij in pattern.jacobian]
    f = [
        f"JAC_SLOTS = np.array({jac_slots}, dtype=np.int64)",
        "# a pivot smaller than this times the largest entry of its row risks",
        "# element growth without row exchanges: refuse, and let the kernel",
        "# factor densely with partial pivoting instead",
        "PIVOT_TOLERANCE = 1e-8",
        "",
        "",
        NJIT,
        "def factor(jv, shift, lu):",
        "    # lu = shift*I - J on the pattern, fill slots zeroed",
        "    for k in range(N_LU):",
        "        lu[k] = 0.0",
    ]
    f.append("    for k in range(N_JAC):")
    f.append("        lu[JAC_SLOTS[k]] = -jv[k]")
    for i in range(n):
        f.append(f"    lu[{slot[(i, i)]}] += shift")
    # row scale for the pivot test: largest magnitude in each row before elimination
    for v in pattern.order:
        entries = " , ".join(f"abs(lu[{slot[(v, j)]}])" for j in rows[v])
        f.append(f"    scale{v} = max({entries}, 0.0)")
    for v in pattern.order:
        pv = slot[(v, v)]
        f.append(f"    if not abs(lu[{pv}]) > PIVOT_TOLERANCE * scale{v}:")
        f.append("        return False")
        # the diagonal slot keeps the pivot's reciprocal: solves multiply
        f.append(f"    lu[{pv}] = 1.0 / lu[{pv}]")
        below = [i for i in range(n) if (i, v) in slot and position[i] > position[v]]
        right = [j for j in rows[v] if position[j] > position[v]]
        for i in below:
            f.append(f"    lu[{slot[(i, v)]}] *= lu[{pv}]")
            for j in right:
                f.append(f"    lu[{slot[(i, j)]}] -= lu[{slot[(i, v)]}] * lu[{slot[(v, j)]}]")
    f.append("    return True")

    s = [
        NJIT,
        "def solve(lu, b):",
        "    # L y = b (unit lower), then U x = y; in place",
    ]
    for v in pattern.order:
        for j in rows[v]:
            if position[j] < position[v]:
                s.append(f"    b[{v}] -= lu[{slot[(v, j)]}] * b[{j}]")
    for v in reversed(pattern.order):
        for j in rows[v]:
            if position[j] > position[v]:
                s.append(f"    b[{v}] -= lu[{slot[(v, j)]}] * b[{j}]")
        s.append(f"    b[{v}] *= lu[{slot[(v, v)]}]")
    s.append("    return 0")
    return "\n".join(f) + "\n\n\n" + "\n".join(s)


_LOADED: dict[str, ModuleType] = {}


def compiled_module(model: Model) -> ModuleType:
    """Import (generating on first use) the compiled module for ``model``."""
    key = structure_key(model)
    if key in _LOADED:
        return _LOADED[key]
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    name = f"marrowsim_model_{key}"
    path = directory / f"{name}.py"
    if not path.exists():
        source, _ = generate_source(model)
        write_atomically(path, source)
    # keep the traced model beside its compiled code (model.load_trace)
    store_trace(model, key, directory)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    _LOADED[key] = module
    return module


def structure_key(model: Model) -> str:
    """Hash of everything the generated source depends on (memoised on the model)."""
    cached = getattr(model, "_structure_key", None)
    if cached is not None:
        return str(cached)
    import sympy

    digest = hashlib.sha256()
    digest.update(CODEGEN_VERSION.encode())
    for part in ("kernel_template.py", "codegen.py"):
        digest.update(resources.files("marrowsim.engine").joinpath(part).read_bytes())
    for name in model.state_names:
        digest.update(f"{name}={sympy.srepr(model.rate_exprs[name])};".encode())
    for name in model.readout_names:
        digest.update(f"{name}={sympy.srepr(model.readout_exprs[name])};".encode())
    for e in model.events:
        digest.update(f"{e.name}:{e.direction}:{e.terminal}:{sympy.srepr(e.trigger)};".encode())
        digest.update(f"when={sympy.srepr(e.when)};".encode())
        for name, expr in [*e.jumps.items(), *e.inputs.items()]:
            digest.update(f"{name}={sympy.srepr(expr)};".encode())
        for name, expr in e.unconditional_jumps.items():
            digest.update(f"always {name}={sympy.srepr(expr)};".encode())
    digest.update(repr(model.all_parameter_names).encode())
    digest.update(repr(model.input_names).encode())
    key = digest.hexdigest()[:20]
    model._structure_key = key  # type: ignore[attr-defined]
    return key
