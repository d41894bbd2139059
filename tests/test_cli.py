"""The command line: outputs, clinical summary, and clear errors (exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marrowsim.cli import main

COLUMNS = [
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


def cli(*args: str) -> tuple[int, str, str]:
    """Run the CLI in a subprocess, as a user would."""
    done = subprocess.run(
        [sys.executable, "-m", "marrowsim.cli", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    return done.returncode, done.stdout, done.stderr


def test_run_writes_every_output(tmp_path: Path):
    code, out, err = cli("run", "immune-aa", "--days", "400", "--out", str(tmp_path))
    assert code == 0, err
    assert "severe criteria first met on day" in out
    timecourse = pd.read_csv(tmp_path / "timecourse.csv")
    assert list(timecourse.columns[: len(COLUMNS)]) == COLUMNS
    patients = pd.read_csv(tmp_path / "patients.csv")
    assert list(patients["patient"]) == [0]
    assert patients.loc[0, "worst_severity"] in ("severe", "very_severe")
    # untreated, the typical patient dies of it: the course ends on the first
    # output day at or after the death, with alive 0 and no counts
    death = patients.loc[0, "death_day"]
    assert 60 < death < 400 and patients.loc[0, "death_cause"] in (
        "infection",
        "bleeding",
        "anaemia",
    )
    assert f"died of {patients.loc[0, 'death_cause']} on day {death:.1f}" in out
    assert len(timecourse) == int(np.ceil(death)) + 1
    assert list(timecourse["alive"].iloc[-2:]) == [1, 0]
    assert timecourse["hb"].iloc[:-1].notna().all() and timecourse["hb"].iloc[-1:].isna().all()
    alive = timecourse[timecourse["alive"] == 1]
    assert set(alive["severity"]) <= {"none", "non_severe", "severe", "very_severe"}
    assert (timecourse["rbc_units"] == 0).all()  # untreated: no transfusions
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["scenario"] == "immune-aa" and summary["patients"] == 1 and summary["seed"] == 0
    assert summary["severity"]["severe_or_worse"] == 1.0
    assert (tmp_path / "timecourse.png").stat().st_size > 10_000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cohort_run_with_parquet_and_set(tmp_path: Path):
    main(["run", "immune-aa", "--patients", "30", "--seed", "3", "--days", "200", "--every", "10",
          "--set", "immune.strength=0.5", "--format", "parquet", "--out", str(tmp_path)])  # fmt: skip
    timecourse = pd.read_parquet(tmp_path / "timecourse.parquet")
    assert timecourse["patient"].nunique() == 30
    assert sorted(timecourse["day"].unique())[:3] == [0, 10, 20]
    patients = pd.read_csv(tmp_path / "patients.csv")
    assert "hb_set_point" in patients.columns and "immune_strength" in patients.columns
    assert "hsc_pool_size" not in patients.columns  # scale-free: not drawn
    assert patients["immune_strength"].median() == pytest.approx(0.5, rel=0.3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "no-such-scenario"], "unknown scenario 'no-such-scenario'"),
        (["run", "missing.yaml"], "scenario file 'missing.yaml' does not exist"),
        (["run", "--days", "-5"], "--days: '-5' must be a finite number > 0"),
        (["run", "--every", "0"], "--every: '0' must be a finite number > 0"),
        (["run", "--days", "ten"], "--days: 'ten' is not a number"),
        (["run", "--patients", "2.5"], "--patients: '2.5' must be a whole number"),
        (
            ["run", "--set", "immune.strenght=1"],
            "unknown scenario key 'immune.strenght'; did you mean",
        ),
        (["run", "--set", "immune.strength=abc"], "--set immune.strength: 'abc' is not a number"),
        (["run", "--set", "immune.strength=-1"], "parameters.immune_strength: -1"),
        (["run", "--set", "nonsense"], "--set: 'nonsense' must look like KEY=VALUE"),
        (["run", "--format", "xlsx"], "--format: 'xlsx' is not one of csv, parquet"),
        (["scenarios", "show", "nope"], "unknown scenario 'nope'"),
        (
            ["run", "immune-aa-ist", "--set", "baseline_counts=nih"],
            "unknown baseline_counts distribution 'nih'; allowed: nih-horse-atg-1989-2005",
        ),
    ],
)
def test_bad_input_exits_2_with_one_clear_message(tmp_path: Path, args, message):
    out = tmp_path / "out"
    code, _, stderr = cli(*args, *(["--out", str(out)] if args[0] == "run" else []))
    assert code == 2
    assert message in stderr
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


def test_unknown_key_in_a_scenario_file(tmp_path: Path):
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("name: bad\ndays: 100\nimmune:\n  strenght: 1\n")
    code, _, stderr = cli("run", str(scenario), "--out", str(tmp_path / "out"))
    assert code == 2 and "immune.strenght" in stderr
    scenario.write_text("name: bad\ndayz: 100\n")
    code, _, stderr = cli("run", str(scenario), "--out", str(tmp_path / "out"))
    assert code == 2 and "unknown scenario key 'dayz'" in stderr


def test_unwritable_out_is_refused_before_simulating(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, stderr = cli("run", "--out", str(blocker / "sub"))
    assert code == 2 and "--out" in stderr and "not a writable folder" in stderr


def test_scenario_file_round_trip(tmp_path: Path):
    code, text, _ = cli("scenarios", "show", "immune-aa-mild")
    assert code == 0 and "strength: 1.4" in text
    path = tmp_path / "mine.yaml"
    path.write_text(text.replace("strength: 1.4", "strength: 0.0"))
    code, out, err = cli("run", str(path), "--days", "100", "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert "worst severity: none" in out


def test_listings():
    code, out, _ = cli("scenarios")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert {"healthy", "immune-aa", "immune-aa-mild"} <= set(names)
    code, out, _ = cli("parameters")
    assert code == 0
    assert "hsc_division_rate" in out and "Catlin" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--bogus"], "No such option"),
        (["run", "--days"], "requires an argument"),
        (["frobnicate"], "No such command"),
    ],
)
def test_usage_errors_exit_2_without_traceback(args, message):
    code, _, stderr = cli(*args)
    assert code == 2 and message in stderr and "Traceback" not in stderr


def test_scientific_notation_in_set_and_odd_text_in_scenarios(tmp_path: Path):
    scenario = tmp_path / "odd.yaml"
    scenario.write_text(
        "name: odd [/] [bold\ndescription: 'brackets [/red] and [b] stay text'\ndays: 20\n"
    )
    code, out, err = cli(
        "run", str(scenario), "--set", "hsc.pool_size=1e4", "--out", str(tmp_path / "out")
    )
    assert code == 0, err
    assert "brackets [/red] and [b] stay text" in out


def test_scenario_file_errors_name_the_key(tmp_path: Path):
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("name: bad\nimmune: 5\n")
    code, _, stderr = cli("run", str(scenario), "--out", str(tmp_path / "out"))
    assert code == 2 and "immune: expected a mapping of names to numbers" in stderr
    scenario.write_bytes(b"name: \xff\xfe bad\n")
    code, _, stderr = cli("run", str(scenario), "--out", str(tmp_path / "out"))
    assert code == 2 and "is not UTF-8 text" in stderr
    assert not (tmp_path / "out").exists()  # nothing created for a failed run


def test_switching_format_leaves_no_stale_table(tmp_path: Path):
    main(["run", "healthy", "--days", "10", "--out", str(tmp_path)])
    main(["run", "healthy", "--days", "10", "--format", "parquet", "--out", str(tmp_path)])
    assert not (tmp_path / "timecourse.csv").exists()
    assert (tmp_path / "timecourse.parquet").exists()
