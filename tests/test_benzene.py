"""Benzene (issue 10, second part): air concentration at work, saturable
metabolism to marrow-toxic metabolites, a kill on progenitors (MPP) and, far
less, on HSC. Lan et al., Science 2004: WBC and platelets lower in workers
below 1 ppm, progenitors lower still, Hb lower only at higher exposure."""

from __future__ import annotations

import numpy as np
import pytest

import marrowsim
from marrowsim.mechanisms import Benzene
from marrowsim.mechanisms.base import Context, Namespace
from marrowsim.parameters import load_table
from test_cli import cli

YEAR = 365.25
PPMS = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
COUNTS = ("wbc", "anc", "platelets", "hb")
COHORT = 100


def _signals(ppm: float, **values: float) -> dict:
    """The mechanism's kill rates at ``ppm``, evaluated on plain numbers."""
    table = {name: load_table()[name].value for name in Benzene.parameters}
    table.update(values)
    p = Namespace("parameter", table)
    p = Namespace("parameter", {**table, **Benzene().derived(p)})
    c = Context(Namespace("state", {}), p, Namespace("input", {"benzene_air_ppm": ppm}))
    return Benzene().signals(c)


def _metabolised(ppm: float) -> float:
    """mg/day metabolised at ``ppm`` (kill rate x D0)."""
    return (
        _signals(ppm)["benzene_progenitor_kill_rate"]
        * load_table()["benzene_d0_progenitor_mg"].value
    )


def test_intake_is_the_week_average_and_metabolism_is_saturable():
    # 1 ppm = 3.19 mg/m^3; 20 L/min for 8 h = 9.6 m^3; 5 days of 7; half retained
    assert _metabolised(1e-9) / 1e-9 == pytest.approx(78.11 / 24.45 * 9.6 * 5 / 7 * 0.5)
    per_ppm = [_metabolised(ppm) / ppm for ppm in (0.01, 0.1, 1, 10, 100)]
    low_dose = _metabolised(1e-9) / 1e-9
    # less than linear already below 1 ppm (Rappaport 2009): per ppm it falls
    # at every step, to about half its low-dose value at 1 ppm
    assert (np.diff(per_ppm) < 0).all()
    assert per_ppm[1] / low_dose < 0.95
    assert per_ppm[2] / low_dose == pytest.approx(0.54, abs=0.01)
    assert per_ppm[3] / low_dose == pytest.approx(0.30, abs=0.01)
    # but the amount metabolised still rises with ppm
    assert (np.diff([_metabolised(ppm) for ppm in (0.01, 0.1, 1, 10, 100)]) > 0).all()
    # the week's average: 4 h a day or 2.5 days a week halve the kill at a
    # given concentration at work
    full = _signals(5.0)["benzene_progenitor_kill_rate"]
    assert _signals(5.0, benzene_hours_per_day=4)["benzene_progenitor_kill_rate"] == (
        pytest.approx(full / 2)
    )
    assert _signals(5.0, benzene_days_per_week=2.5)["benzene_progenitor_kill_rate"] == (
        pytest.approx(full / 2)
    )
    # HSC far less sensitive than progenitors
    kills = _signals(1.0)
    assert kills["benzene_hsc_kill_rate"] < 0.01 * kills["benzene_progenitor_kill_rate"]
    assert _signals(0.0) == {"benzene_progenitor_kill_rate": 0, "benzene_hsc_kill_rate": 0}


def _year(ppm: float, patients: int = 1) -> marrowsim.Result:
    # a working year, read on its last day
    return marrowsim.simulate(
        "benzene",
        patients=patients,
        seed=0,
        days=YEAR,
        every=YEAR / 4,
        save_states=True,
        set={"benzene.ppm": ppm, "benzene.years": 1},
    )


def _end(result: marrowsim.Result, name: str) -> np.ndarray:
    """Each patient's last-day value of a readout, or of the MPP state."""
    if name == "mpp":
        return result.state("mpp")[:, -1]
    return result.readout(name)[:, -1]


def test_counts_fall_monotonically_with_ppm_and_progenitors_fall_more_steeply():
    courses = [_year(ppm) for ppm in PPMS]
    falls = {
        name: np.array([1 - _end(c, name)[0] / _end(courses[0], name)[0] for c in courses])
        for name in (*COUNTS, "mpp", "hsc")
    }
    for name, fall in falls.items():
        assert (np.diff(fall) > 0).all(), (name, fall)
    # at every exposure, progenitors (MPP) fall more than the blood counts
    for name in COUNTS:
        assert (falls["mpp"][1:] > falls[name][1:]).all(), (name, falls["mpp"], falls[name])
    # and Hb, buffered by EPO and 120-day red cells, least of the counts
    assert (falls["hb"][1:] < 0.5 * falls["platelets"][1:]).all()
    # 30 ppm for a year: marked neutropenia and thrombocytopenia
    assert falls["anc"][-1] > 0.5 and falls["platelets"][-1] > 0.4


@pytest.fixture(scope="module")
def working_year():
    """A cohort of healthy adults (with the table's variability), unexposed
    and after a working year at 1 ppm: the same seed, so the same patients."""
    return _year(0.0, COHORT), _year(1.0, COHORT)


def test_a_working_year_at_1_ppm_lowers_wbc_and_platelets_but_barely_hb(working_year):
    unexposed, exposed = working_year
    change = {name: _end(exposed, name) / _end(unexposed, name) - 1 for name in (*COUNTS, "mpp")}
    mean = {name: float(c.mean()) for name, c in change.items()}
    assert mean["wbc"] <= -0.03 and mean["platelets"] <= -0.03, mean
    assert (change["wbc"] < 0).all() and (change["platelets"] < 0).all()
    # Hb barely changes: less than half a g/dL and a third of the WBC fall
    hb_drop = _end(unexposed, "hb") - _end(exposed, "hb")
    assert np.median(hb_drop) < 0.5, np.median(hb_drop)
    assert abs(mean["hb"]) < abs(mean["wbc"]) / 3, mean
    # progenitors fall more steeply than blood counts
    assert mean["mpp"] < min(mean["wbc"], mean["platelets"], mean["anc"]), mean


def test_counts_recover_once_exposure_ends():
    # the built-in scenario: 10 ppm for 5 years, then a year off exposure
    result = marrowsim.simulate("benzene")
    unexposed = marrowsim.simulate("benzene", set={"benzene.ppm": 0})
    days = result.days
    at_work = int(np.searchsorted(days, 5 * YEAR)) - 1
    for name in ("anc", "platelets"):
        values, healthy = result.readout(name)[0], unexposed.readout(name)[0]
        assert values[at_work] < 0.8 * healthy[at_work], name
        assert values[-1] > 0.95 * healthy[-1], name


def test_no_exposure_leaves_the_model_as_it_was():
    # ppm 0 (the default) whatever the other exposure keys: bitwise the healthy run
    plain = marrowsim.simulate("healthy", patients=3, seed=2, days=400, every=50)
    unexposed = marrowsim.simulate(
        "healthy",
        patients=3,
        seed=2,
        days=400,
        every=50,
        set={"benzene.hours_per_day": 12, "benzene.years": 0.5, "benzene.start_day": 30},
    )
    assert np.array_equal(plain.readouts, unexposed.readouts, equal_nan=True)
    assert np.array_equal(plain.steps, unexposed.steps)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("benzene.ppm=-1", "parameters.benzene_ppm: -1"),
        ("benzene.ppm=5ppm", "benzene.ppm: '5ppm' is not a number"),
        ("benzene.hours_per_day=25", "parameters.benzene_hours_per_day: 25"),
        ("benzene.days_per_week=8", "parameters.benzene_days_per_week: 8"),
    ],
)
def test_bad_exposure_exits_2_with_one_line(tmp_path, setting, message):
    code, _, stderr = cli("run", "benzene", "--set", setting, "--out", str(tmp_path / "out"))
    assert code == 2 and message in stderr and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_the_exposure_in_sbml_agrees_with_the_engine():
    roadrunner = pytest.importorskip("roadrunner")
    from marrowsim.io.sbml import state_scales

    settings = {"benzene.ppm": 3, "benzene.years": 0.5, "benzene.start_day": 20}
    runner = roadrunner.RoadRunner(marrowsim.export_sbml("benzene", overrides=settings))
    scales = state_scales("benzene")
    runner.integrator.relative_tolerance = 1e-10
    runner.integrator.absolute_tolerance = [1e-12 * scales[n] for n in runner.getRateRuleIds()]
    runner.integrator.maximum_num_steps = 10**6
    runner.timeCourseSelections = ["time", "anc", "platelets", "hb"]
    course = runner.simulate(0, 400, 9)  # on, off on day 202.6, and after
    engine = marrowsim.simulate("benzene", days=400, every=50, set=settings)
    for k, name in enumerate(("anc", "platelets", "hb"), start=1):
        np.testing.assert_allclose(course[:, k], engine.readout(name)[0], rtol=1e-5)


def test_sensitisation_starts_the_attack_with_the_cumulative_hazards_probability():
    # each patient's onset from its own outcome draw: the attack starts in a
    # fraction 1 - exp(-hazard x ppm x years) of workers, while they work
    table = load_table()
    n, hazard, ppm, years = 40_000, 1e-3, 10.0, 5.0
    draws = table.draw_outcome("benzene_sensitisation_draw", n, seed=7)
    p = {
        "benzene_start_day": 100.0,
        "benzene_ppm": ppm,
        "benzene_years": years,
        "benzene_sensitisation_per_ppm_year": hazard,
        "benzene_sensitisation_draw": draws,
    }
    (onset,) = [c for c in Benzene().schedule(p) if c.input == "immune_attack_on"]
    day = np.asarray(onset.day)
    started = day < 1e8
    expected = 1 - np.exp(-hazard * ppm * years)
    se = np.sqrt(expected * (1 - expected) / n)
    assert abs(started.mean() - expected) < 4 * se, (started.mean(), expected)
    assert (day[started] >= 100).all() and (day[started] < 100 + years * YEAR).all()
    # a constant hazard: onsets spread over the years worked, a few more early
    first, second = np.histogram(day[started], bins=2, range=(100, 100 + years * YEAR))[0]
    assert first > second > 0.8 * first
    # no exposure, or no hazard: never
    for change in ({"benzene_ppm": 0.0}, {"benzene_sensitisation_per_ppm_year": 0.0}):
        (none,) = [c for c in Benzene().schedule({**p, **change}) if c.input == "immune_attack_on"]
        assert (np.asarray(none.day) >= 1e8).all()


def test_an_exposure_and_a_susceptible_immune_system_start_immune_aa():
    # a high sensitisation hazard at 10 ppm: most workers react within the
    # five years; immune AA follows only where the immune system is susceptible
    settings = {
        "benzene.sensitisation_per_ppm_year": 0.05,
        "immune.trigger_day": 36500,  # no spontaneous break of tolerance
        "days": 2191,
        "every": 30,
    }
    susceptible = marrowsim.simulate(
        "benzene", patients=12, seed=2, set={**settings, "immune.strength": 3.0}
    )
    tolerant = marrowsim.simulate("benzene", patients=12, seed=2, set=settings)
    unexposed = marrowsim.simulate(
        "benzene", patients=12, seed=2, set={**settings, "immune.strength": 3.0, "benzene.ppm": 0}
    )
    assert susceptible.summary["severity"]["severe_or_worse"] >= 0.5
    assert tolerant.summary["severity"]["severe_or_worse"] == 0
    assert unexposed.summary["severity"]["severe_or_worse"] == 0
    assert np.nanmax(tolerant.readout("interferon_gamma")) < np.nanmax(
        susceptible.readout("interferon_gamma")
    )
