"""`marrowsim run --patients N --chunk C`: a cohort run through the trials'
chunked executor writes the same files as the run in one piece, for any
chunk size or worker count, and an interrupted run resumes to them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import cli_process
from marrowsim import simulate
from marrowsim.chunked import Cohort, _manifest, run_chunked
from marrowsim.errors import InputError
from marrowsim.io.scenario import load_scenario
from marrowsim.trials.executor import prepare_work

RUN = ("--patients", "12", "--days", "60", "--every", "3")


_cli = cli_process


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The one-piece runs: a scenario enrolling at diagnosis (CSV, Parquet)
    and one that does not."""
    base = tmp_path_factory.mktemp("whole")
    runs = {
        "ist-csv": ("immune-aa-ist", "csv"),
        "ist-parquet": ("immune-aa-ist", "parquet"),
        "aa-csv": ("immune-aa", "csv"),
    }
    for name, (scenario, fmt) in runs.items():
        simulate(scenario, patients=12, days=60, every=3).write(base / name, fmt)
    return {name: base / name for name in runs}


@pytest.mark.parametrize(
    ("name", "scenario", "fmt", "chunk"),
    [
        ("ist-csv", "immune-aa-ist", "csv", 5),
        ("ist-parquet", "immune-aa-ist", "parquet", 7),
        ("aa-csv", "immune-aa", "csv", 4),
    ],
)
def test_a_run_in_chunks_writes_the_files_of_the_run_in_one_piece(
    tmp_path: Path, whole: dict[str, Path], name: str, scenario: str, fmt: str, chunk: int
) -> None:
    out = tmp_path / "out"
    view = run_chunked(scenario, out, patients=12, days=60, every=3, fmt=fmt, chunk=chunk)
    expected = _files(whole[name])
    assert set(expected) >= {"timecourse." + fmt, "patients.csv", "summary.json", "survival.png"}
    assert _files(out) == expected
    assert view.summary["patients"] == 12
    assert not (tmp_path / ".out.run-work").exists()


def test_two_dask_workers_write_the_same_files(tmp_path: Path, whole: dict[str, Path]) -> None:
    out = tmp_path / "out"
    done = _cli("run", "immune-aa-ist", *RUN, "--chunk", "3", "--workers", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert _files(out) == _files(whole["ist-csv"])
    assert "12 virtual patients" in done.stdout


def test_a_killed_run_resumes_to_the_same_files(tmp_path: Path, whole: dict[str, Path]) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "marrowsim.cli", "run", "immune-aa-ist", *RUN]
    with subprocess.Popen(
        [*command, "--chunk", "5", "--out", str(out)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MARROWSIM_TEST_HOOKS": "chunk#2=60"},
    ) as process:
        assert process.stderr is not None
        for line in process.stderr:
            if "test-hook: chunk 2" in line:
                break
        process.kill()
    assert not out.exists()
    work = tmp_path / ".out.run-work"
    assert len(list(work.glob("run-*/chunks/*.rows.parquet"))) == 2
    done = _cli("run", "immune-aa-ist", *RUN, "--chunk", "5", "--resume", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert _files(out) == _files(whole["ist-csv"])
    assert not work.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--chunk", "5"), "--chunk: needs --patients"),
        (("--patients", "3", "--resume"), "--resume: needs --chunk"),
        (("--patients", "3", "--chunk", "0"), "--chunk: '0' must be >= 1"),
        (
            ("--patients", "3", "--chunk", "2", "--workers", "2", "--scheduler", "tcp://x:1"),
            "--workers: give --workers or --scheduler, not both",
        ),
    ],
)
def test_bad_chunked_options_exit_2_naming_the_option(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    out = tmp_path / "out"
    done = _cli("run", "immune-aa-ist", *args, "--out", str(out))
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not out.exists()


def test_a_resume_of_a_different_run_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    work = tmp_path / ".out.run-work"
    work.mkdir()
    (work / "manifest.json").write_text('{"chunk": 3}')
    with pytest.raises(InputError, match="--resume: the interrupted run"):
        run_chunked("immune-aa", out, patients=4, days=10, chunk=2, resume=True)


def test_a_bad_scheduler_address_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _cli(
        "run", "immune-aa", *RUN, "--chunk", "4", "--scheduler", "nonsense", "--out", str(out)
    )
    assert done.returncode == 2 and "--scheduler: cannot reach" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists() and not (tmp_path / ".out.run-work").exists()


def test_a_scenario_file_as_a_path_and_an_edited_file_on_resume(tmp_path: Path) -> None:
    import json

    import yaml

    scenario = tmp_path / "mine.yaml"
    scenario.write_text(yaml.safe_dump({"name": "mine", "days": 30, "every": 3}))
    view = run_chunked(scenario, tmp_path / "a", patients=3, chunk=2)
    assert view.summary["patients"] == 3
    # the manifest of an interrupted run of that file; the file is then edited
    cohort = Cohort(str(scenario), {}, 3, 0, None, None, "csv")
    work = tmp_path / ".b.run-work"
    work.mkdir()
    manifest = {**_manifest(cohort, load_scenario(str(scenario)), 2), "run_token": "0a1b"}
    (work / "manifest.json").write_text(json.dumps(manifest))
    # the same file: resumed (into the run's own folder)
    run_chunked(scenario, tmp_path / "b", patients=3, chunk=2, resume=True)
    assert _files(tmp_path / "b") == _files(tmp_path / "a")
    work.mkdir()
    (work / "manifest.json").write_text(json.dumps(manifest))
    scenario.write_text(yaml.safe_dump({"name": "mine", "days": 30, "every": 5}))
    with pytest.raises(InputError, match="--resume: the interrupted run"):
        run_chunked(scenario, tmp_path / "b", patients=3, chunk=2, resume=True)


def test_each_new_run_has_its_own_folder_and_a_resume_keeps_it(tmp_path: Path) -> None:
    # a task of an earlier run that outlived its client writes into that
    # run's folder, never into a later run's
    work = tmp_path / ".out.run-work"
    first = prepare_work(work, {"chunk": 2}, resume=False)
    assert first.parent == work and first.name.startswith("run-")
    assert prepare_work(work, {"chunk": 2}, resume=True) == first
    later = prepare_work(work, {"chunk": 2}, resume=False)
    assert later != first and later.is_dir() and not first.exists()
    (first / "chunks").mkdir(parents=True)  # the orphan's late write
    (first / "chunks" / "chunk-0000000.rows.parquet").write_bytes(b"stale")
    assert not list(later.glob("**/*.parquet"))
