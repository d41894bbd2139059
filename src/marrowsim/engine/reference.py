"""A scipy reference integrator over the same compiled model functions.

Used to check the Rosenbrock kernel's accuracy (Radau or LSODA at tight
tolerances) and as the per-patient Python-loop baseline of the benchmarks. It
integrates one patient at a time, segment by segment, exactly as the kernel
does, and evaluates the readouts with the same generated function.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.integrate import solve_ivp

from marrowsim.engine import segments
from marrowsim.engine.codegen import compiled_module
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
) -> tuple[np.ndarray, np.ndarray]:
    """Integrate patients one by one with ``scipy.integrate.solve_ivp``.

    Returns readouts (patients, days, readouts) and states (patients, days,
    states). Raises RuntimeError if scipy fails.
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
    for i in range(n_patients):
        p = params[i]
        y = y0[i].copy()
        for s in range(n_seg[i]):
            t0, t1 = seg_t[i, s], seg_t[i, s + 1]
            u = seg_u[i, s]
            inside = (t_out >= t0) & (t_out <= t1) if s == 0 else (t_out > t0) & (t_out <= t1)

            def f(t: float, y: np.ndarray, u: np.ndarray = u, p: np.ndarray = p) -> np.ndarray:
                dy = np.empty(n_states)
                module.rhs(y, p, u, dy)
                return dy

            def jacobian(
                t: float, y: np.ndarray, u: np.ndarray = u, p: np.ndarray = p
            ) -> np.ndarray:
                module.jac(y, p, u, jv)
                dense = np.zeros((n_states, n_states))
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
                jac=jacobian if method in ("Radau", "BDF", "LSODA") else None,
            )
            if not solution.success:
                raise RuntimeError(f"scipy {method} failed for patient {i}: {solution.message}")
            if inside.any():
                states[i, inside] = solution.sol(t_out[inside]).T
            y = solution.y[:, -1]
    r = np.empty(len(model.readout_names))
    for i in range(n_patients):
        for j in range(len(t_out)):
            module.readouts(states[i, j], params[i], r)
            readouts[i, j] = r
    return readouts, states
