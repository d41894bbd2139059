"""Behaviour the biology must show (issue 3, targets.yaml)."""

from __future__ import annotations

import numpy as np
import pytest

import marrowsim
from conftest import WITHOUT_DEATH, last_alive, target
from marrowsim.parameters import load_table


@pytest.mark.slow
def test_healthy_marrow_holds_steady_state_for_ten_years(simulated):
    result = simulated("healthy", days=3650, every=10)
    first, last = result.readouts[0, 0], result.readouts[0, -1]
    np.testing.assert_allclose(last, first, rtol=0.01)
    # and never drifts in between (a readout that is 0 in health, a drug
    # level, stays exactly 0)
    drift = np.abs(result.readouts[0] - first) / np.where(first == 0, 1.0, np.abs(first))
    assert drift.max() < 0.01
    assert np.all(result.readouts[0][:, first == 0] == 0)


def test_healthy_cohort_lies_in_normal_ranges(targets):
    result = marrowsim.simulate("healthy", patients=200, seed=2, days=30)
    anc_low, anc_high = target(targets, "healthy", "normal-anc")["value"]
    plt_low, plt_high = target(targets, "healthy", "normal-platelets")["value"]
    anc = result.readout("anc")[:, -1]
    platelets = result.readout("platelets")[:, -1]
    assert np.all((anc >= anc_low) & (anc <= anc_high))
    assert np.all((platelets >= plt_low) & (platelets <= plt_high))
    assert (result.severity_code == 0).all()


def _time_to_half(values, days):
    below = values <= 0.5 * values[0]
    return days[np.argmax(below)] if below.any() else np.inf


def test_when_production_stops_neutrophils_fall_first_then_platelets_then_hb(targets):
    # stem cells and multipotent progenitors gone: marrow output stops
    result = marrowsim.simulate("healthy", days=200, initial={"hsc_cells": 0.0, "mpp": 0.0})
    days = result.days
    t_anc = _time_to_half(result.readout("anc")[0], days)
    t_platelets = _time_to_half(result.readout("platelets")[0], days)
    t_hb = _time_to_half(result.readout("hb")[0], days)
    assert t_anc < t_platelets < t_hb
    assert t_anc <= 14  # days
    assert 5 <= t_platelets <= 30  # about a week or two
    assert t_hb >= 40  # weeks to months


def test_red_cells_have_a_fixed_life_so_hb_falls_linearly(targets):
    lifespan = target(targets, "kinetics", "rbc-lifespan")["value"]
    result = marrowsim.simulate(
        "healthy",
        days=200,
        initial={"hsc_cells": 0.0, "mpp": 0.0},
        save_states=True,
        set=WITHOUT_DEATH,
    )
    days = result.days
    hb = result.readout("hb")[0] / result.readout("hb")[0, 0]
    retic = result.state("reticulocyte")[0]
    # production "stops" when the red-cell inflow has fallen to half
    stop = days[np.argmax(retic < 0.5 * retic[0])]
    # from then on Hb falls along a straight line ...
    window = (days >= stop + 5) & (days <= stop + 85)
    fit = np.polyfit(days[window], hb[window], 1)
    assert np.abs(hb[window] - np.polyval(fit, days[window])).max() < 0.03
    # ... that reaches zero about one red-cell lifespan after production stopped
    zero_crossing = -fit[1] / fit[0]
    assert zero_crossing - stop == pytest.approx(lifespan, rel=0.1)
    after_one_life = hb[np.searchsorted(days, stop + lifespan)]
    assert after_one_life < 0.15  # an exponential with the same mean life would hold 37%


def test_kinetic_parameters_match_their_targets(targets):
    table = load_table()
    low, high = 8, 10
    assert low <= table["platelet_lifespan_days"].value <= high
    half_life_hours = np.log(2) / table["neutrophil_removal_rate"].value * 24
    assert 6 <= half_life_hours <= 19
    transit = sum(
        table[name].value
        for name in (
            "granulocyte_mitotic_transit_days",
            "granulocyte_maturation_days",
            "neutrophil_reserve_days",
        )
    )
    assert 4 <= transit <= 10
    division = target(targets, "kinetics", "hsc-division-interval")
    assert division["range"][0] <= 1 / table["hsc_division_rate"].value <= division["range"][1]
    pool_low, pool_high = target(targets, "kinetics", "hsc-pool-size")["value"]
    assert pool_low <= table["hsc_pool_size"].value <= pool_high


def test_platelet_lifespan_from_turnover(targets):
    # stop platelet input (no megakaryocytes): the count first falls at the
    # healthy turnover rate, count / lifespan
    low, high = 8, 10  # targets platelet-lifespan tolerance
    stopped = {f"megakaryocyte_{i}": 0.0 for i in (1, 2)} | {
        f"megakaryocyte_progenitor_{i}": 0.0 for i in (1, 2, 3)
    }
    result = marrowsim.simulate("healthy", days=1, every=0.05, initial=stopped)
    platelets = result.readout("platelets")[0]
    lifespan = platelets[0] * result.days[1] / (platelets[0] - platelets[1])
    assert low <= lifespan <= high
    assert lifespan == pytest.approx(
        target(targets, "kinetics", "platelet-lifespan")["value"], rel=0.01
    )


def test_immune_aa_meets_severe_criteria_within_a_year_of_the_trigger(simulated):
    result = simulated("immune-aa")
    trigger = result.scenario.parameters["immune_trigger_day"]
    events = result.patients.iloc[0]
    assert events["first_severe_day"] - trigger <= 365
    assert events["worst_severity"] in ("severe", "very_severe")
    # the counts on the last day alive (the untreated patient dies of it)
    final = {name: last_alive(result, name)[0] for name in result.readout_names}
    assert final["hb"] < 10 and final["anc"] < 1.5 and final["platelets"] < 50  # pancytopenia
    assert final["cellularity"] < 25
    assert final["hsc"] < 0.1


def test_mild_attack_gives_non_severe_disease(simulated):
    result = simulated("immune-aa-mild")
    events = result.patients.iloc[0]
    assert events["worst_severity"] == "non_severe"
    assert np.isnan(events["first_severe_day"])


def test_no_attack_stays_healthy(simulated):
    result = simulated("healthy")
    assert (result.severity_code == 0).all()
    np.testing.assert_allclose(result.readouts[0, -1], result.readouts[0, 0], rtol=1e-6)


def test_cytokines_rise_during_the_attack():
    result = marrowsim.simulate("immune-aa", days=120, save_states=True)
    ifn = result.readout("interferon_gamma")[0]
    baseline = ifn[0]
    assert ifn[result.days == 20][0] == pytest.approx(baseline)
    assert 1.5 * baseline < ifn.max() < 5 * baseline  # 2-3-fold in immune AA mice
    epo = result.state("erythropoietin")[0]
    assert epo[-1] > 2 * epo[0]  # EPO answers the anemia


def test_stronger_attack_is_never_milder():
    strengths = [0.0, 0.1, 0.25, 0.5, 1.0, 2.0]
    worst = []
    for strength in strengths:
        result = marrowsim.simulate("immune-aa", set={"immune.strength": strength})
        worst.append(result.severity_code.max())
        hsc_end = last_alive(result, "hsc")[0]
        assert 0 <= hsc_end <= 1.0 + 1e-9
    assert worst == sorted(worst)
