"""The engine: the only place that knows the flat state array.

``integrate`` runs a cohort through the compiled model module: each patient is
integrated alone (its own steps, its own error control) by a Rosenbrock method,
segment by segment between input changes, in parallel over cores; results are
filled at the requested days from the method's dense output.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from marrowsim.engine.codegen import compiled_module
from marrowsim.errors import InputError
from marrowsim.mechanisms import InputChange
from marrowsim.model import Model
from marrowsim.status import STATUS_ENDED_BY_EVENT, STATUS_MESSAGES

__all__ = [
    "EVENT_CAPACITY",
    "STATUS_ENDED_BY_EVENT",
    "STATUS_MESSAGES",
    "Integration",
    "Solver",
    "integrate",
    "segments",
    "thread_count",
]

# events logged per patient, at least (one every other day of the run); more
# are counted, not logged, except a terminal event, which is always the last
EVENT_CAPACITY = 256


@dataclass(frozen=True)
class Solver:
    """Integrator settings.

    ``rtol`` is the relative tolerance; ``atol`` is an absolute tolerance
    relative to each state's typical magnitude (its healthy value, or the scale
    its mechanism declares). ``max_steps`` caps accepted plus rejected steps per
    patient; ``max_step`` caps the step size (days).

    The defaults keep the readouts within the contract of DESIGN section 4
    (worst relative error < 1e-4 against scipy Radau at rtol 1e-10; measured
    3.8e-5 on immune-aa and immune-aa-mild, tests/test_engine.py) at a cost a
    100,000-patient trial can bear: rtol 1e-6 / atol 1e-8 gave 3.3e-6 with
    2.4x the wall time of an immune-aa-ist cohort (658 vs 368 steps a patient
    over 2 years), a precision far below any biological or Monte Carlo
    spread; rtol 1e-5 / atol 1e-6 gave 8.1e-5, too near the contract.
    """

    rtol: float = 1e-5
    atol: float = 1e-7
    max_steps: int = 500_000
    max_step: float = float("inf")

    def __post_init__(self) -> None:
        from marrowsim.io import inputs

        inputs.number("solver.rtol", self.rtol, ge=1e-14, le=1e-1)
        inputs.number("solver.atol", self.atol, gt=0, le=1e-1)
        if not (isinstance(self.max_step, int | float) and self.max_step == float("inf")):
            inputs.number("solver.max_step", self.max_step, gt=0)
        inputs.whole("solver.max_steps", self.max_steps, ge=1, le=10**9)


@dataclass(frozen=True)
class Integration:
    """Raw engine output. Shapes: ``readouts`` (patients, days, readouts);
    ``states`` (patients, days, states) or None; per patient ``status``
    (0 ok, 3 ended by a terminal event), ``steps`` and ``rejected`` counts.

    The event log: ``event_count`` (patients,) events that fired, and the
    first of them in order (at least ``EVENT_CAPACITY``; a terminal event is
    kept as the last even in a full log), ``event_days`` and
    ``event_index`` (patients, capacity; NaN and -1 past the count), the
    index naming ``event_names``. ``event_overflow`` flags patients with more
    events than the log holds. A terminal event is its patient's last.
    ``final_states`` (patients, states): the state where each course ended (the
    last output day, or the time of its terminal event)."""

    readouts: np.ndarray
    states: np.ndarray | None
    status: np.ndarray
    steps: np.ndarray
    rejected: np.ndarray
    event_names: tuple[str, ...] = ()
    event_count: np.ndarray | None = None
    event_days: np.ndarray | None = None
    event_index: np.ndarray | None = None
    final_states: np.ndarray | None = None

    @property
    def event_overflow(self) -> np.ndarray:
        if self.event_count is None or self.event_days is None:
            return np.zeros(len(self.status), dtype=bool)
        return np.asarray(self.event_count > self.event_days.shape[1])

    def event_table(self) -> list[tuple[int, float, str]]:
        """(patient, day, event name) of every logged event, in order."""
        if self.event_count is None or self.event_days is None or self.event_index is None:
            return []
        rows = []
        for i in range(len(self.status)):
            for j in range(min(int(self.event_count[i]), self.event_days.shape[1])):
                rows.append(
                    (i, float(self.event_days[i, j]), self.event_names[int(self.event_index[i, j])])
                )
        return rows


def segments(
    model: Model, changes: Sequence[InputChange], n_patients: int, t_start: float, t_end: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-patient segment boundaries and the inputs in force in each segment.

    Returns ``seg_t`` (patients, max_segments + 1), ``seg_u`` (patients,
    max_segments, inputs) and ``n_seg`` (patients,).
    """
    index = {name: k for k, name in enumerate(model.input_names)}
    defaults = np.array([i.default for i in model.inputs], dtype=float)
    # an input whose every change sets its default in every patient never
    # changes (an adult's growth steps, a healthy repair capacity's damage
    # steps): its changes would only be sorted and merged away, patient by
    # patient
    idle = {
        name
        for name in {c.input for c in changes}
        if all(
            np.all(np.asarray(c.value, dtype=float) == defaults[index[name]])
            for c in changes
            if c.input == name
        )
    }
    changes = [c for c in changes if c.input not in idle]
    n_changes = len(changes)
    days = np.empty((n_patients, n_changes))
    values = np.empty((n_patients, n_changes))
    for k, c in enumerate(changes):
        days[:, k] = np.broadcast_to(np.asarray(c.day, dtype=float), (n_patients,))
        values[:, k] = np.broadcast_to(np.asarray(c.value, dtype=float), (n_patients,))
    target = np.array([index[c.input] for c in changes], dtype=np.int64)
    seg_t, seg_u, n_seg = _patient_segments(
        days, values, target, defaults, float(t_start), float(t_end)
    )
    width = int(n_seg.max(initial=1))  # every patient has at least one segment
    seg_t = np.ascontiguousarray(seg_t[:, : width + 1])
    seg_u = np.ascontiguousarray(seg_u[:, :width])
    return seg_t, seg_u, n_seg


@numba.njit(cache=True)
def _patient_segments(days, values, target, defaults, t_start, t_end):
    """Each patient's segments from its changes (day and value of change k on
    input ``target[k]``), in day order (ties in declaration order): a change on
    the first day opens the course with a segment of no length holding the
    inputs before it, so that the kernel sees the change as a discontinuity (a
    trigger it carries over fires); a change that leaves every input as it
    was makes no new segment. Wider than needed: ``segments`` trims it."""
    n_patients, n_changes = days.shape
    n_inputs = defaults.shape[0]
    width = n_changes + 1
    seg_t = np.full((n_patients, width + 1), t_end)  # unused bounds stay t_end
    seg_u = np.zeros((n_patients, width, max(n_inputs, 1)))
    n_seg = np.zeros(n_patients, dtype=np.int64)
    u = np.empty(n_inputs)
    for i in range(n_patients):
        order = np.argsort(days[i], kind="mergesort")  # stable: ties by k
        u[:] = defaults
        count = 0  # segments kept so far; seg_t[i, count] starts the open one
        seg_t[i, 0] = t_start
        for m in range(n_changes):
            k = order[m]
            day = days[i, k]
            if day >= t_start and day < t_end and (day > seg_t[i, count] or count == 0):
                count = _close_segment(seg_u[i], count, u)
                seg_t[i, count] = day
            if day < t_end:
                u[target[k]] = values[i, k]
        n_seg[i] = _close_segment(seg_u[i], count, u)
        seg_t[i, n_seg[i]] = t_end
    return seg_t, seg_u, n_seg


@numba.njit(cache=True)
def _close_segment(seg_u, count, u):
    """Keep the open segment with inputs ``u`` as segment ``count``, unless
    they equal the last kept one's (it then runs on); returns the count kept."""
    if count > 0:
        same = True
        for q in range(u.shape[0]):
            if seg_u[count - 1, q] != u[q]:
                same = False
                break
        if same:
            return count
    seg_u[count, : u.shape[0]] = u
    return count + 1


def integrate(
    model: Model,
    y0: np.ndarray,
    params: np.ndarray,
    changes: Sequence[InputChange],
    t_out: np.ndarray,
    *,
    solver: Solver | None = None,
    atol_scale: np.ndarray | None = None,
    save_states: bool = False,
    workers: int | None = None,
) -> Integration:
    """Integrate every patient from ``t_out[0]`` to ``t_out[-1]``.

    ``y0`` (patients, states) and ``params`` (patients, parameters + derived)
    are in the model's layout; ``t_out`` (days,) is increasing.
    """
    solver = solver or Solver()
    module = compiled_module(model)
    y0 = np.ascontiguousarray(y0, dtype=float)
    params = np.ascontiguousarray(params, dtype=float)
    t_out = np.ascontiguousarray(t_out, dtype=float)
    n_patients = y0.shape[0]
    if t_out.ndim != 1 or len(t_out) == 0 or np.any(np.diff(t_out) <= 0):
        raise InputError("output days must be a non-empty increasing sequence")
    seg_t, seg_u, n_seg = segments(model, changes, n_patients, float(t_out[0]), float(t_out[-1]))
    if atol_scale is None:
        atol_scale = model.state_scale(y0)
    atol = np.ascontiguousarray(np.broadcast_to(solver.atol * atol_scale, y0.shape), dtype=float)
    out_r = np.empty((n_patients, len(t_out), len(model.readout_names)))
    out_y = np.empty((n_patients, len(t_out) if save_states else 0, y0.shape[1]))
    status = np.zeros(n_patients, dtype=np.int64)
    steps = np.zeros(n_patients, dtype=np.int64)
    rejected = np.zeros(n_patients, dtype=np.int64)
    # room for an event every other day (transfusion support every 4-11 days)
    span = float(t_out[-1] - t_out[0])
    capacity = max(EVENT_CAPACITY, int(span / 2) + 64) if model.event_names else 0
    ev_t = np.full((n_patients, capacity), np.nan)
    ev_k = np.full((n_patients, capacity), -1, dtype=np.int64)
    ev_n = np.zeros(n_patients, dtype=np.int64)
    y_end = np.empty_like(y0)
    threads = thread_count(workers)
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        module.integrate_cohort(
            y0, params, seg_t, seg_u, n_seg, t_out, solver.rtol, atol, solver.max_step, save_states,
            solver.max_steps, model.nonnegative, out_r, out_y, status, steps, rejected,
            ev_t, ev_k, ev_n, y_end,
        )  # fmt: skip
    finally:
        numba.set_num_threads(previous)
    return Integration(
        out_r, out_y if save_states else None, status, steps, rejected,
        model.event_names, ev_n, ev_t, ev_k, y_end,
    )  # fmt: skip


def thread_count(workers: int | None) -> int:
    available = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    if workers is None:
        return max(1, min(available, len(os.sched_getaffinity(0))))
    if workers < 1:
        raise InputError(f"workers: {workers!r} must be >= 1")
    return min(workers, available)
