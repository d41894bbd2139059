"""Issue 9: SIGINT and SIGTERM end a run with "aborted" and 130 or 143, and
leave ``--out`` exactly as it was (absent, or the previous complete set).

The test hook ``MARROWSIM_TEST_HOOKS`` pauses the run at a named moment and
says so on stderr, so a signal lands there and not by luck.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from marrowsim.io.results import clean_stale


def snapshot(folder: Path) -> dict[str, bytes] | None:
    if not folder.exists():
        return None
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def start(out: Path, hooks: str, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, MARROWSIM_TEST_HOOKS=hooks)
    return subprocess.Popen(
        [sys.executable, "-m", "marrowsim.cli", "run", "healthy", "--days", "20",
         "--out", str(out), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def wait_for_hook(process: subprocess.Popen) -> str:
    """Wait until the run pauses at its hook (it says so on stderr)."""
    assert process.stderr is not None
    line = process.stderr.readline()
    assert line.startswith("test-hook:"), f"run ended before the hook: {line!r}"
    return line


@pytest.mark.parametrize(
    ("signum", "code", "moment", "hooks_seen"),
    [
        (signal.SIGINT, 130, "simulate", 1),  # before anything is written
        (signal.SIGTERM, 143, "write", 1),  # the timecourse is staged
        (signal.SIGINT, 130, "write", 3),  # tables and summary staged
        (signal.SIGTERM, 143, "write", 4),  # everything staged, not swapped
    ],
)
def test_a_stopped_run_leaves_out_as_it_was(tmp_path: Path, signum, code, moment, hooks_seen):
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "marrowsim.cli", "run", "healthy", "--days", "10",
         "--out", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    before = snapshot(out)
    assert before is not None and "timecourse.csv" in before
    # a different run (parquet, other days) so a mix would show
    process = start(out, f"{moment}#{hooks_seen}=30", "--format", "parquet")
    wait_for_hook(process)
    if moment == "write":
        staged = list(tmp_path.glob(".out.staging-*"))
        assert len(staged) == 1 and len(list(staged[0].iterdir())) >= hooks_seen
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert err.strip().splitlines()[-1] == "aborted", err
    assert "Traceback" not in err
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_stopped_first_run_leaves_nothing(tmp_path: Path):
    out = tmp_path / "deep" / "er" / "out"
    process = start(out, "write#2=30")
    wait_for_hook(process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert list(tmp_path.iterdir()) == []  # not even the parents it made


def test_leftovers_of_a_killed_run_are_cleaned(tmp_path: Path):
    """SIGKILL between the two renames of the swap leaves the old set beside
    a missing ``out``: the next start puts it back and drops the staged set."""
    dead = 2**22 + 12345  # above the default pid_max: no such process
    old = tmp_path / f".out.old-{dead}"
    old.mkdir()
    (old / "summary.json").write_text("{}")
    staging = tmp_path / f".out.staging-{dead}"
    staging.mkdir()
    (staging / "summary.json").write_text('{"new": 1}')
    clean_stale(tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (tmp_path / "out" / "summary.json").read_text() == "{}"
    # with out in place, both kinds of leftover are only removed
    old.mkdir()
    staging.mkdir()
    alive = tmp_path / f".out.staging-{os.getppid()}"  # a running process: kept
    alive.mkdir()
    clean_stale(tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == [alive.name, "out"]


def test_ctrl_c_in_process_is_130_with_a_message(capsys, monkeypatch, tmp_path):
    """A KeyboardInterrupt (Ctrl-C before our handler, or from a library)
    used to end with status 0 and no message."""
    import marrowsim.simulation
    from marrowsim.cli import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(marrowsim.simulation, "simulate", interrupted)
    with pytest.raises(SystemExit) as done:
        main(["run", "healthy", "--days", "5", "--out", str(tmp_path / "out")])
    assert done.value.code == 130
    assert capsys.readouterr().err.strip() == "aborted"
    assert list(tmp_path.iterdir()) == []
