"""The public entry point: ``simulate(scenario, ...) -> Result``.

A single patient is a cohort of one: the typical patient (every parameter at
its table or scenario value) unless ``patients`` asks for drawn virtual
patients. The cohort is integrated in chunks (each patient alone, so chunking
changes nothing) with an optional progress callback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from marrowsim import __version__
from marrowsim.clinic.events import patient_events
from marrowsim.clinic.severity import SEVERITY_LEVELS, severity_code
from marrowsim.cohort import draw_cohort, typical_patient, varying_parameters
from marrowsim.engine import STATUS_MESSAGES, Solver, integrate
from marrowsim.errors import InputError
from marrowsim.io import inputs
from marrowsim.io.scenario import Scenario, load_scenario
from marrowsim.model import Model
from marrowsim.parameters import load_table

DEFAULT_CHUNK = 1000


@dataclass(frozen=True)
class Result:
    """A simulated cohort.

    ``readouts`` has shape (patients, days, readouts) in ``readout_names``
    order; ``states`` (patients, days, states) only if asked for. Per-patient
    ``status`` is 0 where the integration succeeded (``status_messages``).
    """

    scenario: Scenario
    days: np.ndarray
    readout_names: tuple[str, ...]
    readouts: np.ndarray
    parameters: dict[str, np.ndarray]
    varying: tuple[str, ...]
    typical: bool
    seed: int
    status: np.ndarray
    steps: np.ndarray
    rejected: np.ndarray
    states: np.ndarray | None = None
    state_names: tuple[str, ...] = ()
    # (patient, day, event name) of each event the model's mechanisms declare
    event_log: tuple[tuple[int, float, str], ...] = ()

    @property
    def n_patients(self) -> int:
        return int(self.readouts.shape[0])

    def readout(self, name: str) -> np.ndarray:
        """One readout, shape (patients, days)."""
        if name not in self.readout_names:
            raise KeyError(f"no readout {name!r}; readouts are {', '.join(self.readout_names)}")
        return self.readouts[:, :, self.readout_names.index(name)]

    def state(self, name: str) -> np.ndarray:
        """One state, shape (patients, days); needs ``save_states=True``."""
        if self.states is None:
            raise ValueError("states were not saved; simulate(..., save_states=True)")
        return self.states[:, :, self.state_names.index(name)]

    @cached_property
    def events(self) -> pd.DataFrame:
        """One row per event that fired: ``patient``, ``day``, ``event``."""
        rows = list(self.event_log)
        return pd.DataFrame(rows, columns=["patient", "day", "event"]).astype(
            {"patient": np.int64, "day": float, "event": object}
        )

    @cached_property
    def severity_code(self) -> np.ndarray:
        r = self.readout
        return severity_code(r("hb"), r("anc"), r("platelets"), r("retic"), r("cellularity"))

    @cached_property
    def timecourse(self) -> pd.DataFrame:
        """Long table: one row per patient and output day (DESIGN section 5)."""
        n, t = self.n_patients, len(self.days)
        frame = pd.DataFrame(
            {
                "patient": np.repeat(np.arange(n), t),
                "day": np.tile(self.days, n),
            }
        )
        for k, name in enumerate(self.readout_names):
            frame[name] = self.readouts[:, :, k].reshape(-1)
        codes = self.severity_code.reshape(-1).astype(np.int8)
        frame["severity"] = pd.Categorical.from_codes(
            codes, categories=pd.Index(list(SEVERITY_LEVELS))
        )
        columns = [
            "patient",
            "day",
            "hb",
            "anc",
            "wbc",
            "lymphocytes",
            "platelets",
            "retic",
            "cellularity",
            "hsc",
            "severity",
        ]
        rest = [c for c in frame.columns if c not in columns]
        return frame[columns + rest]

    @cached_property
    def patients(self) -> pd.DataFrame:
        """One row per patient: drawn parameter values and clinical events."""
        frame = pd.DataFrame({"patient": np.arange(self.n_patients)})
        for name in self.varying:
            frame[name] = self.parameters[name]
        readouts = {name: self.readout(name) for name in self.readout_names}
        for name, values in patient_events(self.days, readouts, self.severity_code).items():
            frame[name] = values
        frame["status"] = [STATUS_MESSAGES.get(int(s), f"error {s}") for s in self.status]
        return frame

    @cached_property
    def summary(self) -> dict[str, Any]:
        """Cohort figures, fractions in 0..1 (DESIGN section 5), over the
        patients whose integration succeeded (``solver.failed_patients``)."""
        ok = self.status == 0
        worst = self.severity_code[ok].max(axis=1)
        final = self.readouts[ok, -1, :]

        def median(values: np.ndarray) -> float | None:
            values = values[np.isfinite(values)]
            return float(np.median(values)) if len(values) else None

        def fraction(hit: np.ndarray) -> float | None:
            return float(np.mean(hit)) if len(hit) else None

        severe_days = self.patients["first_severe_day"].to_numpy(dtype=float)[ok]
        return {
            "marrowsim_version": __version__,
            "scenario": self.scenario.name,
            "patients": self.n_patients,
            "typical_patient": self.typical,
            "days": float(self.days[-1]),
            "every": float(self.scenario.every),
            "seed": self.seed,
            "parameters": dict(self.scenario.parameters),  # the scenario's and --set values
            "severity": {
                "non_severe_or_worse": fraction(worst >= 1),
                "severe_or_worse": fraction(worst >= 2),
                "very_severe": fraction(worst >= 3),
                "median_first_severe_day": median(severe_days),
            },
            "final": {name: median(final[:, k]) for k, name in enumerate(self.readout_names)},
            "nadir": {
                name: median(self.readout(name)[ok].min(axis=1))
                for name in ("hb", "anc", "platelets", "retic")
            },
            "solver": {
                "failed_patients": int(np.sum(self.status != 0)),
                "median_steps": median(self.steps.astype(float)),
            },
        }

    def __getitem__(self, index: int | Sequence[int] | slice) -> Result:
        """The sub-cohort ``index`` (patient numbers keep their meaning in
        ``parameters`` but tables renumber from 0)."""
        idx = np.arange(self.n_patients)[index]
        idx = np.atleast_1d(idx)
        return Result(
            scenario=self.scenario,
            days=self.days,
            readout_names=self.readout_names,
            readouts=self.readouts[idx],
            parameters={k: v[idx] for k, v in self.parameters.items()},
            varying=self.varying,
            typical=self.typical,
            seed=self.seed,
            status=self.status[idx],
            steps=self.steps[idx],
            rejected=self.rejected[idx],
            states=None if self.states is None else self.states[idx],
            state_names=self.state_names,
            event_log=tuple(
                (new, day, name)
                for new, old in enumerate(idx)
                for patient, day, name in self.event_log
                if patient == old
            ),
        )

    def write(self, out: str | Path, fmt: str = "csv") -> list[Path]:
        """Write timecourse, patients, summary and figure atomically to ``out``."""
        from marrowsim.io.results import write_result

        return write_result(self, out, fmt)


_MODEL: Model | None = None


def default_model() -> Model:
    """The default marrow + immune model (traced once per process)."""
    global _MODEL
    if _MODEL is None:
        model = Model()
        load_table().require(model.parameter_names)  # the table holds nothing unused
        _MODEL = model
    return _MODEL


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
    typical_values = sc.typical_values()
    if n_patients is None:
        values = typical_patient(typical_values)
        varying: tuple[str, ...] = ()
        typical = True
    else:
        values = draw_cohort(typical_values, n_patients, seed)
        varying = varying_parameters(typical_values)
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
