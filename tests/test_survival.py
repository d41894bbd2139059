"""Clinical events, supportive care and survival (issue 8): deaths, transfusions,
enrolment at diagnosis, Kaplan-Meier outputs, and the untreated-SAA target."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import marrowsim
from conftest import WITHOUT_DEATH, target
from marrowsim.clinic.survival import kaplan_meier
from marrowsim.engine import integrate
from marrowsim.engine.reference import integrate_reference
from marrowsim.parameters import load_table
from marrowsim.simulation import default_model

MONTH = 365.25 / 12


@pytest.fixture(scope="module")
def supportive_cohort():
    return marrowsim.simulate("supportive-care", patients=500, seed=0, every=5)


def test_supportive_care_reproduces_untreated_saa_mortality(supportive_cohort, targets):
    # a calibration target: infection_death_rate is tuned to it (the table says
    # so), so this pins the calibration; it is not evidence for the model
    entry = target(targets, "natural-history", "untreated-saa-mortality")
    low, high = (float(x) for x in re.match(r"([\d.]+)-([\d.]+)", entry["tolerance"]).groups())
    s = supportive_cohort.summary
    dead_at_2_years = 1 - s["survival"]["2_years"]["estimate"]
    assert low <= dead_at_2_years <= high, dead_at_2_years
    assert s["deaths"]["median_death_day_of_the_dead"] <= 6 * MONTH
    deaths = s["deaths"]
    assert deaths["infection"] > max(deaths["bleeding"], deaths["anaemia"])  # infection leads
    assert deaths["any"] == pytest.approx(
        deaths["infection"] + deaths["bleeding"] + deaths["anaemia"]
    )


def test_everyone_enrolled_is_severe_on_day_0_and_keyed_by_draw(supportive_cohort):
    result = supportive_cohort
    assert (result.severity_code[:, 0] >= 2).all()
    patients = result.patients
    assert patients["draw"].is_monotonic_increasing and patients["draw"].is_unique
    assert (patients["diagnosis_day"] > 30).all()  # after the attack starts (day 30)
    assert len(result.events.query("event == 'diagnosis'")) == result.n_patients


def test_diagnosis_is_the_first_severe_day_of_the_same_patient_untreated():
    enrolled = marrowsim.simulate("supportive-care", patients=8, seed=2, days=20)
    untreated = marrowsim.simulate(
        "immune-aa", patients=int(enrolled.draw.max()) + 1, seed=2, set=WITHOUT_DEATH
    )
    first_severe = untreated.patients["first_severe_day"].to_numpy()[enrolled.draw]
    # daily output: the first output day at or after the located diagnosis
    np.testing.assert_array_equal(np.ceil(enrolled.diagnosis_day), first_severe)


def test_a_transfusion_dependent_patient_stays_above_the_triggers():
    # the typical patient of a stronger attack, followed for a year without
    # dying, so that the transfusions alone are seen
    result = marrowsim.simulate(
        "supportive-care",
        days=365,
        every=0.25,
        set={"immune.strength": 6.0, **WITHOUT_DEATH},
    )
    hb, platelets = result.readout("hb")[0], result.readout("platelets")[0]
    events = result.events
    rbc_days = events.query("event == 'red_cell_transfusion'")["day"].to_numpy()
    platelet_days = events.query("event == 'platelet_transfusion'")["day"].to_numpy()
    assert len(rbc_days) >= 6 and len(platelet_days) >= 3
    near = lambda days: np.min(np.abs(result.days[:, None] - days[None, :]), axis=1) <= 1.0  # noqa: E731
    assert (hb[~near(rbc_days)] >= 8.0 - 1e-6).all()
    units = result.patients.loc[0, "rbc_units"]
    assert 2 <= units / (365 / MONTH) <= 5  # red-cell units a month
    below = platelets < 10.0
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, below.astype(int), 0]) != 0))[::2]
    assert (runs.max(initial=0) * 0.25) <= 3  # never below 10 for more than a few days
    assert below.mean() < 0.05


def test_transfusion_times_agree_with_a_scipy_reference_with_events():
    settings = {"immune.strength": 6.0, **WITHOUT_DEATH}
    result = marrowsim.simulate(
        "supportive-care", days=120, every=1, set=settings, save_states=True
    )
    model = default_model()
    values = result.parameters
    params = model.parameter_matrix(values)
    # restart the reference from the same state at diagnosis (day 0)
    y0 = result.states[:, 0, :]
    changes = [
        c if c.from_enrolment else c.shifted(result.diagnosis_day) for c in model.schedule(values)
    ]
    log: list = []
    reference, _ = integrate_reference(
        model, y0, params, changes, result.days, rtol=1e-10, atol=1e-12, event_log=log
    )
    ours = [(day, name) for _, day, name in result.event_log if name != "diagnosis"]
    theirs = [(day, name) for _, day, name in log]
    assert len(ours) == len(theirs) >= 10
    assert [n for _, n in ours] == [n for _, n in theirs]
    np.testing.assert_allclose([d for d, _ in ours], [d for d, _ in theirs], atol=1e-3, rtol=0)
    # between events the readouts agree as without them
    relative = np.abs(result.readouts - reference) / np.maximum(np.abs(reference), 1e-6)
    assert relative.max() < 1e-3


def _course_from_diagnosis(days):
    """The strong-attack typical patient from its diagnosis, nobody dying:
    (result, model, params, y0 at diagnosis, its schedule from diagnosis)."""
    settings = {"immune.strength": 6.0, **WITHOUT_DEATH}
    result = marrowsim.simulate("supportive-care", days=days, set=settings, save_states=True)
    model = default_model()
    params = model.parameter_matrix(result.parameters)
    changes = [
        c if c.from_enrolment else c.shifted(result.diagnosis_day)
        for c in model.schedule(result.parameters)
    ]
    return result, model, params, result.states[:, 0, :], changes


def test_a_jump_lands_exactly_on_the_located_day():
    result, model, params, y0, changes = _course_from_diagnosis(60)
    first = result.events.query("event == 'red_cell_transfusion'")["day"].iloc[0]
    # outputs every 1e-6 day around it: up to the located time the state is
    # the one before the jump (Hb on the trigger), after it two units more
    t_out = np.concatenate([[0.0], first + np.arange(-100, 101) * 1e-6])
    run = integrate(model, y0, params, changes, t_out)
    hb = run.readouts[0, 1:, model.readout_names.index("hb")]
    day = next(d for _, d, name in run.event_table() if name == "red_cell_transfusion")
    before = t_out[1:] <= day
    gain = result.parameters["transfusion_red_cell_unit_hb_gain"][0]
    assert 20 < before.sum() < 180  # the event lies inside the window
    assert hb[before][-1] == pytest.approx(8.0, abs=1e-6)
    assert hb[~before][0] == pytest.approx(8.0 + 2 * gain, abs=1e-5)
    assert np.sum(np.abs(np.diff(hb)) > 1e-3) == 1  # one jump, between those two outputs


def test_a_bleeding_episode_is_answered_with_a_therapeutic_platelet_transfusion():
    settings = {"immune.strength": 6.0, "bleeding.episode_threshold": 0.05, **WITHOUT_DEATH}
    result = marrowsim.simulate("supportive-care", days=120, set=settings)
    events = result.events
    bleed = events.query("event == 'bleeding_episode'")["day"].to_numpy()
    answer = events.query("event == 'therapeutic_platelet_transfusion'")["day"].to_numpy()
    assert len(bleed) == 1 and len(answer) == 1 and answer[0] == bleed[0]
    assert result.patients.loc[0, "first_bleeding_day"] == bleed[0]
    # without transfusion support the episode happens, untreated
    untreated = marrowsim.simulate("immune-aa", days=200, set=settings)
    names = set(untreated.events["event"])
    assert "bleeding_episode" in names and "therapeutic_platelet_transfusion" not in names


def test_a_count_already_below_its_trigger_when_care_starts_is_transfused_at_once():
    # care switched on at day 0 of the outputs finds platelets at 3: the
    # trigger it carries over zero fires on day 0, not at a later crossing
    low = {f"platelet_{k}": 1.0 for k in (1, 2, 3)}
    result = marrowsim.simulate(
        "healthy", days=5, initial=low, set={"transfusion.platelet_trigger": 10}
    )
    first = result.events.query("event == 'platelet_transfusion'")["day"]
    assert len(first) >= 1 and first.iloc[0] == 0.0
    assert result.readout("platelets")[0, 0] < 10 < result.readout("platelets")[0, 1]
    # so does one enrolled below the trigger at diagnosis
    enrolled = marrowsim.simulate(
        "supportive-care", patients=40, seed=0, days=1, set={"transfusion.platelet_trigger": 100}
    )
    below = enrolled.readout("platelets")[:, 0] < 100
    day0 = enrolled.events.query("event == 'platelet_transfusion' and day == 0")["patient"]
    assert below.any() and set(day0) == set(np.flatnonzero(below))


def test_kaplan_meier_equals_lifelines():
    from lifelines import KaplanMeierFitter

    rng = np.random.default_rng(7)
    death = rng.exponential(300, 200)
    death[death > 730] = np.nan  # alive at the end: censored
    death[:5] = [10.0, 10.0, 50.0, 50.0, 50.0]  # ties
    at = np.array([0.0, 10.0, 49.999, 50.0, 365.0, 730.0])
    ours = kaplan_meier(death, 730.0, at)
    fitter = KaplanMeierFitter().fit(np.where(np.isnan(death), 730.0, death), np.isfinite(death))
    np.testing.assert_allclose(ours[0], fitter.survival_function_at_times(at).to_numpy(), atol=1e-9)
    band = fitter.confidence_interval_survival_function_
    for j, day in enumerate(at):
        row = band[band.index <= day].iloc[-1]
        np.testing.assert_allclose([ours[1][j], ours[2][j]], row.to_numpy(), atol=1e-9)
    # the cases given without lifelines agree with it
    for death, end in (([np.nan, np.nan, np.nan], 730.0), ([100.0], 730.0), ([np.nan], 365.0)):
        death = np.array(death)
        ours = kaplan_meier(death, end, at)
        fitter = KaplanMeierFitter().fit(np.where(np.isnan(death), end, death), np.isfinite(death))
        np.testing.assert_allclose(ours[0], fitter.survival_function_at_times(at).to_numpy())
        band = fitter.confidence_interval_survival_function_
        for j, day in enumerate(at):
            row = band[band.index <= day].iloc[-1]
            np.testing.assert_allclose([ours[1][j], ours[2][j]], row.to_numpy(), atol=1e-9)


def test_summary_survival_is_kaplan_meier_of_the_death_days(supportive_cohort):
    s = supportive_cohort.summary
    death = supportive_cohort.patients["death_day"].to_numpy()
    estimate, low, high = kaplan_meier(death, 730.0, np.array([365.0, 730.0]))
    assert s["survival"]["1_year"] == {"estimate": estimate[0], "ci95": [low[0], high[0]]}
    assert s["survival"]["2_years"]["ci95"] == [low[1], high[1]]
    assert s["survival"]["3_years"] is None  # past the end of the run


def test_healthy_cohort_never_dies_of_a_marrow_cause():
    result = marrowsim.simulate("healthy", patients=1000, seed=0, days=3650, every=365)
    assert result.events.empty
    assert result.summary["deaths"]["any"] == 0.0
    assert result.summary["survival"]["5_years"] == {"estimate": 1.0, "ci95": [1.0, 1.0]}


def test_patients_are_bitwise_the_same_in_any_cohort_chunk_and_thread_count():
    big = marrowsim.simulate("supportive-care", patients=12, seed=3, days=300, every=10)
    small = marrowsim.simulate(
        "supportive-care", patients=5, seed=3, days=300, every=10, chunk_size=2, workers=1
    )
    np.testing.assert_array_equal(small.readouts, big.readouts[:5])
    np.testing.assert_array_equal(small.draw, big.draw[:5])
    assert list(small.event_log) == [e for e in big.event_log if e[0] < 5]
    for name in ("infection_death_threshold", "bleeding_death_threshold"):
        np.testing.assert_array_equal(small.parameters[name], big.parameters[name][:5])


def test_thresholds_are_unit_exponential_draws_from_their_own_stream():
    table = load_table()
    draws = table.draw(4000, seed=1)
    for cause in ("infection", "bleeding", "anaemia"):
        threshold = draws[f"{cause}_death_threshold"]
        assert threshold.mean() == pytest.approx(1.0, abs=0.06)
        assert np.median(threshold) == pytest.approx(np.log(2), abs=0.05)
    # independent of each other and of the drawn parameters
    assert abs(np.corrcoef(draws["infection_death_threshold"], draws["hb_set_point"])[0, 1]) < 0.05
    assert table["infection_death_threshold"].value == pytest.approx(np.log(2))  # typical: median
    # a set value moves the median of the draws
    scaled = table.with_values({"infection_death_threshold": 2 * np.log(2)}).draw(4000, seed=1)
    np.testing.assert_allclose(
        scaled["infection_death_threshold"], 2 * draws["infection_death_threshold"], rtol=1e-12
    )


def test_untreated_immune_aa_ends_in_death_and_its_course_ends_there(simulated):
    result = simulated("immune-aa")
    patient = result.patients.iloc[0]
    assert patient["death_cause"] in ("infection", "bleeding", "anaemia")
    assert 60 < patient["death_day"] < 400
    tc = result.timecourse
    assert tc["day"].iloc[-1] == np.ceil(patient["death_day"]) and tc["alive"].iloc[-1] == 0
    assert (tc["alive"].iloc[:-1] == 1).all()
    assert result.summary["survival"]["1_year"] == {"estimate": 0.0, "ci95": [0.0, 0.0]}
    assert patient["rbc_units"] == 0 and np.isnan(patient["first_transfusion_day"])


def test_supportive_care_run_writes_survival_outputs(tmp_path):
    from marrowsim.cli import main

    out = tmp_path / "out"
    main(["run", "supportive-care", "--patients", "40", "--days", "365", "--out", str(out)])
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["survival"]) == {"1_year", "2_years", "3_years", "5_years"}
    one = summary["survival"]["1_year"]
    assert 0 <= one["ci95"][0] <= one["estimate"] <= one["ci95"][1] <= 1
    assert set(summary["deaths"]) >= {"any", "infection", "bleeding", "anaemia"}
    assert (out / "survival.png").stat().st_size > 10_000
    import pandas as pd

    patients = pd.read_csv(out / "patients.csv")
    for column in ("draw", "diagnosis_day", "death_day", "death_cause", "rbc_units",
                   "platelet_units", "first_transfusion_day"):  # fmt: skip
        assert column in patients.columns
    timecourse = pd.read_csv(out / "timecourse.csv")
    assert {"alive", "rbc_units", "platelet_units"} <= set(timecourse.columns)
    per_patient = timecourse.groupby("patient")["rbc_units"].sum()
    np.testing.assert_allclose(per_patient.to_numpy(), patients["rbc_units"].to_numpy())


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("transfusion.red_cell_trigger_hb=-1", r"transfusion_red_cell_trigger_hb: -1(\.0)? is outside the allowed range \[0, 12\] g/dL"),
        ("transfusion.red_cell_rule=weekly", r"unknown scenario key 'transfusion\.red_cell_rule'"),
        ("transfusion.platelet_trigger=10 mL", r"transfusion\.platelet_trigger: '10 mL' is not a number"),
        ("enrolment=sometimes", r"enrolment: 'sometimes' is not allowed; use start or diagnosis"),
        ("antimicrobial.hazard_ratio=2", r"antimicrobial_hazard_ratio: 2(\.0)? is outside the allowed range \[0\.05, 1\]"),
    ],
)  # fmt: skip
def test_bad_supportive_care_input_exits_2_and_writes_nothing(tmp_path, setting, message):
    import subprocess
    import sys

    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "marrowsim.cli", "run", "supportive-care", "--set", setting,
         "--out", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2
    assert re.search(message, done.stderr), done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not out.exists()
