"""Chloramphenicol (issue 10): a dose-dependent, reversible fall of
reticulocytes while the drug is taken, and a rare dose-independent
idiosyncratic reaction (about 1 in 30,000 courses, Wallerstein 1969) that
starts the immune attack weeks to months after the course."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import marrowsim
from marrowsim.mechanisms.chloramphenicol import NEVER_DAY, reacts, sensitisation_onset
from marrowsim.parameters import load_table
from marrowsim.validation import clopper_pearson, load_targets
from test_cli import cli

START, COURSE = 7, 14  # the scenario's course: days 7-21
END = START + COURSE
DRAW = "chloramphenicol_idiosyncratic_draw"
RISK = load_table()["chloramphenicol_idiosyncratic_risk_per_course"].value
POPULATION = 300_000  # drawn courses for the rate (a few seconds)


def _course(dose: float, patients: int | None = None, days: float = 60) -> marrowsim.Result:
    return marrowsim.simulate(
        "chloramphenicol",
        patients=patients,
        seed=0,
        days=days,
        every=1,
        set={"chloramphenicol.dose_mg_per_kg_day": dose},
    )


def test_reticulocytes_fall_during_the_course_in_most_patients_and_recover():
    result = _course(50, patients=20)
    retic = result.readout("retic")
    baseline = retic[:, START]
    nadir = retic[:, START : END + 1].min(axis=1)
    fall = 1 - nadir / baseline
    # most patients lose at least a tenth of their reticulocytes while taking it
    assert np.mean(fall > 0.1) >= 0.8, fall
    # the nadir comes during the course or just after it, not later
    nadir_day = START + retic[:, START : END + 15].argmin(axis=1)
    assert (nadir_day <= END + 3).all(), nadir_day
    # reversible: back to at least 95% of baseline within 3 weeks of stopping
    assert (retic[:, END + 21] >= 0.95 * baseline).all()
    # and no reaction in these 20 (their draws are far above the threshold)
    assert not np.isfinite(result.patients["first_severe_day"].to_numpy(dtype=float)).any()
    assert np.isfinite(retic).all() and (retic >= 0).all()


def test_the_fall_deepens_with_dose():
    doses = (0, 25, 50, 75, 100)
    falls = []
    for dose in doses:
        retic = _course(dose).readout("retic")[0]
        falls.append(1 - retic[START : END + 1].min() / retic[START])
    falls = np.array(falls)
    assert abs(falls[0]) < 1e-9  # no drug: the steady state
    assert (np.diff(falls) > 0).all(), falls
    # at the standard dose a visible fall, at 100 mg/kg/day (about 19 ug/mL,
    # near the toxic 25) reticulocytopenia: half or more gone
    assert 0.15 < falls[2] < 0.45 and falls[4] > 0.45, falls


def test_the_outcome_draw_is_the_simulations_draw():
    table = load_table()
    assert np.array_equal(table.draw_outcome(DRAW, 50, 3, first=10), table.draw(50, 3, 10)[DRAW])


@pytest.fixture(scope="module")
def population():
    return load_table().draw_outcome(DRAW, POPULATION, 0)


def test_the_idiosyncratic_rate_lies_in_1_per_50000_to_20000(population):
    # the draws are unit exponentials (a Kolmogorov-Smirnov test on the
    # first 20,000), so a course reacts with the risk's probability exactly
    assert stats.kstest(population[:20_000], "expon").pvalue > 0.001
    assert -np.expm1(np.log1p(-RISK)) == pytest.approx(RISK)
    assert 1 / 50_000 <= RISK <= 1 / 20_000
    count = int(reacts(population, RISK).sum())
    low, high = clopper_pearson(count, POPULATION)
    # the exact interval holds the risk and overlaps the target's band
    assert low <= RISK <= high, (count, low, high)
    assert low <= 1 / 20_000 and high >= 1 / 50_000
    # a two-sided exact binomial test does not reject the published 1/30,000
    assert stats.binomtest(count, POPULATION, 1 / 30_000).pvalue > 0.01
    # the band is the target's tolerance
    target = next(t for t in load_targets() if t["id"] == "chloramphenicol-idiosyncratic")
    assert "1/50000 to 1/20000" in target["tolerance"]


def test_the_reaction_does_not_depend_on_dose_and_needs_a_course(population):
    # the schedule of the hook: reacting patients get their onset day,
    # others never; unexposed patients never
    draws = population[:1000].copy()
    draws[:3] = 1e-9  # three reacting patients
    day = np.full(1000, 80.0)
    change = sensitisation_onset(np.ones(1000, bool), draws, RISK, day)
    assert change.input == "immune_attack_on" and change.value == 1.0
    assert (change.day[:3] == 80).all() and (change.day[3:] == NEVER_DAY).all()
    unexposed = sensitisation_onset(np.zeros(1000, bool), draws, RISK, day)
    assert (unexposed.day == NEVER_DAY).all()


@pytest.fixture(scope="module")
def reacting(population):
    """The first two patients of the seed's population who react, simulated
    alone (first_patient: the same patients as in the whole population)."""
    index = np.flatnonzero(reacts(population, RISK))[:2]
    return [
        marrowsim.simulate(
            "chloramphenicol",
            patients=1,
            seed=0,
            first_patient=int(k),
            days=300,
            every=1,
            save_states=True,
        )
        for k in index
    ]


def test_reacting_patients_develop_immune_aa_weeks_to_months_after_the_course(reacting):
    for result in reacting:
        latency = float(result.parameters["chloramphenicol_idiosyncratic_latency_days"][0])
        onset = END + latency
        effectors = result.state("t_effector")[0]
        days = result.days
        # no attack before the onset, an attack after it
        assert (effectors[days < onset] == 0).all()
        # (NaN after a death)
        assert np.nanmax(effectors[days > onset + 10]) > 1e-3
        severe = float(result.patients["first_severe_day"].iloc[0])
        assert np.isfinite(severe) and severe > onset
        # weeks to months after the course
        assert 14 <= severe - END <= 240, severe - END


def test_latency_is_weeks_to_months_in_a_drawn_population():
    latency = load_table().draw(2000, 0)["chloramphenicol_idiosyncratic_latency_days"]
    p10, p50, p90 = np.percentile(latency, [10, 50, 90])
    assert 7 <= p10 and 20 <= p50 <= 45 and p90 <= 120, (p10, p50, p90)


def test_no_drug_leaves_the_model_as_it_was():
    # dose 0 (the table's default) whatever the other keys: bitwise the run without them
    settings = {"patients": 3, "seed": 2, "days": 200, "every": 20}
    for scenario in ("healthy", "immune-aa"):
        plain = marrowsim.simulate(scenario, **settings)
        keyed = marrowsim.simulate(
            scenario,
            **settings,
            set={
                "chloramphenicol.days": 30,
                "chloramphenicol.start_day": 5,
                "drug.days": 10,
                "drug.idiosyncratic_risk_per_course": 1.0,
            },
        )
        assert np.array_equal(plain.readouts, keyed.readouts, equal_nan=True)
        assert np.array_equal(plain.steps, keyed.steps)


def test_the_generic_drug_has_the_same_two_faces():
    # the generic drug at chloramphenicol's defaults gives chloramphenicol's fall
    chloramphenicol = _course(75).readout("retic")[0]
    generic = marrowsim.simulate(
        "chloramphenicol",
        days=60,
        every=1,
        set={
            "chloramphenicol.dose_mg_per_kg_day": 0,
            "drug.dose_mg_per_kg_day": 75,
            "drug.start_day": START,
        },
    ).readout("retic")[0]
    np.testing.assert_allclose(generic, chloramphenicol, rtol=1e-9)
    # a certain reaction (risk 1) starts the attack in the typical patient
    sure = marrowsim.simulate(
        "chloramphenicol",
        days=200,
        every=1,
        save_states=True,
        set={
            "chloramphenicol.dose_mg_per_kg_day": 0,
            "drug.dose_mg_per_kg_day": 10,
            "drug.idiosyncratic_risk_per_course": 1.0,
            "drug.idiosyncratic_latency_days": 20,
        },
    )
    effectors = sure.state("t_effector")[0]
    assert (effectors[sure.days < 14 + 20] == 0).all()
    assert np.nanmax(effectors[sure.days > 14 + 30]) > 1e-3


def test_a_regimen_with_units_gives_the_same_course(tmp_path):
    regimen = {
        "name": "course",
        "days": 40,
        "regimens": [
            {"drug": "chloramphenicol", "dose": "75 mg/kg/day", "start_day": 7, "duration_days": 14}
        ],
    }
    keys = {"name": "course", "days": 40, "chloramphenicol": {"dose_mg_per_kg_day": 75}}
    keys["chloramphenicol"].update(start_day=7, days=14)
    a = marrowsim.simulate(regimen).readout("retic")
    b = marrowsim.simulate(keys).readout("retic")
    assert np.array_equal(a, b)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "chloramphenicol.dose_mg_per_kg_day=-5",
            "parameters.chloramphenicol_dose_mg_per_kg_day: -5",
        ),
        ("chloramphenicol.dose_mg_per_kg_day=50mg/kg", "'50mg/kg' is not a number"),
        ("chloramphenicol.dose_mg_per_kg_day=4000", "chloramphenicol_dose_mg_per_kg_day: 4000"),
        ("chloramphenicol.days=-1", "parameters.chloramphenicol_days: -1"),
    ],
)
def test_bad_dose_exits_2_with_one_line(tmp_path, setting, message):
    code, _, stderr = cli(
        "run", "chloramphenicol", "--set", setting, "--out", str(tmp_path / "out")
    )
    assert code == 2 and message in stderr and "Traceback" not in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1


def test_a_dose_in_the_wrong_unit_exits_2_naming_the_field(tmp_path):
    scenario = tmp_path / "course.yaml"
    scenario.write_text(
        "name: course\nregimens:\n  - drug: chloramphenicol\n    dose: 3 g/day\n"
        "    start_day: 0\n    duration_days: 14\n"
    )
    code, _, stderr = cli("run", str(scenario), "--out", str(tmp_path / "out"))
    assert code == 2 and "regimens" in stderr and "is not in mg/kg/day" in stderr, stderr
    assert "3 g/day" in stderr and len(stderr.strip().splitlines()) == 1


def test_both_faces_in_sbml_agree_with_the_engine():
    roadrunner = pytest.importorskip("roadrunner")
    from marrowsim.io.sbml import state_scales

    # risk 0.9: the typical patient's draw (ln 2) lies below -ln(0.1), so it
    # reacts and its attack starts on day 41
    settings = {
        "chloramphenicol.dose_mg_per_kg_day": 100,
        "chloramphenicol.idiosyncratic_risk_per_course": 0.9,
        "chloramphenicol.idiosyncratic_latency_days": 20,
    }
    runner = roadrunner.RoadRunner(marrowsim.export_sbml("chloramphenicol", overrides=settings))
    scales = state_scales("chloramphenicol")
    runner.integrator.relative_tolerance = 1e-10
    runner.integrator.absolute_tolerance = [1e-12 * scales[n] for n in runner.getRateRuleIds()]
    runner.integrator.maximum_num_steps = 10**6
    runner.timeCourseSelections = ["time", "retic", "platelets", "hb"]
    course = runner.simulate(0, 120, 13)  # every 10 days
    engine = marrowsim.simulate("chloramphenicol", days=120, every=10, set=settings)
    platelets = engine.readout("platelets")[0]
    assert platelets[-1] < 0.5 * platelets[4]  # the attack, after day 41
    for k, name in enumerate(("retic", "platelets", "hb"), start=1):
        np.testing.assert_allclose(course[:, k], engine.readout(name)[0], rtol=1e-5)
