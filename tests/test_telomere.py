"""Telomeres as the HSC pool's division budget, and telomere disease (issue
10, item 2): the budget is spent one division at a time, faster under
stress; its exhaustion arrests and removes senescent HSC, so marrow failure
follows at an age set by the budget; a healthy budget outlasts a lifetime."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import marrowsim
from conftest import WITHOUT_DEATH
from marrowsim.mechanisms.base import Context, Namespace
from marrowsim.mechanisms.telomere import Telomere
from marrowsim.parameters import load_table
from test_cli import cli

YEAR = 365.25
COHORT = 40


def _cohort(genotype: str, **settings: object) -> marrowsim.Result:
    return marrowsim.simulate(
        "telomere",
        patients=COHORT,
        seed=1,
        every=90,
        save_states=True,
        set={"genotype": genotype, **settings},
    )


@pytest.fixture(scope="module")
def carriers() -> marrowsim.Result:
    return _cohort("telomere")


def _onset_years(result: marrowsim.Result) -> np.ndarray:
    return result.patients["first_severe_day"].to_numpy(dtype=float) / YEAR


def _arrest(budget: float) -> float:
    table = load_table().values()
    p = Namespace("parameter", {name: table[name] for name in Telomere.parameters})
    s = Namespace("state", {"hsc_telomere_budget": budget})
    return float(Telomere().signals(Context(s, p, Namespace("input", {})))["hsc_telomere_arrest"])


def test_the_arrest_is_zero_while_the_budget_lasts_and_one_when_spent():
    critical = load_table()["telomere_critical_budget_divisions"].value
    assert _arrest(critical) == 0.0 and _arrest(167.0) == 0.0
    assert 0 < _arrest(critical / 2) < _arrest(critical / 4) < 1
    assert _arrest(0.0) == 1.0 and _arrest(-50.0) == 1.0


def test_marrow_failure_follows_when_the_budget_runs_out(carriers):
    onset = _onset_years(carriers)
    failed = np.isfinite(onset)
    # most carriers fail by 70, at ages spread from childhood to late
    # adulthood, most in early to middle adulthood (telomere diseases:
    # Calado & Young, NEJM 2009); never in infancy (a newborn's budget lasts)
    assert failed.mean() >= 0.8
    assert np.nanmin(onset) > 5
    low, high = np.nanpercentile(onset, [25, 75])
    assert high - low > 8
    assert 25 < np.nanmedian(onset) < 55
    budget = carriers.state("hsc_telomere_budget")
    critical = load_table()["telomere_critical_budget_divisions"].value
    years = carriers.days / YEAR
    for i in np.flatnonzero(failed)[:10]:
        # the counts fail only once the budget is below the critical budget
        at_onset = budget[i, np.searchsorted(years, onset[i])]
        assert at_onset < critical
    # ... and the budget was spent faster in the growing marrow of childhood
    rate = -np.diff(np.nanmedian(budget, axis=0)) / np.diff(years)
    child, adult = rate[years[1:] <= 5].mean(), rate[(years[1:] > 15) & (years[1:] < 20)].mean()
    assert child > adult > 0


def test_a_healthy_budget_outlasts_a_lifetime():
    healthy = _cohort("healthy")
    critical = load_table()["telomere_critical_budget_divisions"].value
    assert healthy.summary["severity"]["severe_or_worse"] == 0
    assert np.nanmin(healthy.state("hsc_telomere_budget")) > 2 * critical


def test_a_shorter_budget_at_birth_fails_earlier():
    short = _cohort("telomere", **{"telomere.disease_birth_budget_divisions": 45})
    long = _cohort("telomere", **{"telomere.disease_birth_budget_divisions": 80})
    assert np.nanmedian(_onset_years(short)) < np.nanmedian(_onset_years(long)) - 5


def test_stress_spends_the_budget_faster():
    # an adult's immune attack empties the pool and drives its regrowth: the
    # divisions it makes are spent from the budget
    calm = marrowsim.simulate("healthy", days=1000, every=50, save_states=True)
    attacked = marrowsim.simulate(
        "immune-aa",
        days=1000,
        every=50,
        save_states=True,
        set={"immune.end_day": 200, **WITHOUT_DEATH},
    )
    spent = {
        name: r.state("hsc_telomere_budget")[0, 0] - r.state("hsc_telomere_budget")[0, -1]
        for name, r in (("calm", calm), ("attacked", attacked))
    }
    assert spent["attacked"] > 1.5 * spent["calm"] > 0, spent
    # an adult starts with the divisions of its age already spent
    table = load_table()
    age = table["patient_age_years"].value
    expected = (
        table["telomere_birth_budget_divisions"].value
        - table["hsc_division_rate"].value * age * YEAR
    )
    assert calm.state("hsc_telomere_budget")[0, 0] == pytest.approx(expected)


def test_a_cohort_fraction_of_carriers_and_bad_genotypes():
    n = 2000
    values = load_table().with_values({"genotype_telomere_fraction": 0.1}).draw(n, seed=5)
    carriers = 1 - np.exp(-values["genotype_telomere_draw"]) <= 0.1
    assert stats.binomtest(int(carriers.sum()), n, 0.1).pvalue > 1e-3
    code, _, stderr = cli("run", "telomere", "--set", "genotype=telomer", "--days", "10")
    assert code == 2 and "genotype: 'telomer'" in stderr and "telomere" in stderr
