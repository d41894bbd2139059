"""A scipy reference integrator over the same model equations.

Used to check the Rosenbrock kernel's accuracy (Radau or LSODA at tight
tolerances) and as the per-patient Python-loop baseline of the benchmarks. It
integrates one patient at a time, segment by segment, exactly as the kernel
does, and evaluates the readouts with the same generated function. The
right-hand side and Jacobian are either the compiled ones (``functions=
"compiled"``) or plain Python made by ``sympy.lambdify`` from the same traced
equations (``"python"``: what a modeller writing a scipy model would have).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sympy
from scipy.integrate import solve_ivp

from marrowsim.engine import segments
from marrowsim.engine.codegen import compiled_module, structure_key
from marrowsim.mechanisms import InputChange
from marrowsim.model import Model


def integrate_reference(
    model: Model,
    y0: np.ndarray,
    params: np.ndarray,
    changes: Sequence[InputChange],
    t_out: np.ndarray,
    *,
    method: str = "Radau",
    rtol: float = 1e-10,
    atol_scale: np.ndarray | None = None,
    atol: float = 1e-12,
    functions: str = "compiled",
    analytic_jacobian: bool = True,
    event_log: list[tuple[int, float, str]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Integrate patients one by one with ``scipy.integrate.solve_ivp``.

    Returns readouts (patients, days, readouts) and states (patients, days,
    states). Without ``analytic_jacobian`` scipy estimates the Jacobian by
    finite differences. Raises RuntimeError if scipy fails.

    With an ``event_log`` list, the model's events are located by scipy's own
    event finder (each trigger a terminal event function with its direction),
    acted on with the compiled actions, and logged as (patient, day, name); a
    terminal event leaves NaN after it. Without it, events are ignored.
    """
    module = compiled_module(model)
    y0 = np.atleast_2d(np.asarray(y0, dtype=float))
    params = np.atleast_2d(np.asarray(params, dtype=float))
    t_out = np.asarray(t_out, dtype=float)
    n_patients, n_states = y0.shape
    seg_t, seg_u, n_seg = segments(model, changes, n_patients, float(t_out[0]), float(t_out[-1]))
    scale = model.state_scale(y0) if atol_scale is None else np.broadcast_to(atol_scale, y0.shape)
    states = np.empty((n_patients, len(t_out), n_states))
    readouts = np.empty((n_patients, len(t_out), len(model.readout_names)))
    jv = np.empty(module.N_JAC)
    python = _python_functions(model) if functions == "python" else None
    if functions not in ("python", "compiled"):
        raise ValueError(f"functions must be 'compiled' or 'python', not {functions!r}")
    with_events = event_log is not None and module.N_EVENTS > 0
    for i in range(n_patients):
        p = params[i] if python is not None else module.extend(params[i])
        extended = module.extend(params[i])
        y = y0[i].copy()
        held = np.zeros(seg_u.shape[2], dtype=bool)
        held_u = np.zeros(seg_u.shape[2])
        ended = False
        before: np.ndarray | None = None  # triggers just before a discontinuity

        def fire(
            fired: list[int],
            t: float,
            y: np.ndarray,
            u: np.ndarray,
            i: int = i,
            extended: np.ndarray = extended,
        ) -> bool:
            """Act on the events ``fired`` at ``t`` in declaration order, as
            the kernel does; True if one ended the course."""
            nonlocal held, held_u
            assert event_log is not None
            for k in fired:
                if module.ANY_CONDITION and not module.event_condition(k, y, extended, u):
                    module.event_skip(k, y, extended, u)
                    continue
                uset = u.copy()
                module.event_apply(k, y, extended, u, uset)
                event_log.append((i, t, model.event_names[k]))
                sets = module.EVENT_SETS_INPUT[k]
                held = held | sets
                held_u = np.where(sets, uset, held_u)
                u[:] = np.where(held, held_u, u)
                if module.EVENT_TERMINAL[k]:
                    return True
            return False

        for s in range(n_seg[i]):
            if ended:
                break
            t0, t1 = seg_t[i, s], seg_t[i, s + 1]
            u = np.where(held, held_u, seg_u[i, s])
            inside = (t_out >= t0) & (t_out <= t1) if s == 0 else (t_out > t0) & (t_out <= t1)
            if with_events:
                # a trigger the new inputs carry over zero fires at once
                g = np.empty(module.N_EVENTS)
                module.event_triggers(y, extended, u, g)
                if before is not None:
                    crossed = np.zeros(module.N_EVENTS, dtype=bool)
                    module.crossings(before, g, crossed)  # the kernel's own rule
                    ended = fire([int(k) for k in np.flatnonzero(crossed)], float(t0), y, u)
                    if ended:
                        states[i, t_out >= t0] = np.nan
                        states[i, inside & (t_out == t0)] = y
                        break
                before = g
            if not t1 > t0:
                states[i, inside] = y
                continue

            def f(t: float, y: np.ndarray, u: np.ndarray = u, p: np.ndarray = p) -> np.ndarray:
                if python is not None:
                    return np.asarray(python[0](y, p, u), dtype=float)
                dy = np.empty(n_states)
                module.rhs(y, p, u, dy)
                return dy

            def jacobian(
                t: float, y: np.ndarray, u: np.ndarray = u, p: np.ndarray = p
            ) -> np.ndarray:
                dense = np.zeros((n_states, n_states))
                if python is not None:
                    dense[module.JAC_ROWS, module.JAC_COLS] = python[1](y, p, u)
                else:
                    module.jac(y, p, u, jv)
                    dense[module.JAC_ROWS, module.JAC_COLS] = jv
                return dense

            armed = np.ones(module.N_EVENTS, dtype=bool)
            triggers = _event_functions(module, extended, u, armed) if with_events else None
            start = t0
            # events that fired and whose trigger has not left its root since:
            # scipy may leave a located root a round-off on the non-firing
            # side, so armed again such an event would fire again at once,
            # forever (the kernel's located step ends on the firing side)
            at_root = np.zeros(module.N_EVENTS, dtype=bool)
            while True:
                if with_events:
                    g = np.empty(module.N_EVENTS)
                    module.event_triggers(y, extended, u, g)
                    at_root &= module.EVENT_DIRECTION * g > -EVENT_ROOT_TOLERANCE
                    armed[:] = (module.EVENT_DIRECTION * g < 0) & ~at_root
                solution = solve_ivp(
                    f,
                    (start, t1),
                    y,
                    method=method,
                    dense_output=True,
                    events=triggers,
                    rtol=rtol,
                    atol=atol * scale[i],
                    jac=jacobian
                    if analytic_jacobian and method in ("Radau", "BDF", "LSODA")
                    else None,
                )
                if not solution.success:
                    raise RuntimeError(f"scipy {method} failed for patient {i}: {solution.message}")
                stop = float(solution.t[-1])
                here = inside & (t_out >= start) & (t_out <= stop)
                if here.any():
                    states[i, here] = solution.sol(t_out[here]).T
                y = solution.y[:, -1].copy()
                if solution.status != 1:  # the segment's end
                    if with_events:
                        before = np.empty(module.N_EVENTS)
                        module.event_triggers(y, extended, u, before)
                    break
                # the event scipy stopped at, and every other armed one on its
                # firing side there, in declaration order (as the kernel does)
                g = np.empty(module.N_EVENTS)
                module.event_triggers(y, extended, u, g)
                over = armed & (module.EVENT_DIRECTION * g >= 0)
                fired = [k for k, te in enumerate(solution.t_events) if len(te) or over[k]]
                ended = fire(fired, stop, y, u)
                at_root[fired] = True
                if ended:
                    states[i, t_out > stop] = np.nan
                    break
                start = stop
    r = np.empty(len(model.readout_names))
    for i in range(n_patients):
        extended = module.extend(params[i])
        for j in range(len(t_out)):
            if np.isnan(states[i, j]).any():
                readouts[i, j] = np.nan
                continue
            module.readouts(states[i, j], extended, r)
            readouts[i, j] = r
    return readouts, states


# |trigger| within which an event that has just fired is still at its root
EVENT_ROOT_TOLERANCE = 1e-9


def _event_functions(
    module: Any, p: np.ndarray, u: np.ndarray, armed: np.ndarray
) -> list[Callable[..., float]]:
    """scipy event functions of the model's triggers (terminal, directed). An
    event is ``armed`` only while its trigger is strictly on the non-firing
    side at the start of a piece: scipy counts a trigger that leaves zero as a
    crossing, so one that fired and stays over zero would fire again at once."""
    g = np.empty(module.N_EVENTS)

    def trigger(k: int) -> Callable[..., float]:
        def value(t: float, y: np.ndarray) -> float:
            if not armed[k]:
                return -float(module.EVENT_DIRECTION[k])  # never crosses
            module.event_triggers(y, p, u, g)
            return float(g[k])

        value.terminal = True  # type: ignore[attr-defined]
        value.direction = float(module.EVENT_DIRECTION[k])  # type: ignore[attr-defined]
        return value

    return [trigger(k) for k in range(module.N_EVENTS)]


_PYTHON: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {}


def _python_functions(model: Model) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Plain-Python right-hand side and Jacobian entries (in the compiled
    module's JAC_ROWS/JAC_COLS order), lambdified from the traced equations."""
    key = structure_key(model)
    if key not in _PYTHON:
        module = compiled_module(model)
        states = list(model.state_symbols)
        rates = [model.rate_exprs[n] for n in model.state_names]
        entries = [
            sympy.diff(rates[i], states[j])
            for i, j in zip(module.JAC_ROWS, module.JAC_COLS, strict=True)
        ]
        arguments = [states, list(model.parameter_symbols), list(model.input_symbols)]
        _PYTHON[key] = (
            sympy.lambdify(arguments, rates, modules="math", cse=True),
            sympy.lambdify(arguments, entries, modules="math", cse=True),
        )
    return _PYTHON[key]
