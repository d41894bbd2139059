"""Outputs are written atomically and compiled code is cached on disk."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import marrowsim
from marrowsim.engine.codegen import cache_dir


def test_failed_write_leaves_no_partial_files(tmp_path: Path, monkeypatch):
    result = marrowsim.simulate("healthy", days=10)

    def broken_plot(*args, **kwargs):
        raise RuntimeError("disk full while plotting")

    monkeypatch.setattr("marrowsim.plotting.plot_timecourse", broken_plot)
    with pytest.raises(RuntimeError):
        result.write(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_write_replaces_previous_outputs_whole(tmp_path: Path):
    marrowsim.simulate("healthy", days=10).write(tmp_path)
    marrowsim.simulate("immune-aa", days=20).write(tmp_path)
    assert "immune-aa" in (tmp_path / "summary.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "patients.csv",
        "summary.json",
        "timecourse.csv",
        "timecourse.png",
    ]


def test_compiled_model_is_cached_on_disk():
    marrowsim.simulate("healthy", days=5)
    folder = cache_dir()
    modules = list(folder.glob("marrowsim_model_*.py"))
    assert modules
    assert list((folder / "__pycache__").glob("*.nbi")), (
        "numba keeps no index of compiled functions"
    )
    # a second process loads the machine code instead of compiling: fast
    code = "import time, marrowsim; t = time.perf_counter(); marrowsim.simulate('healthy', days=5); print(time.perf_counter() - t)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=True,
    )
    assert float(done.stdout) < 8.0  # a cold compile takes 15-20 s here


def test_a_treated_cohort_gets_its_response_figure_and_summary_lines(tmp_path):
    from typer.testing import CliRunner

    from marrowsim.cli import app

    out = tmp_path / "ist"
    run = CliRunner().invoke(app, ["run", "--patients", "40", "--out", str(out)])
    assert run.exit_code == 0, run.output
    assert (out / "response.png").stat().st_size > 10_000
    assert "NIH response from the treatment start: 3 months" in run.output
    untreated = tmp_path / "care"
    run = CliRunner().invoke(
        app, ["run", "supportive-care", "--patients", "20", "--out", str(untreated)]
    )
    assert run.exit_code == 0, run.output
    assert not (untreated / "response.png").exists()
    assert "NIH response" not in run.output
