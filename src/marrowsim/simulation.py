"""The public entry point: ``simulate(scenario, ...) -> Result``.

A single patient is a cohort of one: the typical patient (every parameter at
its table or scenario value) unless ``patients`` asks for drawn virtual
patients. The cohort is integrated in chunks (each patient alone, so chunking
changes nothing) with an optional progress callback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from marrowsim.cohort import typical_patient
from marrowsim.engine import Solver, integrate
from marrowsim.errors import InputError
from marrowsim.io import inputs
from marrowsim.io.scenario import Scenario, load_scenario
from marrowsim.model import Model, default_model
from marrowsim.parameters import load_table
from marrowsim.result import Result

DEFAULT_CHUNK = 1000

__all__ = ["DEFAULT_CHUNK", "Result", "default_model", "simulate"]


def simulate(
    scenario: str | Path | Mapping[str, Any] | Scenario = "immune-aa",
    *,
    patients: int | None = None,
    seed: int = 0,
    days: float | None = None,
    every: float | None = None,
    set: Mapping[str, Any] | None = None,  # named like the CLI option --set
    initial: Mapping[str, float] | None = None,
    solver: Solver | None = None,
    save_states: bool = False,
    workers: int | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Callable[[int, int], None] | None = None,
    model: Model | None = None,
) -> Result:
    """Simulate a scenario for its typical patient or a virtual cohort.

    Parameters
    ----------
    scenario:
        A built-in scenario name (``marrowsim scenarios``), a YAML file, a
        mapping with scenario keys, or a :class:`Scenario`.
    patients:
        ``None`` simulates the typical patient; ``N`` draws N virtual patients
        from the table's population variability with ``seed``.
    days, every:
        Override the scenario's length and output interval (days).
    set:
        Scenario key overrides, as ``--set`` (``{"immune.strength": 0.5}``).
    initial:
        Initial values for named states (default: the healthy steady state).
    solver:
        Tolerances and step limits (:class:`marrowsim.engine.Solver`).
    save_states:
        Keep every state at every output day in ``Result.states``.
    workers:
        Threads for the compiled integrator (default: all usable cores).
    progress:
        Called as ``progress(done_patients, total_patients)`` after each chunk.

    Returns
    -------
    Result
        ``.timecourse`` (DataFrame, one row per patient and day), ``.patients``
        and ``.summary``.
    """
    # every keyword is checked before any work (a trillion patients are
    # refused before a seed is spawned)
    n_patients = (
        None
        if patients is None
        else inputs.whole("patients", patients, ge=1, le=inputs.MAX_PATIENTS)
    )
    seed = inputs.whole("seed", seed, ge=0, le=2**128)
    workers = None if workers is None else inputs.whole("workers", workers, ge=1)
    chunk_size = inputs.whole("chunk_size", chunk_size, ge=1)
    save_states = inputs.flag("save_states", save_states)
    inputs.check_callable("progress", progress)
    if solver is not None and not isinstance(solver, Solver):
        raise InputError(f"solver: expected a marrowsim.Solver, got {inputs.kind(solver)}")
    if model is not None and not isinstance(model, Model):
        raise InputError(f"model: expected a marrowsim.Model, got {inputs.kind(model)}")
    overrides = inputs.mapping("set", set, what="scenario keys to values")
    initial_values = inputs.mapping("initial", initial, what="state names to numbers")
    if days is not None:
        overrides["days"] = days
    if every is not None:
        overrides["every"] = every
    sc = load_scenario(scenario, overrides)
    if sc.every > sc.days:
        if "every" in overrides:
            raise InputError(f"every: {sc.every!r} must not exceed days ({sc.days!r})")
        sc = sc.model_copy(update={"every": sc.days})  # the scenario's default interval
    model = model or default_model()
    per_row = len(model.readout_names) + (len(model.state_names) if save_states else 0)
    inputs.output_rows(n_patients or 1, sc.days, sc.every, per_row)
    for name, value in initial_values.items():
        inputs.key("initial", name)
        if name not in model.state_names:
            raise InputError("initial: " + inputs.unknown_name("state", name, model.state_names))
        initial_values[name] = inputs.number(f"initial.{name}", value, ge=0)
    # the table with the scenario's values, checked against the bounds once
    table = load_table().with_values(sc.parameters, field_prefix="parameters.")
    if n_patients is None:
        values = typical_patient(table.values())
        varying: tuple[str, ...] = ()
        typical = True
    else:
        values = table.draw(n_patients, seed)
        varying = tuple(p.name for p in table.varying() if p.value != 0)
        typical = False
    model.check(values)
    params = model.parameter_matrix(values)
    y0 = model.steady_state(params)
    atol_scale = model.state_scale(y0)
    for name, value in initial_values.items():
        y0[:, model.state_names.index(name)] = value
    # day k * every, without the drift of a float step; the last day is exactly `days`
    n_steps = int(np.floor(sc.days / sc.every * (1 + 1e-12)))
    output_days = np.arange(n_steps + 1) * sc.every
    output_days = output_days[output_days < sc.days * (1 - 1e-12)]
    output_days = np.append(output_days, sc.days)
    changes = model.schedule(values)
    n = params.shape[0]
    readouts = np.empty((n, len(output_days), len(model.readout_names)))
    states = np.empty((n, len(output_days), len(model.state_names))) if save_states else None
    status = np.empty(n, dtype=np.int64)
    steps = np.empty(n, dtype=np.int64)
    rejected = np.empty(n, dtype=np.int64)
    event_log: list[tuple[int, float, str]] = []
    for start in range(0, n, chunk_size):
        stop = min(n, start + chunk_size)
        part = slice(start, stop)
        chunk_changes = [c.subset(part) for c in changes]
        run = integrate(
            model,
            y0[part],
            params[part],
            chunk_changes,
            output_days,
            solver=solver,
            atol_scale=atol_scale[part],
            save_states=save_states,
            workers=workers,
        )
        readouts[part] = run.readouts
        if states is not None and run.states is not None:
            states[part] = run.states
        status[part], steps[part], rejected[part] = run.status, run.steps, run.rejected
        event_log += [(start + i, day, name) for i, day, name in run.event_table()]
        if progress is not None:
            progress(stop, n)
    return Result(
        scenario=sc,
        days=output_days,
        readout_names=model.readout_names,
        readouts=readouts,
        parameters={k: np.asarray(v, dtype=float) for k, v in values.items()},
        varying=varying,
        typical=typical,
        seed=seed,
        status=status,
        steps=steps,
        rejected=rejected,
        states=states,
        state_names=model.state_names if save_states else (),
        event_log=tuple(event_log),
    )
