"""Chunked, resumable execution of a trial, serially or on Dask.

The patient axis is cut into chunks, each a task that simulates its patients
and writes its results into the run's work folder (beside ``--out``,
``.NAME.trial-work``) atomically: a chunk exists whole or not at all. A
manifest there records what the run is (the trial, its overrides, the chunk
size) and a token naming the run's own folder in it (``run-TOKEN``: a task of
an earlier run that outlived its client on a cluster writes only there);
``--resume`` skips the chunks already written, so an interrupted run
continues where it stopped. Every patient is simulated alone by the engine
and results are assembled in patient order, so the outputs are the same for
any chunk size, worker count, scheduler or interruption.

Two kinds of task:

* *screening blocks* run the population's history to diagnosis for draws
  ``block * chunk .. (block + 1) * chunk - 1`` and keep each diagnosed
  patient's covariates and counts at enrolment; blocks are screened in waves
  until enough patients are eligible (the first ``total`` eligible in draw
  order are enrolled, whatever the waves were);
* *arm chunks* simulate the follow-up of ``chunk`` allocated patients of one
  arm with the arm's scenario, and keep their per-patient table and their
  daily readouts (float32, NaN once dead) for the quantile bands.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from marrowsim._version import __version__
from marrowsim.errors import InputError
from marrowsim.io.scenario import is_file
from marrowsim.simulation import MAX_DRAWS_PER_ENROLLED
from marrowsim.trials.spec import COUNT_COVARIATES, PATIENT_COVARIATES, Trial

Progress = Callable[[str, int, int], None]
# a screening wave screens the draws expected to give the patients still
# wanted, times this margin (at least one block); before the first wave the
# expected yield is a guess (about 80% of drawn immune-aa-ist patients are
# diagnosed and enrolled; inclusion criteria lower it)
SCREEN_MARGIN = 1.1
FIRST_YIELD_GUESS = 0.7
# the screen keeps each patient's state at enrolment in columns named so:
# the arms start their courses there instead of running the history again
STATE_PREFIX = "enrolment_state:"
# the manifest's key for the run's own folder (``run-TOKEN`` in the work folder)
RUN_TOKEN = "run_token"


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through ``write(temporary path)`` then rename into ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(handle)
    try:
        write(Path(name))
        os.replace(name, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def _strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns as text, so every chunk's table has the same schema."""
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].astype("string")
    return frame


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(_strings(frame), preserve_index=False)
    _atomic_write(path, lambda p: pq.write_table(table, p))


@dataclass(frozen=True)
class Population:
    """Whom a screen draws: a scenario, its ``set:`` overrides, the output
    interval of its runs (days) and a name for messages."""

    scenario: str | dict[str, Any]
    set: dict[str, Any]
    every: float
    what: str


def screen_block(
    population: Population, seed: int, block: int, size: int, path: str, threads: int | None
) -> str:
    """Screen draws ``block * size ..``; write the diagnosed patients'
    covariates, counts and states at enrolment to ``path``."""
    from marrowsim.clinic.definitions import SEVERITY_LEVELS
    from marrowsim.simulation import simulate

    draws = np.arange(block * size, (block + 1) * size, dtype=np.int64)
    result = simulate(
        population.scenario,
        set=population.set,
        draws=draws,
        screen=True,
        seed=seed,
        days=population.every,
        every=population.every,
        save_states=True,
        workers=threads,
    )
    frame = pd.DataFrame({"draw": result.draw if result.draw is not None else draws})
    frame["diagnosis_day"] = (
        result.diagnosis_day if result.diagnosis_day is not None else np.zeros(len(frame))
    )
    for covariate, parameter in PATIENT_COVARIATES.items():
        frame[covariate] = np.broadcast_to(result.parameters[parameter], len(frame))
    for name in COUNT_COVARIATES:
        frame[name] = result.readout(name)[:, 0]
    codes = result.severity_code[:, 0]
    frame["severity"] = [SEVERITY_LEVELS[c] if c >= 0 else "none" for c in codes]
    assert result.states is not None
    states = pd.DataFrame(
        result.states[:, 0, :], columns=[STATE_PREFIX + name for name in result.state_names]
    )
    frame = pd.concat([frame, states], axis=1)
    _write_parquet(frame, Path(path))
    return path


def arm_chunk(
    trial: Trial,
    seed: int,
    arm: int,
    patients: pd.DataFrame,
    folder: str,
    timecourse: bool,
    threads: int | None,
) -> str:
    """Simulate one chunk of an arm's patients (rows of the enrolment table:
    ``patient``, ``draw``, ``diagnosis_day``, ``stratum``, the baseline
    covariates and the states at enrolment) from their states at enrolment,
    and write its per-patient table, its daily readouts and (if asked) its
    timecourse."""
    from marrowsim.simulation import Enrolled, simulate

    spec = trial.arms[arm]
    draws = patients["draw"].to_numpy(dtype=np.int64)
    state_columns = [c for c in patients.columns if c.startswith(STATE_PREFIX)]
    expected = patients["diagnosis_day"].to_numpy(dtype=float)
    # the arm's own history of the chunk's first patient: an arm whose
    # scenario changes the disease before enrolment is refused (a sample of
    # one per chunk: arms may differ only in treatment, and a change of the
    # disease shows in every patient; one that spared the chunk's first
    # patient would go unseen) (the same
    # history up to the integrator's round-off: an arm's drug parameters can
    # change the error scale, hence the steps, a little)
    first = simulate(
        spec.scenario,
        set=spec.set,
        draws=draws[:1],
        seed=seed,
        days=trial.every,
        every=trial.every,
        save_states=True,
        workers=threads,
    )
    own = first.diagnosis_day
    start = patients[state_columns].to_numpy(dtype=float)
    if own is not None:
        assert first.states is not None
        same_day = np.isclose(own[0], expected[0], rtol=1e-6, atol=1e-6)
        same_state = np.allclose(first.states[0, 0], start[0], rtol=1e-5, atol=1e-9)
        if not (same_day and same_state):
            raise InputError(
                f"arms.{spec.name}: scenario {spec.scenario!r} changes the disease before"
                f" enrolment (draw {draws[0]} is diagnosed on day {own[0]:g} in the arm,"
                f" {expected[0]:g} in the population"
                f"{'' if same_state else ', and enrolled in another state'}); arms may"
                " differ only in treatment"
            )
    result = simulate(
        spec.scenario,
        set=spec.set,
        draws=draws,
        enrolled=None if own is None else Enrolled(expected, start),
        seed=seed,
        days=trial.follow_up_days,
        every=trial.every,
        workers=threads,
    )
    table = result.patients.drop(columns=["patient"])
    table.insert(0, "patient", patients["patient"].to_numpy())
    table.insert(1, "arm", spec.name)
    table.insert(2, "stratum", patients["stratum"].to_numpy())
    baseline = patients.drop(
        columns=["patient", "draw", "diagnosis_day", "stratum", *state_columns]
    )
    for column in baseline.columns:
        table[f"baseline_{column}"] = baseline[column].to_numpy()
    base = Path(folder)
    readouts = np.moveaxis(result.readouts, 2, 0).astype(np.float32)
    readouts[:, result.after_death] = np.nan

    def save(path: Path) -> None:
        with open(path, "wb") as handle:
            np.save(handle, readouts)

    _atomic_write(base.with_suffix(".npy"), save)
    if timecourse:
        frame = result.timecourse
        frame["patient"] = patients["patient"].to_numpy()[frame["patient"].to_numpy()]
        frame.insert(1, "arm", spec.name)
        _write_parquet(frame, base.with_suffix(".timecourse.parquet"))
    _write_parquet(table, base.with_suffix(".parquet"))  # written last: the chunk is done
    from marrowsim.io.results import pause_for_tests

    pause_for_tests("chunk")
    return str(base)


class Executor:
    """Runs tasks serially in this process or on a Dask cluster (a local one
    with ``workers`` > 1 processes, or the scheduler at ``scheduler``)."""

    def __init__(
        self, workers: int = 1, scheduler: str | None = None, threads: int | None = None
    ) -> None:
        self.client: Any = None
        self.cluster: Any = None
        self.workers = workers
        self._threads = threads  # engine threads when run here (None: all cores)
        if scheduler is not None:
            from distributed import Client

            try:
                self.client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError, ValueError, TypeError) as error:
                raise InputError(
                    f"--scheduler: cannot reach a Dask scheduler at {scheduler!r} ({error})"
                ) from None
        elif workers > 1:
            import logging

            from distributed import Client, LocalCluster

            self.cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            self.client = Client(self.cluster)

    @property
    def threads(self) -> int | None:
        """Engine threads per task: those given (all cores by default) here,
        one per Dask worker."""
        return self._threads if self.client is None else 1

    def run(
        self,
        function: Callable[..., Any],
        tasks: Sequence[tuple[Any, ...]],
        done: Callable[[int], None] | None = None,
    ) -> list[Any]:
        """``function(*task)`` for each task; ``done(i)`` as task i finishes."""
        if self.client is None:
            out = []
            for i, task in enumerate(tasks):
                out.append(function(*task))
                if done is not None:
                    done(i)
            return out
        from distributed import as_completed

        futures = [self.client.submit(function, *task, pure=False) for task in tasks]
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(tasks)
        for future in as_completed(futures):
            i = index[future.key]
            results[i] = future.result()  # a task's error is raised here
            if done is not None:
                done(i)
        return results

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def manifest_of(trial: Trial, chunk: int, timecourse: bool, power: int) -> dict[str, Any]:
    """What a run is; a resumed run must be the same run (scenario files
    included by their contents, so one edited in between is noticed)."""
    sources = [trial.population, *(a.scenario for a in trial.arms)]
    contents = {
        source: hashlib.sha256(Path(source).read_bytes()).hexdigest()
        for source in sources
        if is_file(source) and Path(source).is_file()
    }
    return {
        "marrowsim_version": __version__,
        "trial": json.loads(json.dumps(asdict(trial), default=str)),
        "scenario_files": contents,
        "chunk": chunk,
        "timecourse": timecourse,
        "power": power,
    }


def prepare_work(work: Path, manifest: dict[str, Any], resume: bool) -> Path:
    """Create the work folder (or, with ``resume``, check it is this run's)
    and return the run's own folder in it, ``run-TOKEN``: the token is drawn
    afresh for each new run and kept in the manifest for its resumes, so a
    task of an earlier run that outlived its client (on a ``--scheduler``
    cluster) writes only into that run's folder, never into a later run's."""
    path = work / "manifest.json"
    if resume and path.is_file():
        previous = json.loads(path.read_text())
        token = previous.pop(RUN_TOKEN, None)
        if previous != manifest or not isinstance(token, str) or not token.isalnum():
            changed = sorted(k for k in manifest if previous.get(k) != manifest[k])
            raise InputError(
                f"--resume: the interrupted run in {str(work)!r} was a different run"
                f" ({', '.join(changed) or 'its token'} differ); run again with the same"
                " inputs, options and --chunk, or without --resume to start afresh"
            )
        own = work / f"run-{token}"
        own.mkdir(exist_ok=True)  # (a run killed before it made its folder)
        return own
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    token = secrets.token_hex(8)
    text = json.dumps({**manifest, RUN_TOKEN: token}, indent=1, sort_keys=True)

    def write(target: Path) -> None:
        target.write_text(text)

    _atomic_write(path, write)
    own = work / f"run-{token}"
    own.mkdir()
    return own


def eligible(trial: Trial, screened: pd.DataFrame) -> np.ndarray:
    """Who of the screened (diagnosed) patients may be enrolled."""
    keep = np.ones(len(screened), dtype=bool)
    for rule, include in [(c, True) for c in trial.inclusion] + [
        (c, False) for c in trial.exclusion
    ]:
        values = screened[rule.covariate].to_numpy()
        if rule.levels:
            hit = np.isin(values.astype(str), list(rule.levels))
        else:
            hit = np.ones(len(values), dtype=bool)
            if rule.low is not None:
                hit &= values.astype(float) >= rule.low
            if rule.high is not None:
                hit &= values.astype(float) <= rule.high
        keep &= hit if include else ~hit
    return keep


def screen(
    trial: Trial,
    seed: int,
    work: Path,
    executor: Executor,
    chunk: int,
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, int]:
    """The first ``trial.total_patients`` eligible patients in draw order
    (with their covariates) and the number of draws screened to find them
    (up to the last one enrolled)."""
    population = Population(
        trial.population, trial.population_set, trial.every, f"population: {trial.population!r}"
    )
    return screen_population(
        population,
        trial.total_patients,
        seed,
        work,
        executor,
        chunk,
        lambda frame: eligible(trial, frame),
        progress,
    )


def screen_population(
    population: Population,
    total: int,
    seed: int,
    work: Path,
    executor: Executor,
    chunk: int,
    keep: Callable[[pd.DataFrame], np.ndarray] | None = None,
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, int]:
    """The first ``total`` patients of ``population`` diagnosed (and kept by
    ``keep``, if given) in draw order, screened in blocks of ``chunk`` draws
    written to ``work/screen``; and the number of draws screened to find them
    (up to the last one enrolled)."""
    folder = work / "screen"
    folder.mkdir(parents=True, exist_ok=True)
    frames: list[pd.DataFrame] = []
    found = 0
    blocks = 0
    limit = MAX_DRAWS_PER_ENROLLED * total + 1000
    while found < total:
        if blocks * chunk >= limit:
            raise InputError(
                f"{population.what}: only {found} of {blocks * chunk} screened patients"
                f" {'meet the criteria' if keep else 'were diagnosed'}; {total} are wanted"
            )
        # the yield so far (a first guess before any), with a margin, so
        # that a wave rarely falls short and never overshoots by much
        rate = found / (blocks * chunk) if blocks else FIRST_YIELD_GUESS
        wanted = (total - found) * SCREEN_MARGIN / max(rate, 0.02)
        new = max(1, int(np.ceil(wanted / chunk)))
        new = min(new, -(-(limit - blocks * chunk) // chunk))
        paths = [folder / f"block-{b:07d}.parquet" for b in range(blocks, blocks + new)]
        todo = [(i, p) for i, p in enumerate(paths) if not p.is_file()]
        tasks = [(population, seed, blocks + i, chunk, str(p), executor.threads) for i, p in todo]
        counter = [0]

        def done(_: int, counter: list[int] = counter, n: int = len(todo)) -> None:
            counter[0] += 1
            if progress is not None:
                progress("screening", counter[0], n)

        executor.run(screen_block, tasks, done)
        for p in paths:
            frame = pd.read_parquet(p)
            if keep is not None:
                frame = frame[keep(frame)]
            if len(frame):  # (pandas deprecates concatenating empty frames)
                frames.append(frame)
            found += len(frame)
        blocks += new
    enrolled = pd.concat(frames, ignore_index=True).iloc[:total].reset_index(drop=True)
    # screened in draw order until the last one enrolled (whatever the waves)
    return enrolled, int(enrolled["draw"].iloc[-1]) + 1


def arm_chunks(
    enrolled: pd.DataFrame, n_arms: int, chunk: int
) -> Iterator[tuple[int, int, pd.DataFrame]]:
    """(arm, chunk index, its patients) in arm and enrolment order."""
    for arm in range(n_arms):
        rows = enrolled[enrolled["arm_index"] == arm]
        for k, start in enumerate(range(0, len(rows), chunk)):
            yield arm, k, rows.iloc[start : start + chunk]


def run_arms(
    trial: Trial,
    seed: int,
    enrolled: pd.DataFrame,
    work: Path,
    executor: Executor,
    chunk: int,
    timecourse: bool,
    progress: Progress | None = None,
) -> list[Path]:
    """Simulate every arm chunk not yet written; returns all chunk bases in order."""
    columns = [
        "patient",
        "draw",
        "diagnosis_day",
        "stratum",
        *PATIENT_COVARIATES,
        *COUNT_COVARIATES,
        "severity",
        *[c for c in enrolled.columns if c.startswith(STATE_PREFIX)],
    ]
    bases: list[Path] = []
    tasks = []
    sizes = []
    for arm, k, rows in arm_chunks(enrolled, len(trial.arms), chunk):
        base = work / f"arm-{arm}" / f"chunk-{k:07d}"
        bases.append(base)
        files = [".parquet", ".npy", *([".timecourse.parquet"] if timecourse else [])]
        if not all(base.with_suffix(suffix).is_file() for suffix in files):
            tasks.append(
                (
                    trial,
                    seed,
                    arm,
                    rows[columns].reset_index(drop=True),
                    str(base),
                    timecourse,
                    executor.threads,
                )
            )
            sizes.append(len(rows))
    total = len(enrolled)
    done_patients = [total - sum(sizes)]

    def done(i: int) -> None:
        done_patients[0] += sizes[i]
        if progress is not None:
            progress("patients", done_patients[0], total)

    if progress is not None:
        progress("patients", done_patients[0], total)
    for base in bases:
        base.parent.mkdir(parents=True, exist_ok=True)
    executor.run(arm_chunk, tasks, done)
    return bases
