"""A large cohort run in chunks: ``marrowsim run --patients N --chunk C``.

The trials' executor (``trials.executor``: serial, a local Dask cluster of
``--workers`` processes, or a real scheduler at ``--scheduler``) runs the
cohort ``C`` patients at a time. A scenario that enrols at diagnosis is
first screened in blocks of ``C`` draws, as a trial's population is: the
first ``N`` diagnosed in draw order are the cohort, each chunk starting its
patients' courses from their states at enrolment. Each chunk writes,
atomically, into the run's work folder beside ``--out``
(``.NAME.run-work``): its timecourse and patients' rows, its rows of the
summary (:attr:`Result.summary_rows`), the four counts of the timecourse
figure and the daily response codes. ``--resume`` skips the chunks already
written (a manifest makes it refuse a different run).

The outputs are then put together chunk by chunk, never the whole cohort's
timecourse in memory, and written as a set like any run's. They are the
files ``marrowsim run`` writes for the same cohort in one piece, byte for
byte (tested): every patient is integrated alone, CSV rows are written the
same whole or in parts, Parquet in fixed row groups, and the summary is a
function of the patients' rows.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from marrowsim._version import __version__
from marrowsim.cohort import baseline
from marrowsim.errors import InputError
from marrowsim.io import inputs
from marrowsim.io.scenario import Scenario, load_scenario
from marrowsim.result import summarise
from marrowsim.trials.executor import (
    STATE_PREFIX,
    Executor,
    Population,
    Progress,
    _atomic_write,
    prepare_work,
    screen_population,
)

PANEL_READOUTS = ("hb", "anc", "platelets", "retic")  # the timecourse figure's
FILES = (".timecourse", ".patients.csv", ".rows.parquet", ".panels.npy", ".daily.npy")


def work_folder(out: Path) -> Path:
    return out.parent / f".{out.name}.run-work"


@dataclass(frozen=True)
class Cohort:
    """What a run in chunks simulates (the run's options, checked)."""

    scenario: str | Mapping[str, Any]
    set: dict[str, Any]
    patients: int
    seed: int
    days: float | None
    every: float | None
    fmt: str


def cohort_chunk(
    cohort: Cohort,
    first: int,
    draws: np.ndarray,
    diagnosis_day: np.ndarray | None,
    states: np.ndarray | None,
    base: str,
    threads: int | None,
) -> str:
    """Simulate the patients ``first ..`` of the cohort (their draws, and
    their states at enrolment if the scenario enrols at diagnosis) and write
    the chunk's files beside ``base``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from marrowsim.io.results import write_csv_rows
    from marrowsim.simulation import Enrolled, simulate

    result = simulate(
        cohort.scenario,
        set=cohort.set,
        draws=draws,
        enrolled=None
        if states is None or diagnosis_day is None
        else Enrolled(diagnosis_day, states),
        seed=cohort.seed,
        days=cohort.days,
        every=cohort.every,
        workers=threads,
    )
    path = Path(base)
    timecourse = result.timecourse
    timecourse["patient"] += first
    table = pa.Table.from_pandas(timecourse, preserve_index=False)
    if cohort.fmt == "parquet":
        _atomic_write(path.with_suffix(".timecourse"), lambda p: pq.write_table(table, p))
    else:

        def rows(p: Path) -> None:
            with open(p, "wb") as handle:
                write_csv_rows(table, handle)

        _atomic_write(path.with_suffix(".timecourse"), rows)
    patients = result.patients
    patients["patient"] += first
    _atomic_write(
        path.with_suffix(".patients.csv"),
        lambda p: patients.to_csv(p, index=False, header=first == 0),
    )
    panels = np.stack([result.readout(name) for name in PANEL_READOUTS])
    _atomic_write(path.with_suffix(".panels.npy"), lambda p: _save(p, panels))
    daily = result.responses.daily
    _atomic_write(path.with_suffix(".daily.npy"), lambda p: _save(p, daily))
    meta = {
        "columns": list(timecourse.columns),
        "days": result.days.tolist(),
        "readout_names": list(result.readout_names),
        "enrolled_at_diagnosis": result.diagnosis_day is not None,
    }
    if result.scenario.baseline_counts is not None:
        # the chunk's patients per cell of the table they were selected to
        dist = baseline.distribution(result.scenario.baseline_counts)
        counts = {name: result.readout(name)[:, 0] for name in dist.readouts}
        cells = np.bincount(dist.cell_of(counts), minlength=len(dist.cells))
        meta["baseline_cells"] = cells.tolist()
    summary_rows = result.summary_rows
    # the chunk is whole once its rows exist (the last file written)
    text = json.dumps(meta)

    def write_meta(p: Path) -> None:
        p.write_text(text)

    _atomic_write(path.with_suffix(".meta.json"), write_meta)
    _atomic_write(
        path.with_suffix(".rows.parquet"),
        lambda p: pq.write_table(pa.Table.from_pandas(summary_rows, preserve_index=False), p),
    )
    from marrowsim.io.results import pause_for_tests

    pause_for_tests("chunk")
    return base


def _save(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:  # (np.save would add .npy to the name)
        np.save(handle, array)


class ChunkedCohort:
    """The cohort of a run in chunks, as the writers and figures read a
    :class:`Result`: ``days``, ``n_patients``, ``summary``, ``readout(name)``
    (the figure's counts), ``outcomes``, ``responses``, ``succeeded``."""

    typical = False

    def __init__(self, scenario: Scenario, cohort: Cohort, bases: list[Path]) -> None:
        self.scenario = scenario
        self.cohort = cohort
        self.bases = bases
        meta = json.loads(bases[0].with_suffix(".meta.json").read_text())
        self.days = np.asarray(meta["days"], dtype=float)
        self.readout_names = tuple(meta["readout_names"])
        self.columns = list(meta["columns"])
        self.n_patients = cohort.patients
        # (the figures ask only whether the patients were enrolled at diagnosis)
        self.diagnosis_day = True if meta["enrolled_at_diagnosis"] else None

    @cached_property
    def rows(self) -> pd.DataFrame:
        return pd.concat(
            [pd.read_parquet(b.with_suffix(".rows.parquet")) for b in self.bases],
            ignore_index=True,
        )

    @cached_property
    def summary(self) -> dict[str, Any]:
        summary = summarise(
            self.rows,
            {
                "scenario": self.scenario,
                "patients": self.n_patients,
                "typical_patient": False,
                "days": self.days,
                "seed": self.cohort.seed,
                "readout_names": self.readout_names,
            },
        )
        if self.selection is not None:
            summary["baseline_selection"] = self.selection
        return summary

    @cached_property
    def selection(self) -> dict[str, Any] | None:
        """As :attr:`Result.selection`: the chunks' patients per cell, with
        the selection's reference (the same in every process)."""
        from marrowsim.simulation import baseline_selection

        chosen = baseline_selection(self.scenario, seed=self.cohort.seed)
        if chosen is None:
            return None
        cells = sum(
            np.asarray(json.loads(b.with_suffix(".meta.json").read_text())["baseline_cells"])
            for b in self.bases
        )
        return chosen.summary(np.asarray(cells))

    @property
    def succeeded(self) -> np.ndarray:
        return self.rows["succeeded"].to_numpy(dtype=bool)

    @property
    def outcomes(self) -> SimpleNamespace:
        return SimpleNamespace(
            death_day=self.rows["death_day"].to_numpy(dtype=float),
            death_cause=self.rows["death_cause"].to_numpy(dtype=object),
        )

    @cached_property
    def responses(self) -> SimpleNamespace:
        daily = np.concatenate(
            [np.load(b.with_suffix(".daily.npy"), mmap_mode="r") for b in self.bases]
        )
        return SimpleNamespace(
            daily=daily, treatment_start=self.rows["treatment_start"].to_numpy(dtype=float)
        )

    def readout(self, name: str) -> np.ndarray:
        k = PANEL_READOUTS.index(name)
        return np.concatenate(
            [np.load(b.with_suffix(".panels.npy"), mmap_mode="r")[k] for b in self.bases]
        )

    def write_timecourse(self, path: Path) -> None:
        import pyarrow.parquet as pq

        from marrowsim.io.results import TableWriter, csv_header

        if self.cohort.fmt == "parquet":
            with TableWriter(path, "parquet") as writer:
                for b in self.bases:
                    writer.write(pq.read_table(b.with_suffix(".timecourse")))
            return
        with open(path, "wb") as handle:
            handle.write(csv_header(self.columns))
            for b in self.bases:
                with open(b.with_suffix(".timecourse"), "rb") as part:
                    shutil.copyfileobj(part, handle)

    def write_patients(self, path: Path) -> None:
        with open(path, "wb") as handle:
            for b in self.bases:
                with open(b.with_suffix(".patients.csv"), "rb") as part:
                    shutil.copyfileobj(part, handle)


def _manifest(cohort: Cohort, sc: Scenario, chunk: int) -> dict[str, Any]:
    """What a run is; a resumed run must be the same run. The scenario is
    recorded as loaded (every value, those of its file and of a dosing table
    it reads included), so a file edited in between is noticed."""
    return {
        "marrowsim_version": __version__,
        "run": json.loads(json.dumps(cohort.__dict__, default=str)),
        "scenario": json.loads(json.dumps(sc.model_dump(), default=str)),
        "chunk": chunk,
    }


def run_chunked(
    scenario: str | Path | Mapping[str, Any],
    out: str | Path,
    *,
    patients: int,
    seed: int = 0,
    days: float | None = None,
    every: float | None = None,
    set: Mapping[str, Any] | None = None,  # named like the CLI option --set
    fmt: str = "csv",
    chunk: int = 1000,
    workers: int = 1,
    scheduler: str | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    threads: int | None = None,
) -> ChunkedCohort:
    """Simulate ``patients`` patients of ``scenario`` in chunks of ``chunk``
    (serially, on ``workers`` local Dask processes or at ``scheduler``) and
    write the outputs of ``marrowsim run`` to ``out``; returns the cohort's
    view (its ``summary``; its chunks are gone). ``threads``: engine threads
    of a serial run (``workers`` 1, no scheduler; default all cores)."""
    from marrowsim.io import results as io_results

    patients = inputs.whole("--patients", patients, ge=1, le=inputs.MAX_PATIENTS)
    chunk = inputs.whole("--chunk", chunk, ge=1, le=100_000)
    workers = inputs.whole("--workers", workers, ge=1, le=512)
    seed = inputs.whole("--seed", seed, ge=0, le=2**128)
    if fmt not in io_results.FORMATS:
        raise InputError(
            f"--format: {inputs.shown(fmt)} is not one of {', '.join(io_results.FORMATS)}"
        )
    overrides = dict(inputs.mapping("set", set, what="scenario keys to values"))
    whole = dict(overrides)
    if days is not None:
        whole["days"] = days
    if every is not None:
        whole["every"] = every
    sc = load_scenario(scenario, whole)  # checked before any work
    if isinstance(scenario, Path):
        scenario = str(scenario)
    cohort = Cohort(scenario, overrides, patients, seed, days, every, fmt)
    target = io_results.check_writable(out)
    work = work_folder(target)
    with Executor(workers, scheduler, threads) as executor:
        own = prepare_work(work, _manifest(cohort, sc, chunk), resume)
        if sc.enrolment == "diagnosis":
            population = Population(
                cohort.scenario if isinstance(cohort.scenario, str) else dict(cohort.scenario),
                overrides,
                sc.every,
                f"scenario {sc.name!r}",
            )
            enrolled, _ = screen_population(
                population, patients, seed, own, executor, chunk, None, progress
            )
            draws = enrolled["draw"].to_numpy(dtype=np.int64)
            day: np.ndarray | None = enrolled["diagnosis_day"].to_numpy(dtype=float)
            states = enrolled[[c for c in enrolled.columns if c.startswith(STATE_PREFIX)]]
            start: np.ndarray | None = states.to_numpy(dtype=float)
        else:
            draws = np.arange(patients, dtype=np.int64)
            day = start = None
        bases, tasks, sizes = [], [], []
        for k, first in enumerate(range(0, patients, chunk)):
            base = own / "chunks" / f"chunk-{k:07d}"
            bases.append(base)
            part = slice(first, first + chunk)
            if not base.with_suffix(".rows.parquet").is_file():
                tasks.append(
                    (
                        cohort,
                        first,
                        draws[part],
                        None if day is None else day[part],
                        None if start is None else start[part],
                        str(base),
                        executor.threads,
                    )
                )
                sizes.append(len(draws[part]))
        (own / "chunks").mkdir(exist_ok=True)
        finished = [patients - sum(sizes)]

        def done(i: int) -> None:
            finished[0] += sizes[i]
            if progress is not None:
                progress("patients", finished[0], patients)

        if progress is not None:
            progress("patients", finished[0], patients)
        executor.run(cohort_chunk, tasks, done)
    view = ChunkedCohort(sc, cohort, bases)
    io_results.write_folder(
        target,
        lambda stage: io_results.write_set(
            view, stage, fmt, view.write_timecourse, view.write_patients
        ),
    )
    view.summary  # noqa: B018 (kept: the chunks are removed next)
    (work / "manifest.json").unlink(missing_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    return view
