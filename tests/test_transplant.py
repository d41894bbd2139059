"""Issue 12: matched-sibling stem-cell transplant (mechanisms/transplant.py,
the ``hsct`` regimen, the immune-aa-hsct scenario) and the age covariate it
needs (a histogram draw in the parameter table)."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

import marrowsim
from marrowsim.cli import main
from marrowsim.errors import InputError
from marrowsim.io.scenario import load_scenario
from marrowsim.mechanisms.transplant import graft_course
from marrowsim.parameters import Variability, load_table, parse_table

HSCT = {"drug": "hsct", "dose": "3 x10^6/kg", "donor": "msd", "start_day": 0}
SCENARIO = "immune-aa-hsct"


@pytest.fixture(scope="module")
def cohort():
    # 60 patients, daily outputs over the first 200 days
    return marrowsim.simulate(SCENARIO, patients=60, seed=3, days=200, every=1)


# -- the age covariate ---------------------------------------------------------


def test_age_draws_are_reproducible_per_patient_and_bimodal():
    table = load_table()
    small = table.draw(5, seed=11)["patient_age_years"]
    large = table.draw(4000, seed=11)["patient_age_years"]
    np.testing.assert_array_equal(small, large[:5])  # the same patient in any cohort
    np.testing.assert_array_equal(large, table.draw(4000, seed=11)["patient_age_years"])
    assert large.min() >= 1 and large.max() <= 90
    # two peaks (15-25 and over 60 years) with a trough between, per year of age
    density = {
        band: np.mean((large >= band[0]) & (large < band[1])) / (band[1] - band[0])
        for band in ((1, 10), (15, 25), (25, 40), (60, 75))
    }
    assert density[(15, 25)] > 1.4 * density[(25, 40)]
    assert density[(60, 75)] > 1.4 * density[(25, 40)]
    assert density[(15, 25)] > density[(1, 10)]
    assert 45 < np.median(large) < 62  # Vaht et al. 2017: median 60 (all AA)


def test_appending_the_age_left_every_earlier_draw_alone():
    table = load_table()
    without = parse_table(
        {
            p.name: p.model_dump(exclude={"name"})
            for p in table.parameters
            if p.name != "patient_age_years"
        }
    )
    before, after = without.draw(6, seed=4), table.draw(6, seed=4)
    # the parameters before it in the table (those appended after it draw
    # after it from the same stream)
    names = [p.name for p in table.parameters]
    earlier = names[: names.index("patient_age_years")]
    assert len(earlier) > 100
    for name in earlier:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)


def test_a_scenario_fixes_the_age_and_a_bad_age_names_the_field():
    result = marrowsim.simulate(
        "healthy", patients=3, seed=1, days=10, set={"patient.age_years": 42}
    )
    assert result.patients["age"].tolist() == [42.0, 42.0, 42.0]
    with pytest.raises(InputError) as error:
        marrowsim.simulate("healthy", patients=2, days=10, set={"patient.age_years": 200})
    message = str(error.value)
    assert "patient_age_years" in message and "200" in message and "[1, 90]" in message
    assert "\n" not in message


def test_a_histogram_needs_matching_edges_and_weights():
    Variability(distribution="histogram", bins=(0, 1, 2), weights=(1, 1))
    for bad in (
        {"bins": (0, 1, 2), "weights": (1,)},
        {"bins": (0, 2, 1), "weights": (1, 1)},
        {"bins": (0, 1), "weights": (-1,)},
        {"bins": None, "weights": (1,)},
    ):
        with pytest.raises(ValueError):
            Variability(distribution="histogram", **bad)
    with pytest.raises(ValueError):
        Variability(cv=0.2, bins=(0, 1), weights=(1,))


def test_patients_csv_has_age_and_transplant_columns(tmp_path):
    result = marrowsim.simulate("immune-aa", patients=2, seed=4, days=50, every=10)
    frame = result.patients
    np.testing.assert_array_equal(frame["age"], result.parameters["patient_age_years"])
    assert frame["anc_engraftment_day"].isna().all() and frame["graft_failure"].isna().all()
    assert result.summary["transplant"] is None


# -- the regimen ------------------------------------------------------------------


def test_the_hsct_regimen_sets_the_transplant_parameters():
    sc = load_scenario(
        {
            "name": "t",
            "regimens": [{**HSCT, "donor": "MUD", "conditioning_dose": "50 mg/kg/day"}],
        }
    )
    assert sc.parameters == {
        "transplant_cd34_dose_1e6_per_kg": 3.0,
        "transplant_start_day": 0.0,
        "transplant_conditioning_days": 4.0,  # cyclophosphamide x 4 by default
        "transplant_donor_unrelated": 1.0,
        "transplant_cyclophosphamide_mg_per_kg_day": 50.0,
    }


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        ({"dose": "3 mg/kg"}, ["regimens[0].dose", "10^6 CD34+ cells/kg"]),
        ({"dose": "-3 x10^6/kg"}, ["regimens[0].dose", "negative"]),
        ({"dose": "40 x10^6/kg"}, ["regimens[0].dose", "[0, 30]"]),
        ({"donor": "cousin"}, ["regimens[0].donor", "cousin", "msd", "mud"]),
        ({"conditioning_dose": "50 mg"}, ["regimens[0].conditioning_dose", "mg/kg/day"]),
        ({"duration_days": 30}, ["regimens[0].duration_days", "hsct"]),
        ({"taper_days": 3}, ["regimens[0].taper_days", "hsct takes no taper_days"]),
    ],
)
def test_bad_transplant_regimens_are_one_line(change, needles):
    with pytest.raises(InputError) as error:
        load_scenario({"name": "t", "regimens": [{**HSCT, **change}]})
    message = str(error.value)
    assert "\n" not in message and len(message) < 300, message
    for needle in needles:
        assert needle in message, message


def test_cli_refuses_a_bad_transplant_in_one_line(capsys, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: t\nregimens:\n  - {drug: hsct, dose: 3 x10^6/kg, donor: aunt}\n")
    with pytest.raises(SystemExit) as done:
        main(["run", str(path), "--out", str(tmp_path / "o")])
    assert done.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "regimens[0].donor" in line and "aunt" in line
    assert not (tmp_path / "o").exists()


# -- the course -------------------------------------------------------------------


def test_neutrophils_engraft_between_day_10_and_28_in_most(cohort):
    days = cohort.patients["anc_engraftment_day"].to_numpy(dtype=float)
    engrafted = days[np.isfinite(days)]
    assert len(engrafted) >= 0.8 * len(days)
    assert np.mean((engrafted >= 10) & (engrafted <= 28)) >= 0.75
    assert 12 <= np.median(engrafted) <= 24  # PKPD.md: median about 17 days
    summary = cohort.summary["transplant"]
    assert summary["patients"] == 60
    assert summary["median_anc_engraftment_day"] == np.median(engrafted)


def test_graft_failure_fraction_is_5_to_10_percent():
    # the draw needs no integration: 4000 matched-sibling patients
    table = load_table().with_values({"transplant_cd34_dose_1e6_per_kg": 3.0})
    course = graft_course(table.draw(4000, seed=2))
    count = int(course["failed"].sum())
    low, high = proportion_confint(count, 4000, alpha=0.01, method="wilson")
    assert 0.05 <= count / 4000 <= 0.10 and low < 0.085 < high  # the set 8.5%
    primary = int(course["primary"].sum())
    assert 0.3 < primary / count < 0.7  # half of them primary
    unrelated = graft_course(
        table.with_values({"transplant_donor_unrelated": 1}).draw(4000, seed=2)
    )
    assert unrelated["failed"].sum() > count  # an unrelated donor's graft fails more


def test_a_failed_graft_leaves_the_marrow_aplastic(cohort):
    frame = cohort.patients
    anc = cohort.readout("anc")
    for i in np.flatnonzero(frame["graft_failure"] == "primary"):
        assert np.isnan(frame["anc_engraftment_day"][i])
        assert anc[i, -1] < 0.5 or not cohort.alive[i, -1]
    # a patient whose graft holds has recovered counts on day 200
    held = frame["graft_failure"].isna() & (cohort.alive[:, -1])
    assert np.median(anc[held.to_numpy(), -1]) > 1.5


def test_the_autoimmune_attack_stops_after_the_transplant():
    # the typical patient (its graft holds), against the same patient untreated
    kept = marrowsim.simulate(SCENARIO, days=200, every=1, save_states=True)
    untreated = marrowsim.simulate(
        SCENARIO,
        days=200,
        every=1,
        save_states=True,
        set={"transplant.cd34_dose_1e6_per_kg": 0, "hatg.dose_mg_per_kg_day": 0},
    )
    effector = kept.state("t_effector")[0]
    assert effector[0] > 0
    assert effector[-1] < 1e-3 * effector[0]
    assert untreated.state("t_effector")[0][-1] > 0.1 * effector[0]
    assert kept.readout("hsc")[0][-1] > 10 * untreated.readout("hsc")[0][-1]


def test_transplant_mortality_rises_with_age():
    young, old = (
        marrowsim.simulate(
            SCENARIO, patients=60, seed=5, days=400, every=10, set={"patient.age_years": age}
        )
        for age in (10, 45)
    )

    def died(result):
        return int(np.sum(result.outcomes.death_cause == "transplant"))

    assert died(young) < died(old)
    assert np.mean(np.isfinite(young.outcomes.death_day)) < np.mean(
        np.isfinite(old.outcomes.death_day)
    )
    assert old.summary["deaths"]["transplant"] > 0


def test_no_transplant_means_no_transplant_terms():
    result = marrowsim.simulate("immune-aa", patients=3, seed=4, days=400, save_states=True)
    hazard = result.state("transplant_hazard")
    assert np.all(hazard[np.isfinite(hazard)] == 0)  # NaN after a death
    assert "transplant" not in set(result.outcomes.death_cause)
