"""Issue 12: the salvage rule (mechanisms/salvage.py, clinic/salvage.py): a
non-responder at the 6-month assessment is switched to the scenario's
transplant where a donor exists and the age allows, otherwise to its second
ATG course; nobody else gets either."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

import marrowsim
from marrowsim.clinic.definitions import (
    SEVERE_ANC_BELOW,
    SEVERE_PLATELETS_BELOW,
    SEVERE_RETIC_BELOW,
)
from marrowsim.errors import InputError
from marrowsim.io.scenario import builtin_text

ASSESSMENT = 182.0
SALVAGE_START = 212
SECOND_COURSE_DAYS = 120  # cyclosporine with the second ATG course


def _scenario(**salvage: float) -> dict:
    raw = yaml.safe_load(builtin_text("immune-aa-ist"))
    raw["name"] = "immune-aa-ist-salvage"
    raw["days"] = 400
    raw["salvage"] = {"rule": 1, "assessment_day": ASSESSMENT, **salvage}
    raw["cyclosporine"]["second_course_start_day"] = SALVAGE_START
    raw["cyclosporine"]["second_course_full_dose_days"] = SECOND_COURSE_DAYS
    # no restart on relapse: only the salvage rule gives cyclosporine after day 180
    raw["cyclosporine"]["restart_on_relapse"] = 0
    raw["regimens"] = [
        {
            "drug": "hsct",
            "dose": "3 x10^6/kg",
            "donor": "mud",
            "conditioning_dose": "50 mg/kg/day",
            "start_day": SALVAGE_START,
            "duration_days": 4,
        },
        {
            "drug": "rabbit_atg",
            "dose": "3.5 mg/kg/day",
            "start_day": SALVAGE_START,
            "duration_days": 5,
        },
    ]
    return raw


@pytest.fixture(scope="module")
def cohort():
    return marrowsim.simulate(
        _scenario(donor_probability=0.5), patients=80, seed=0, save_states=True
    )


def _day(result, day: float) -> int:
    return int(np.searchsorted(result.days, day))


def test_only_non_responders_alive_at_the_assessment_are_switched(cohort):
    k = _day(cohort, ASSESSMENT)
    anc = cohort.readout("anc")[:, k]
    own_platelets = cohort.readout("platelets")[:, k] - cohort.state("transfused_platelets")[:, k]
    retic = cohort.readout("retic")[:, k]
    low = (
        (anc < SEVERE_ANC_BELOW).astype(int)
        + (own_platelets < SEVERE_PLATELETS_BELOW)
        + (retic < SEVERE_RETIC_BELOW)
    )
    alive = cohort.alive[:, k]
    kind = cohort.patients["salvage"].to_numpy()
    switched = kind != None  # noqa: E711 (object array)
    assert switched.sum() >= 5, "the cohort should hold non-responders"
    # every switch is on the assessment day, of a patient alive and still severe
    np.testing.assert_allclose(cohort.patients["salvage_day"][switched], ASSESSMENT)
    assert np.all(alive[switched] & (low[switched] >= 2))
    # and every patient alive and still severe there is switched
    assert np.all(switched[alive & (low >= 2)])


def test_the_transplant_goes_to_the_young_with_a_donor_and_the_rest_get_the_second_course(
    cohort,
):
    p = cohort.parameters
    kind = cohort.patients["salvage"].to_numpy()
    donor = 1 - np.exp(-p["salvage_donor_draw"]) <= p["salvage_donor_probability"]
    young = p["patient_age_years"] <= p["salvage_transplant_max_age_years"]
    transplant, second = kind == "transplant", kind == "second_course"
    assert transplant.any() and second.any()
    assert np.all(donor[transplant] & young[transplant])
    assert not np.any(donor[second] & young[second])


def test_only_switched_patients_get_conditioning_graft_and_second_course(cohort):
    kind = cohort.patients["salvage"].to_numpy()
    after = _day(cohort, SALVAGE_START + 10)
    alive = cohort.alive[:, after]
    rabbit = cohort.state("ratg_concentration")[:, after]
    assert np.all(rabbit[alive & (kind == "second_course")] > 0)
    np.testing.assert_array_equal(rabbit[alive & (kind != "second_course")], 0.0)
    # the second cyclosporine course goes with it, and stops when it ends (the
    # first course ended at day 180 for everyone)
    trough = cohort.readout("cyclosporine_trough")
    second = alive & (kind == "second_course")
    assert np.all(trough[second, _day(cohort, SALVAGE_START + 30)] > 100)
    # the others hold only what is left of the first course (washed out)
    assert np.all(trough[alive & (kind != "second_course"), after] < 1e-6)
    ended = _day(cohort, SALVAGE_START + SECOND_COURSE_DAYS + 20)
    still = cohort.alive[:, ended] & (kind == "second_course")
    assert np.all(trough[still, ended] < 1)
    # nobody else dies of a transplant or is counted as transplanted
    causes = cohort.patients["death_cause"].to_numpy()
    assert not np.any(causes[kind != "transplant"] == "transplant")
    given = cohort.summary_rows["transplant_given"].to_numpy()
    np.testing.assert_array_equal(given, kind == "transplant")
    engrafted = np.isfinite(cohort.patients["anc_engraftment_day"].to_numpy(dtype=float))
    assert not np.any(engrafted[kind != "transplant"])
    assert cohort.summary["salvage"]["transplant"] == pytest.approx(np.mean(kind == "transplant"))


def test_a_switched_patient_reads_as_a_first_line_failure(cohort):
    rows = cohort.patients
    switched = rows["salvage"].notna().to_numpy()
    assert set(rows["response_12m"][switched]) <= {"none"}
    first = rows["first_response_day"].to_numpy(dtype=float)
    assert np.all(~(first[switched] > ASSESSMENT))


def test_without_the_rule_nobody_is_switched_and_the_courses_are_given_as_written():
    raw = _scenario(donor_probability=0.5)
    raw["salvage"]["rule"] = 0
    raw["days"] = 240
    result = marrowsim.simulate(raw, patients=4, seed=0, save_states=True)
    assert result.patients["salvage"].isna().all()
    assert result.summary["salvage"] is None
    # the rabbit course and the transplant are given to everyone alive
    k = _day(result, SALVAGE_START + 10)
    alive = result.alive[:, k]
    assert np.all(result.state("ratg_concentration")[alive, k] > 0)
    assert np.all(result.readout("cyclosporine_trough")[alive, k] > 0)
    assert result.summary_rows["transplant_given"].all()


def test_a_rule_that_is_not_a_switch_is_refused():
    raw = _scenario()
    raw["salvage"]["rule"] = 0.5
    with pytest.raises(InputError, match=r"salvage\.rule: 0\.5"):
        marrowsim.simulate(raw, patients=2, seed=0)


def test_a_second_cyclosporine_course_inside_the_first_is_refused():
    raw = _scenario()
    raw["cyclosporine"]["second_course_start_day"] = 100  # the first runs to day 180
    with pytest.raises(InputError, match=r"cyclosporine\.second_course_start_day: 100.*day 180"):
        marrowsim.simulate(raw, patients=2, seed=0)
