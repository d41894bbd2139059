"""Ionising radiation (issue 10, first part): a whole-body dose kills
lymphocytes, progenitors and HSC single-hit; the marrow syndrome follows.

The HSC's effective D0 is calibrated to the no-treatment half of
`radiation-ld50`; the gain that supportive care brings is evidence."""

from __future__ import annotations

import re

import numpy as np
import pytest

import marrowsim
from conftest import WITHOUT_DEATH, target
from marrowsim.parameters import load_table
from marrowsim.validation import lethal_dose_50
from test_cli import cli

DOSES = (2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)  # Gy: wide enough to bracket both LD50s
COHORT = 400


def _course(dose: float) -> marrowsim.Result:
    # the typical patient, nobody dying of it, so that the kinetics are seen
    return marrowsim.simulate(
        "radiation", days=60, every=0.25, set={"radiation.dose_gy": dose, **WITHOUT_DEATH}
    )


def _first_day_below(result: marrowsim.Result, name: str, fraction: float) -> float:
    values = result.readout(name)[0]
    below = values < fraction * values[0]
    return float(result.days[np.argmax(below)]) if below.any() else np.inf


def test_a_single_hit_kill_leaves_exp_minus_dose_over_d0():
    table = load_table()
    d0 = table["radiation_d0_hsc_gy"].value
    result = marrowsim.simulate(
        "radiation", days=1.25, every=0.125, set={"radiation.dose_gy": 4.0, **WITHOUT_DEATH}
    )
    # HSC turn over in months: a few hours after the exposure the pool is the
    # survivors of the kill alone
    assert result.readout("hsc")[0, -1] == pytest.approx(np.exp(-4.0 / d0), rel=0.02)
    # the same dose over 10 days kills the same fraction less what regrew meanwhile
    protracted = marrowsim.simulate(
        "radiation",
        days=11.5,
        every=0.5,
        set={"radiation.dose_gy": 4.0, "radiation.duration_days": 10, **WITHOUT_DEATH},
    )
    assert np.exp(-4.0 / d0) < protracted.readout("hsc")[0, -1] < 2 * np.exp(-4.0 / d0)


def test_the_nadir_deepens_and_the_fall_comes_earlier_with_dose():
    courses = [_course(dose) for dose in (1.0, 2.0, 4.0, 6.0)]
    for name in ("anc", "platelets"):
        nadirs = [c.readout(name)[0].min() for c in courses]
        assert (np.diff(nadirs) < 0).all(), (name, nadirs)
        # the count falls to 80% of its baseline no later at a higher dose
        onsets = [_first_day_below(c, name, 0.8) for c in courses[1:]]
        assert (np.diff(onsets) <= 0).all(), (name, onsets)
        assert onsets[-1] < onsets[0], (name, onsets)
    # 4 Gy: severe neutropenia and thrombocytopenia
    assert courses[2].readout("anc")[0].min() < 1.0
    assert courses[2].readout("platelets")[0].min() < 100


def test_lymphocytes_fall_first_and_fastest():
    result = _course(4.0)  # exposure on day 1
    day_after = int(np.searchsorted(result.days, 2.0))
    lymphocytes, anc, platelets = (
        result.readout(n)[0] for n in ("lymphocytes", "anc", "platelets")
    )
    assert lymphocytes[day_after] < 0.1 * lymphocytes[0]
    assert anc[day_after] > 0.9 * anc[0] and platelets[day_after] > 0.9 * platelets[0]
    falls = {n: _first_day_below(result, n, 0.5) for n in ("lymphocytes", "anc", "platelets")}
    assert falls["lymphocytes"] < min(falls["anc"], falls["platelets"]), falls


def _dead_by_day_60(scenario: str) -> np.ndarray:
    dead = []
    for dose in DOSES:
        # the exposure is on day 1: 60 days after it is day 61
        result = marrowsim.simulate(
            scenario, patients=COHORT, seed=0, days=61, every=61, set={"radiation.dose_gy": dose}
        )
        dead.append(1 - result.alive[:, -1].mean())
    return np.array(dead)


def _ld50(dead: np.ndarray) -> float:
    """The dose killing half by day 60: where the dead fraction first reaches
    0.5, interpolated between the doses (validation's own reading)."""
    assert dead[0] < 0.5 < dead.max(), dead
    n = np.full(len(DOSES), float(COHORT))
    return lethal_dose_50(np.array(DOSES), dead * n, n)["interpolated"]


@pytest.fixture(scope="module")
def dead_by_day_60():
    return _dead_by_day_60("radiation"), _dead_by_day_60("radiation-supportive")


def test_lethality_rises_with_dose_and_care_lowers_it(dead_by_day_60):
    untreated, cared = dead_by_day_60
    assert (np.diff(untreated) >= 0).all() and (np.diff(cared) >= 0).all()
    assert (cared <= untreated).all()
    # care moves the LD50 up: below half dead wherever care-less exposure
    # kills half (the cared LD50 may lie beyond the doses simulated)
    assert (cared[untreated >= 0.5] < 0.5).all()


def test_ld50_without_care_target_radiation_ld50(dead_by_day_60, targets):
    entry = target(targets, "exposures", "radiation-ld50")
    match = re.match(r"no_treatment ([\d.]+)-([\d.]+) Gy", entry["tolerance"])
    low, high = (float(x) for x in match.groups())
    assert low <= _ld50(dead_by_day_60[0]) <= high


@pytest.mark.xfail(
    strict=True,
    reason="radiation-ld50 is missed with supportive care (docs/validation.md): with the"
    " infection care of the 2000s the dead fraction levels off near a third by 8 Gy, since"
    " the model has no gut or other non-marrow radiation injury, so no LD50 is reached",
)
def test_ld50_gain_with_care_target_radiation_ld50(dead_by_day_60, targets):
    entry = target(targets, "exposures", "radiation-ld50")
    match = re.match(r"no_treatment ([\d.]+)-([\d.]+) Gy.*at least ([\d.]+) Gy", entry["tolerance"])
    gain = float(match.group(3))
    untreated, cared = dead_by_day_60
    assert _ld50(cared) - _ld50(untreated) >= gain


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("radiation.dose_gy=-1", "parameters.radiation_dose_gy: -1"),
        ("radiation.dose_gy=4Gy", "radiation.dose_gy: '4Gy' is not a number"),
    ],
)
def test_bad_dose_exits_2_with_one_line(tmp_path, setting, message):
    code, _, stderr = cli("run", "radiation", "--set", setting, "--out", str(tmp_path / "out"))
    assert code == 2 and message in stderr and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1
