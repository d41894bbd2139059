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
) -> tuple[np.ndarray, np.ndarray]:
    """Integrate patients one by one with ``scipy.integrate.solve_ivp``.

    Returns readouts (patients, days, readouts) and states (patients, days,
    states). Without ``analytic_jacobian`` scipy estimates the Jacobian by
    finite differences. Raises RuntimeError if scipy fails.
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
    for i in range(n_patients):
        p = params[i] if python is not None else module.extend(params[i])
        y = y0[i].copy()
        for s in range(n_seg[i]):
            t0, t1 = seg_t[i, s], seg_t[i, s + 1]
            u = seg_u[i, s]
            inside = (t_out >= t0) & (t_out <= t1) if s == 0 else (t_out > t0) & (t_out <= t1)

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

            solution = solve_ivp(
                f,
                (t0, t1),
                y,
                method=method,
                dense_output=True,
                rtol=rtol,
                atol=atol * scale[i],
                jac=jacobian if analytic_jacobian and method in ("Radau", "BDF", "LSODA") else None,
            )
            if not solution.success:
                raise RuntimeError(f"scipy {method} failed for patient {i}: {solution.message}")
            if inside.any():
                states[i, inside] = solution.sol(t_out[inside]).T
            y = solution.y[:, -1]
    r = np.empty(len(model.readout_names))
    for i in range(n_patients):
        extended = module.extend(params[i])
        for j in range(len(t_out)):
            module.readouts(states[i, j], extended, r)
            readouts[i, j] = r
    return readouts, states


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
