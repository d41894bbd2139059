"""``marrowsim validate`` (issue 12, item 6): every target listed once, missed
ones as missed, calibration targets marked, the same seed the same report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED
from marrowsim.validation import (
    BUILTIN_TARGETS,
    MISSING,
    RECIPES,
    STATUSES,
    builtin_targets_text,
    lethal_dose_50,
    load_targets,
    markdown,
    validate,
)
from test_cli import cli

SRC = Path(__file__).resolve().parents[1] / "src" / "marrowsim"


@pytest.fixture(scope="module")
def quick():
    return validate(quick=True, seed=0)


def test_the_vendored_targets_are_the_shared_file_byte_for_byte():
    shared = SHARED / "targets" / "targets.yaml"
    if not shared.exists():
        pytest.skip("../shared/targets/targets.yaml is not beside the project")
    assert (SRC / BUILTIN_TARGETS).read_bytes() == shared.read_bytes()
    assert builtin_targets_text() == shared.read_text(encoding="utf-8")


def test_every_target_is_listed_exactly_once_in_file_order(quick):
    ids = [t["id"] for t in load_targets()]
    assert [row["id"] for row in quick["rows"]] == ids
    assert len(set(ids)) == len(ids) >= 29


def test_statuses_come_from_the_allowed_set_and_add_up(quick):
    rows = quick["rows"]
    assert {row["status"] for row in rows} <= set(STATUSES)
    counts = quick["counts"]
    assert sum(counts.values()) == len(rows)
    assert quick["missed"] == counts["miss"] + counts["not simulated"]
    for row in rows:
        assert row["note"], row["id"]
        if row["id"] in RECIPES:
            assert row["status"] in ("pass", "miss")
        else:
            assert row["status"] == "not simulated" and row["simulated"] is None
            assert row["note"].startswith("not simulated: ")
    # every target of targets.yaml has its recipe now
    assert all(row["id"] in RECIPES for row in rows)
    assert set(MISSING) & set(RECIPES) == set()
    # the immunosuppression targets are simulated, with both arms reported
    row = next(r for r in rows if r["id"] == "scheinberg-2011-6m")
    assert set(row["simulated"]) == {"hatg_csa", "ratg_csa"}


def test_what_the_model_can_simulate_passes(quick):
    status = {row["id"]: row["status"] for row in quick["rows"]}
    for ident in (
        "normal-hb",
        "normal-anc",
        "steady-state",
        "rbc-lifespan",
        "platelet-lifespan",
        "cytopenia-order",
        "camitta-saa",
        "camitta-vsaa",
        "nih-response",
    ):
        assert status[ident] == "pass", ident


def test_untreated_mortality_is_marked_calibration(quick):
    row = next(r for r in quick["rows"] if r["id"] == "untreated-saa-mortality")
    assert row["calibration"] is True
    assert "infection_death_rate" in row["calibrated_parameters"]
    low, high = row["interval"]["dead_at_2_years"]
    assert 0 <= low <= row["simulated"]["dead_at_2_years"] <= high <= 1
    assert row["n_patients"] >= 60
    # the only targets a parameter was tuned to (the parameter table says so);
    # every other one is evidence
    calibrated = {
        "untreated-saa-mortality",
        "scheinberg-2011-6m",
        "ist-relapse",
        "fanconi-bmf-by-40",
        "hsct-msd-survival",
        "hsct-graft-failure",
        "radiation-ld50",
    }
    for r in quick["rows"]:
        assert r["calibration"] is (r["id"] in calibrated), r["id"]


def test_the_radiation_target_is_calibration_with_its_interval(quick):
    row = next(r for r in quick["rows"] if r["id"] == "radiation-ld50")
    assert row["calibration"] is True
    assert row["calibrated_parameters"] == ["radiation_d0_hsc_gy"]
    for arm in ("no_treatment", "supportive_care"):
        if row["simulated"][arm] is None:
            # no LD50 within the doses simulated (tests/test_radiation.py pins
            # that miss): no interval either, and the target reads as missed
            assert arm == "supportive_care" and row["interval"][arm] is None
            assert row["status"] == "miss"
            continue
        assert 2 < row["simulated"][arm] < 8
        if row["interval"][arm] is not None:  # None: the fit separates, interpolated
            low, high = row["interval"][arm]
            assert low < row["simulated"][arm] < high
    cared = row["simulated"]["supportive_care"]
    assert cared is None or cared > row["simulated"]["no_treatment"]


def test_a_missed_target_stays_listed_as_missed(quick):
    missed = [r for r in quick["rows"] if r["status"] == "miss"]
    assert missed  # the quick run misses some (the full run misses more)
    text = markdown(quick)
    for row in missed:
        assert re.search(rf"\| {re.escape(row['id'])} \|.*\| \*\*miss\*\* \|", text), row["id"]
    assert "quick run" in text


def test_the_ld50_fit_is_not_pulled_by_a_plateau_below_one():
    doses = np.arange(1.0, 11.0)
    # half die at 5 Gy; above 7 Gy the 60-day deaths level off at 0.6
    fractions = np.array([0, 0, 0.02, 0.2, 0.5, 0.58, 0.6, 0.6, 0.6, 0.6])
    n = np.full(len(doses), 1000.0)
    fit = lethal_dose_50(doses, fractions * n, n)
    assert fit["interpolated"] == pytest.approx(5.0)
    assert 4.6 < fit["ld50"] < 5.4 and fit["ci95"][0] < fit["ld50"] < fit["ci95"][1]
    # a curve that never reaches half has no LD50
    assert lethal_dose_50(doses, 0.4 * n, n)["ld50"] is None


def test_the_same_seed_gives_the_same_report(quick):
    again = validate(quick=True, seed=0)
    assert json.dumps(again, sort_keys=True) == json.dumps(quick, sort_keys=True)
    assert markdown(again) == markdown(quick)
    assert not re.search(r"\d{4}-\d{2}-\d{2}", markdown(quick))  # no date: reproducible


def test_cli_writes_both_files(tmp_path):
    code, out, err = cli("validate", "--quick", "--out", str(tmp_path / "docs"))
    assert code == 0, err
    report = json.loads((tmp_path / "docs" / "validation.json").read_text())
    text = (tmp_path / "docs" / "validation.md").read_text()
    for row in report["rows"]:
        assert f"| {row['id']} |" in text
    assert "not simulated (counted as missed)" in out
    assert sorted(p.name for p in (tmp_path / "docs").iterdir()) == [
        "validation.json",
        "validation.md",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--targets", "no/such/targets.yaml"], "--targets: 'no/such/targets.yaml' cannot be read"),
        (["--seed", "-1"], "--seed: '-1' must be >= 0"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    out = tmp_path / "docs"
    code, _, err = cli("validate", "--quick", *args, "--out", str(out))
    assert code == 2 and message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_bad_targets_file_and_a_file_as_out_exit_2(tmp_path):
    bad = tmp_path / "targets.yaml"
    bad.write_text("healthy:\n  - claim: no id\n")
    code, _, err = cli("validate", "--targets", str(bad), "--out", str(tmp_path / "o"))
    assert code == 2 and "needs an id" in err and len(err.strip().splitlines()) == 1
    file = tmp_path / "file"
    file.write_text("")
    code, _, err = cli("validate", "--quick", "--out", str(file))
    assert code == 2 and "--out:" in err and "is not a folder" in err


def test_another_targets_file_is_validated_as_given(tmp_path):
    own = tmp_path / "targets.yaml"
    own.write_text(
        "healthy:\n"
        "  - id: normal-anc\n    value: [1.8, 7.7]\n    tolerance: inside range\n"
        "  - id: made-up-target\n    value: 1\n"
    )
    report = validate(quick=True, targets=own)
    assert [(r["id"], r["status"]) for r in report["rows"]] == [
        ("normal-anc", "pass"),
        ("made-up-target", "not simulated"),
    ]
    assert report["rows"][1]["note"] == "not simulated: no recipe for this target yet"


def test_bad_api_input_is_one_clear_error():
    import marrowsim
    from marrowsim.errors import InputError

    with pytest.raises(InputError, match=r"^seed: -1 must be"):
        marrowsim.validate(quick=True, seed=-1)
    with pytest.raises(InputError, match=r"^targets: 'nope\.yaml' cannot be read"):
        marrowsim.validate(quick=True, targets="nope.yaml")


def test_the_committed_report_is_a_full_run_of_every_target():
    docs = Path(__file__).resolve().parents[1] / "docs"
    report = json.loads((docs / "validation.json").read_text())
    assert report["mode"] == "full" and report["seed"] == 0
    assert [r["id"] for r in report["rows"]] == [t["id"] for t in load_targets()]
    assert markdown(report) == (docs / "validation.md").read_text()
