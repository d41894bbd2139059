"""Cyclosporine restarted on relapse (mechanisms/cyclosporine.py): a patient
who responded while on cyclosporine and is found severe again at a visit
while none is given gets it back at the starting dose, from then on."""

from __future__ import annotations

import numpy as np
import pytest

import marrowsim
from marrowsim.clinic.definitions import (
    SEVERE_ANC_BELOW,
    SEVERE_PLATELETS_BELOW,
    SEVERE_RETIC_BELOW,
)
from marrowsim.mechanisms.cyclosporine import RELAPSE_CHECK

COURSE_ENDS = 180.0  # immune-aa-ist: 6 months at full dose, no taper
RESTART = {"cyclosporine.restart_on_relapse": 1.0}


@pytest.fixture(scope="module")
def cohort():
    return marrowsim.simulate(
        "immune-aa-ist", patients=120, seed=2, days=540, set=RESTART, save_states=True
    )


def _restart_day(result) -> np.ndarray:
    restarted = result.state("cyclosporine_restarted") > 0
    day = result.days[np.argmax(restarted, axis=1)]  # the first output day after it
    return np.where(restarted.any(axis=1), day, np.nan)


def test_only_relapses_off_cyclosporine_after_a_response_on_it_are_restarted(cohort):
    restart = _restart_day(cohort)
    chosen = np.flatnonzero(np.isfinite(restart))
    assert len(chosen) >= 5, "the cohort should hold relapses"
    assert np.all(restart[chosen] > COURSE_ENDS)
    p = cohort.parameters
    second = (p["cyclosporine_second_course_start_day"], p["cyclosporine_second_course_start_day"]
              + p["cyclosporine_second_course_full_dose_days"])  # fmt: skip
    switched = (cohort.patients["salvage"] == "second_course").to_numpy()
    anc = cohort.readout("anc")
    own_platelets = cohort.readout("platelets") - cohort.state("transfused_platelets")
    retic = cohort.readout("retic")
    for i in chosen:
        # the visits that acted: the response seen, then the restart
        acted = [day for patient, day, event in cohort.event_log
                 if patient == i and event == RELAPSE_CHECK]  # fmt: skip
        assert len(acted) == 2 and acted[1] == pytest.approx(restart[i], abs=1.0)
        seen = acted[0]
        on_first = seen <= COURSE_ENDS
        on_second = switched[i] and second[0][i] <= seen <= second[1][i]
        assert on_first or on_second, (i, seen)
        # and the counts severe again when restarted
        k = int(np.searchsorted(cohort.days, restart[i]))
        low = (
            int(anc[i, k] < SEVERE_ANC_BELOW)
            + int(own_platelets[i, k] < SEVERE_PLATELETS_BELOW)
            + int(retic[i, k] < SEVERE_RETIC_BELOW)
        )
        assert low >= 2, (i, anc[i, k], own_platelets[i, k], retic[i, k])


def test_a_restarted_patient_is_back_on_cyclosporine_and_the_others_are_off(cohort):
    restart = _restart_day(cohort)
    trough = cohort.readout("cyclosporine_trough")
    end = len(cohort.days) - 1
    alive = cohort.alive[:, end]
    chosen = np.isfinite(restart)
    assert np.all(trough[chosen & alive, end] > 100)
    # neither restarted nor switched to a second course: nothing given at the end
    second = (cohort.patients["salvage"] == "second_course").to_numpy()
    assert np.all(trough[~chosen & ~second & alive, end] < 1e-6)


def test_without_the_rule_nobody_is_restarted():
    result = marrowsim.simulate(
        "immune-aa-ist",
        patients=40,
        seed=2,
        days=540,
        set={"cyclosporine.restart_on_relapse": 0.0},
        save_states=True,
    )
    assert not np.any(result.state("cyclosporine_restarted") > 0)
    assert not np.any(result.state("cyclosporine_response_seen") > 0)
