"""The public entry point: ``simulate(scenario, ...) -> Result``.

A single patient is a cohort of one: the typical patient (every parameter at
its table or scenario value) unless ``patients`` asks for drawn virtual
patients. The cohort is integrated in chunks (each patient alone, so chunking
changes nothing) with an optional progress callback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from marrowsim.clinic.definitions import CARE_INPUTS, DIAGNOSIS_EVENT
from marrowsim.cohort import baseline, typical_patient
from marrowsim.cohort.baseline import Selection
from marrowsim.engine import Solver, integrate
from marrowsim.errors import InputError
from marrowsim.io import inputs
from marrowsim.io.scenario import Scenario, load_scenario
from marrowsim.mechanisms import InputChange
from marrowsim.model import Model, default_model
from marrowsim.parameters import load_table
from marrowsim.result import Result

DEFAULT_CHUNK = 1000
# an enrolling scenario draws at most this many patients per one enrolled
MAX_DRAWS_PER_ENROLLED = 20

__all__ = ["DEFAULT_CHUNK", "Enrolled", "Result", "baseline_selection", "default_model", "simulate"]


@dataclass(frozen=True)
class Enrolled:
    """Patients already run to their enrolment (a trial's screen: the
    ``screen=True`` run of the same draws with ``save_states``): per draw, its
    day of diagnosis and its state at enrolment (day 0 of the outputs; columns
    in the model's state order). ``simulate(draws=..., enrolled=...)`` starts
    each draw there instead of running its history again: the history is the
    disease's own, the same in every arm of a trial."""

    diagnosis_day: np.ndarray
    states: np.ndarray


def simulate(
    scenario: str | Path | Mapping[str, Any] | Scenario = "immune-aa",
    *,
    patients: int | None = None,
    seed: int = 0,
    first_patient: int = 0,
    draws: Sequence[int] | np.ndarray | None = None,
    screen: bool = False,
    enrolled: Enrolled | None = None,
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
    first_patient:
        The draw index of the first patient (patients ``first_patient ..
        first_patient + N - 1`` of the seed's population, each the same
        patient as in a cohort drawn from 0): to simulate a few patients of a
        large population, such as those who react to a drug. Not for a
        scenario that enrols at diagnosis.
    enrolled:
        With ``draws``, in a scenario that enrols at diagnosis: those draws'
        days of diagnosis and states at enrolment (:class:`Enrolled`), from
        which their courses start without their histories being run again.
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
    first_patient = inputs.whole("first_patient", first_patient, ge=0, le=2**62)
    if first_patient and patients is None:
        raise InputError("first_patient: needs patients (the typical patient is not drawn)")
    draw_keys = None if draws is None else _draw_keys(draws)
    screen = inputs.flag("screen", screen)
    if screen and draw_keys is None:
        raise InputError("screen: needs draws (the draw indices to screen)")
    if draw_keys is not None:
        if patients is not None and n_patients != len(draw_keys):
            raise InputError(
                f"patients: {patients} differs from the {len(draw_keys)} draws given; give one"
            )
        if first_patient:
            raise InputError("first_patient: not allowed with draws (give the draw indices)")
        n_patients = len(draw_keys)
    if enrolled is not None:
        if not isinstance(enrolled, Enrolled):
            raise InputError(
                f"enrolled: expected a marrowsim.simulation.Enrolled, got {inputs.kind(enrolled)}"
            )
        if draw_keys is None or screen:
            raise InputError("enrolled: needs draws (the draws it holds), and not screen")
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
    typical = n_patients is None
    varying: tuple[str, ...] = (
        () if typical else tuple(p.name for p in table.varying() if p.value != 0)
    )
    if sc.enrolment == "diagnosis":
        if first_patient:
            raise InputError(
                f"first_patient: {first_patient} is not allowed with enrolment: diagnosis"
                " (patients are enrolled in draw order from 0)"
            )
        cohort = _enrol_at_diagnosis(
            model,
            table,
            sc,
            n_patients,
            seed,
            initial_values,
            solver,
            workers,
            chunk_size,
            draw_keys,
            screen,
            enrolled,
        )
    elif enrolled is not None:
        raise InputError(
            f"enrolled: scenario {sc.name!r} does not enrol at diagnosis (enrolment: {sc.enrolment})"
        )
    else:
        values = (
            typical_patient(table.values())
            if n_patients is None
            else table.draw(n_patients, seed, first=first_patient, indices=draw_keys)
        )
        cohort = _start(model, values, initial_values)
    values, params, y0, changes = cohort.values, cohort.params, cohort.y0, cohort.changes
    atol_scale = cohort.atol_scale
    output_days = output_grid(sc.days, sc.every)
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
        # per patient in order: its enrolment, then its course's events
        rows = cohort.events_before(part) + run.event_table()
        rows.sort(key=lambda row: row[0])  # stable: each patient's order kept
        event_log += [(start + i, day, name) for i, day, name in rows]
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
        draw=cohort.draw,
        diagnosis_day=cohort.diagnosis_day,
        selection=cohort.selection,
    )


@dataclass
class _Cohort:
    """Patients ready to integrate from day 0 of the outputs."""

    values: dict[str, np.ndarray]  # parameter values by name, one per patient
    params: np.ndarray
    y0: np.ndarray
    atol_scale: np.ndarray
    changes: list[InputChange]
    draw: np.ndarray | None = None  # draw index of each enrolled patient
    diagnosis_day: np.ndarray | None = None  # day of diagnosis in its own history
    selection: dict[str, Any] | None = None  # Selection.summary of a selected population

    def events_before(self, part: slice) -> list[tuple[int, float, str]]:
        """The enrolment event (day 0) of the patients ``part``, renumbered from 0."""
        if self.draw is None:
            return []
        count = len(range(*part.indices(len(self.draw))))
        return [(i, 0.0, DIAGNOSIS_EVENT) for i in range(count)]


def output_grid(days: float, every: float) -> np.ndarray:
    """The output days of a run: day k * every, without the drift of a float
    step; the last day is exactly ``days``."""
    n_steps = int(np.floor(days / every * (1 + 1e-12)))
    grid = np.arange(n_steps + 1) * every
    return np.append(grid[grid < days * (1 - 1e-12)], days)


def _draw_keys(draws: Any) -> np.ndarray:
    """The draw indices of ``simulate(draws=...)``, checked."""
    if isinstance(draws, str | bytes) or not hasattr(draws, "__len__"):
        raise InputError(f"draws: expected a sequence of draw indices, got {inputs.kind(draws)}")
    keys = [inputs.whole(f"draws[{i}]", k, ge=0, le=2**62) for i, k in enumerate(draws)]
    if not keys:
        raise InputError("draws: empty; give at least one draw index")
    if len(keys) > inputs.MAX_PATIENTS:
        raise InputError(f"draws: {len(keys)} patients; at most {inputs.MAX_PATIENTS} allowed")
    return np.asarray(keys, dtype=np.int64)


def _start(model: Model, values: dict[str, np.ndarray], initial: Mapping[str, float]) -> _Cohort:
    """Patients at the healthy steady state (or ``initial``) on day 0."""
    model.check(values)
    params = model.parameter_matrix(values)
    y0 = model.steady_state(params)
    atol_scale = model.state_scale(y0)
    for name, value in initial.items():
        y0[:, model.state_names.index(name)] = value
    return _Cohort(values, params, y0, atol_scale, model.schedule(values))


def _enrol_at_diagnosis(
    model: Model,
    table: Any,
    sc: Scenario,
    n_patients: int | None,
    seed: int,
    initial: Mapping[str, float],
    solver: Solver | None,
    workers: int | None,
    chunk_size: int,
    draw_keys: np.ndarray | None = None,
    screening: bool = False,
    enrolled: Enrolled | None = None,
) -> _Cohort:
    """Run each drawn patient's history until diagnosis (severe criteria first
    met, within ``sc.enrolment_horizon_days``) and enrol the first ``n_patients``
    diagnosed in draw order (the typical patient alone if None), each starting
    on day 0 from its state at diagnosis. Care scheduled from enrolment counts
    from then; the rest of each patient's schedule (the disease's own clock)
    is shifted to it. A patient who dies before diagnosis is not enrolled.

    With ``draw_keys`` the patients are those draws, each of whom must be
    enrolled; ``screening`` enrols those of them who are (a trial's screen);
    ``enrolled`` gives those draws' diagnosis days and states at enrolment."""
    if enrolled is not None:
        assert draw_keys is not None
        return _from_enrolment(model, table, sc, seed, initial, draw_keys, enrolled)
    wanted = 1 if n_patients is None else n_patients
    # the typical patient is not drawn, so not selected
    selection = (
        None
        if n_patients is None or sc.baseline_counts is None
        else _selection(model, table, sc, seed, initial, solver, workers, chunk_size)
    )
    # plausible patients enrolled per one selected (1 without selection)
    per_selected = 1.0 if selection is None else selection.draws_per_patient
    horizon = np.array([0.0, sc.enrolment_horizon_days])
    # per batch: its patients, the indices enrolled, their diagnosis days and states
    found: list[tuple[_Cohort, np.ndarray, np.ndarray, np.ndarray]] = []
    draws: list[np.ndarray] = []
    n_found = 0
    first = 0
    limit = int(MAX_DRAWS_PER_ENROLLED * per_selected * wanted) + 1000
    while n_found < wanted:
        keys: np.ndarray | None = None
        if n_patients is None:
            values = typical_patient(table.values())
        elif draw_keys is not None:
            keys = draw_keys
            values = table.draw(len(keys), seed, indices=keys)
        else:
            # enough for the patients still wanted, allowing for those never
            # diagnosed (about 1 in 8 in immune-aa); the batch size changes no
            # patient (each is drawn by its own index) and only the work done
            batch = min(limit - first, max(64, int(1.25 * per_selected * (wanted - n_found)) + 16))
            if batch <= 0:
                raise InputError(
                    f"enrolment: only {n_found} of {first} drawn patients of scenario "
                    f"{sc.name!r} were diagnosed with severe AA within "
                    f"enrolment_horizon_days = {sc.enrolment_horizon_days:g}; "
                    f"{wanted} were asked for"
                )
            values = table.draw(batch, seed, first=first)
        history = _start(model, values, initial)
        waiting = InputChange("awaiting_diagnosis", 0.0, 1.0)
        before = [c for c in history.changes if not c.from_enrolment] + [waiting]
        n = history.params.shape[0]
        diagnosed = np.zeros(n, dtype=bool)
        day = np.full(n, np.nan)
        final = np.empty_like(history.y0)

        def waiting_for(part: np.ndarray, changes: list[InputChange] = before) -> list[InputChange]:
            return [c.subset(part) for c in changes]

        for part, run in _in_chunks(
            model,
            np.arange(n),
            history.y0,
            history,
            waiting_for,
            horizon,
            solver,
            workers,
            chunk_size,
        ):
            final[part] = run.final_states
            for i, t, name in run.event_table():
                if name == DIAGNOSIS_EVENT:
                    diagnosed[part[i]] = True
                    day[part[i]] = t
        if sc.enrolment_delay_days > 0:
            # the course from diagnosis to enrolment, untreated: who dies in
            # it is not enrolled
            alive, final = _until_enrolment(
                model, history, before, diagnosed, day, final, sc, solver, workers, chunk_size
            )
            diagnosed &= alive
        if selection is not None:
            index = np.flatnonzero(diagnosed)
            batch_keys = (first + index) if keys is None else keys[index]
            counts = _counts_at(
                model, final[index], history.params[index], selection.distribution.readouts, workers
            )
            diagnosed[index[~selection.keep(batch_keys, seed, counts)]] = False
        keep = np.flatnonzero(diagnosed)[: wanted - n_found]
        if keys is not None:
            if not screening and len(keep) < len(keys):
                missed = [int(k) for k in keys[~diagnosed]][:5]
                raise InputError(
                    f"draws: patient draw {', '.join(map(str, missed))} of scenario "
                    f"{sc.name!r} is not diagnosed with severe AA within "
                    f"enrolment_horizon_days = {sc.enrolment_horizon_days:g} (or dies before"
                    " enrolment"
                    + ("" if selection is None else ", or is not selected by baseline_counts")
                    + "); only diagnosed draws can be enrolled"
                )
            wanted = n_found + len(keep)  # a screen ends with its one batch
        if n_patients is None and not len(keep):
            raise InputError(
                f"enrolment: the typical patient of scenario {sc.name!r} is not diagnosed "
                f"with severe AA within enrolment_horizon_days = {sc.enrolment_horizon_days:g}"
            )
        found.append((history, keep, day[keep], final[keep]))
        draws.append(first + keep if keys is None else keys[keep])
        n_found += len(keep)
        first += n
    values = {
        name: np.concatenate([np.asarray(h.values[name])[k] for h, k, _, _ in found])
        for name in found[0][0].values
    }
    draw = np.concatenate(draws)
    diagnosis_day = np.concatenate([d for _, _, d, _ in found])
    params = np.concatenate([h.params[k] for h, k, _, _ in found])
    y0 = np.concatenate([y for _, _, _, y in found])
    atol_scale = np.concatenate([h.atol_scale[k] for h, k, _, _ in found])
    enrolment_day = diagnosis_day + sc.enrolment_delay_days
    changes = [c if c.from_enrolment else c.shifted(enrolment_day) for c in model.schedule(values)]
    selected = (
        None
        if selection is None
        else selection.summary(
            selection.cells(_counts_at(model, y0, params, selection.distribution.readouts, workers))
        )
    )
    return _Cohort(values, params, y0, atol_scale, changes, draw, diagnosis_day, selected)


def _counts_at(
    model: Model,
    states: np.ndarray,
    params: np.ndarray,
    readouts: Sequence[str],
    workers: int | None,
) -> dict[str, np.ndarray]:
    """The ``readouts`` at the given states (no input given): the counts a
    selection reads."""
    if not len(states):
        return {name: np.empty(0) for name in readouts}
    run = integrate(model, states, params, [], np.array([0.0]), workers=workers)
    names = list(model.readout_names)
    return {name: run.readouts[:, 0, names.index(name)] for name in readouts}


def baseline_selection(
    scenario: str | Path | Mapping[str, Any] | Scenario,
    *,
    seed: int = 0,
    set: Mapping[str, Any] | None = None,  # named like the CLI option --set
    model: Model | None = None,
) -> Selection | None:
    """The selection that ``scenario`` (its ``baseline_counts``) makes of the
    seed's population: per cell of the published table, its plausible share
    and acceptance (None if the scenario selects none)."""
    sc = load_scenario(scenario, inputs.mapping("set", set, what="scenario keys to values"))
    if sc.baseline_counts is None:
        return None
    seed = inputs.whole("seed", seed, ge=0, le=2**128)
    table = load_table().with_values(sc.parameters, field_prefix="parameters.")
    return _selection(model or default_model(), table, sc, seed, {}, None, None, DEFAULT_CHUNK)


# the reference populations of selections, by what determines them
_REFERENCES: dict[tuple[Any, ...], Selection] = {}


def _selection(
    model: Model,
    table: Any,
    sc: Scenario,
    seed: int,
    initial: Mapping[str, float],
    solver: Solver | None,
    workers: int | None,
    chunk_size: int,
) -> Selection:
    """The selection of ``sc.baseline_counts`` for the seed's population,
    measured on its first ``REFERENCE_PATIENTS`` patients enrolled without
    selection (the same whatever the cohort's size, chunks or workers)."""
    dist = baseline.distribution(sc.baseline_counts)
    for name in dist.readouts:
        if name not in model.readout_names:
            raise InputError(
                f"baseline_counts: {dist.name} reads {name!r}, which is not a readout of the model"
            )
    plain = sc.model_copy(update={"baseline_counts": None, "days": 1.0, "every": 1.0})
    key = (
        id(model),
        plain.model_dump_json(exclude={"name", "description"}),
        seed,
        tuple(sorted(initial.items())),
        repr(solver),
    )
    if key not in _REFERENCES:
        reference = _enrol_at_diagnosis(
            model, table, plain, baseline.REFERENCE_PATIENTS, seed, initial, solver, workers,
            chunk_size,
        )  # fmt: skip
        counts = _counts_at(model, reference.y0, reference.params, dist.readouts, workers)
        _REFERENCES[key] = Selection.from_reference(dist, counts, sc.name)
    return _REFERENCES[key]


def _from_enrolment(
    model: Model,
    table: Any,
    sc: Scenario,
    seed: int,
    initial: Mapping[str, float],
    keys: np.ndarray,
    enrolled: Enrolled,
) -> _Cohort:
    """The draws ``keys`` at their given states of enrolment (checked)."""
    n = len(keys)
    day = np.asarray(enrolled.diagnosis_day, dtype=float)
    states = np.asarray(enrolled.states, dtype=float)
    if day.shape != (n,):
        raise InputError(f"enrolled.diagnosis_day: shape {day.shape}; one day per draw ({n},)")
    if states.shape != (n, len(model.state_names)):
        raise InputError(
            f"enrolled.states: shape {states.shape}; one row per draw and one column per"
            f" state of the model ({n}, {len(model.state_names)})"
        )
    amounts = np.asarray(model.nonnegative, dtype=bool)  # (a signed state may be < 0)
    if not (np.isfinite(day).all() and np.isfinite(states).all()):
        raise InputError("enrolled: diagnosis days and states must be finite")
    if (states[:, amounts] < 0).any():
        k = int(np.flatnonzero((states < 0).any(axis=0) & amounts)[0])
        raise InputError(
            f"enrolled.states: state {model.state_names[k]!r} is negative; amounts are >= 0"
        )
    values = table.draw(n, seed, indices=keys)
    history = _start(model, values, initial)
    enrolment_day = day + sc.enrolment_delay_days
    changes = [c if c.from_enrolment else c.shifted(enrolment_day) for c in model.schedule(values)]
    return _Cohort(
        history.values, history.params, states.copy(), history.atol_scale, changes, keys, day
    )


def _until_enrolment(
    model: Model,
    history: _Cohort,
    before: list[InputChange],
    diagnosed: np.ndarray,
    day: np.ndarray,
    final: np.ndarray,
    sc: Scenario,
    solver: Solver | None,
    workers: int | None,
    chunk_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Integrate the diagnosed patients from diagnosis for
    ``sc.enrolment_delay_days`` on the disease's own schedule, no longer
    awaiting diagnosis, with supportive care (``CARE_INPUTS``) from diagnosis
    but no treatment; returns who is alive at the end and the state there (the
    others' rows unchanged)."""
    index = np.flatnonzero(diagnosed)
    alive = np.zeros(len(diagnosed), dtype=bool)
    final = final.copy()
    span = np.array([0.0, sc.enrolment_delay_days])
    disease = [c for c in before if c.input != "awaiting_diagnosis"]
    # supportive care counts from diagnosis in the work-up before day 0
    care = [c for c in history.changes if c.from_enrolment and c.input in CARE_INPUTS]
    for part, run in _in_chunks(
        model,
        index,
        final,
        history,
        lambda part: (
            [c.subset(part).shifted(day[part]) for c in disease] + [c.subset(part) for c in care]
        ),
        span,
        solver,
        workers,
        chunk_size,
    ):
        final[part] = run.final_states
        alive[part] = run.status == 0
    return alive, final


def _in_chunks(
    model: Model,
    index: np.ndarray,
    y0: np.ndarray,
    history: _Cohort,
    changes_of: Callable[[np.ndarray], list[InputChange]],
    span: np.ndarray,
    solver: Solver | None,
    workers: int | None,
    chunk_size: int,
) -> Iterator[tuple[np.ndarray, Any]]:
    """Integrate the patients ``index`` of ``history`` from the states
    ``y0`` over ``span``, ``chunk_size`` at a time (each chunk's inputs from
    ``changes_of(its patients)``); yields each chunk's patients and run."""
    for start in range(0, len(index), chunk_size):
        part = index[start : start + chunk_size]
        run = integrate(
            model,
            y0[part],
            history.params[part],
            changes_of(part),
            span,
            solver=solver,
            atol_scale=history.atol_scale[part],
            workers=workers,
        )
        assert run.final_states is not None
        yield part, run
