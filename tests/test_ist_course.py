"""The course to immunosuppression: enrolment a delay after diagnosis, and
the anti-infective care of the antifungal era."""

from __future__ import annotations

import numpy as np
import pytest

import marrowsim
from marrowsim.parameters import load_table

NO_DEATH = {f"{cause}.death_rate": 0.0 for cause in ("infection", "bleeding", "anaemia")}


def test_enrolment_delay_starts_day_0_that_many_days_after_diagnosis():
    delayed = marrowsim.simulate(
        "immune-aa", set={**NO_DEATH, "enrolment": "diagnosis", "enrolment_delay_days": 28}, days=10
    )
    diagnosis = float(delayed.diagnosis_day[0])
    # the same typical patient, simulated from the start of its history
    whole = marrowsim.simulate("immune-aa", set=NO_DEATH, days=np.ceil(diagnosis) + 40)
    for name in ("anc", "platelets", "retic", "hsc"):
        expected = np.interp(diagnosis + 28 + delayed.days, whole.days, whole.readout(name)[0])
        np.testing.assert_allclose(delayed.readout(name)[0], expected, rtol=2e-3)


def test_enrolment_delay_is_validated():
    with pytest.raises(marrowsim.InputError, match="enrolment_delay_days"):
        marrowsim.simulate("immune-aa-ist", set={"enrolment_delay_days": -1})


def test_antifungal_era_care_multiplies_the_infection_hazard():
    settings = {
        "infection.death_rate": 0.005,
        "bleeding.death_rate": 0.0,
        "anaemia.death_rate": 0.0,
    }
    era = dict(settings, **{"antimicrobial.antifungal_era": 1.0})
    before = marrowsim.simulate("supportive-care", set=settings, days=60, save_states=True)
    after = marrowsim.simulate("supportive-care", set=era, days=60, save_states=True)
    hazard_before = before.state("infection_hazard")[0, -1]
    hazard_after = after.state("infection_hazard")[0, -1]
    assert hazard_before > 0
    ratio = load_table()["antimicrobial_antifungal_era_hazard_ratio"].value
    assert hazard_after == pytest.approx(ratio * hazard_before, rel=1e-6)
