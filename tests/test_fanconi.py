"""DNA damage and repair in HSC, and Fanconi anemia from birth (issue 10, item 2).

The full target (500 patients, `fanconi-bmf-by-40`) is checked by `marrowsim
validate`; here a cohort of 100 patients is held to a band widened by its
Monte Carlo error (about 3 points at 90%), and the healthy genotype over the
same 40 years to (almost) no failure at all."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import marrowsim
from conftest import WITHOUT_DEATH
from marrowsim.mechanisms.base import Context, Namespace
from marrowsim.mechanisms.dna_damage import DnaDamage
from marrowsim.mechanisms.growth import MarrowGrowth
from marrowsim.parameters import load_table
from marrowsim.validation import FANCONI_AGES, cumulative_incidence
from test_cli import cli

YEAR = 365.25
COHORT = 100
AGES = np.array([a * YEAR for a in FANCONI_AGES])


def _cohort(genotype: str) -> marrowsim.Result:
    return marrowsim.simulate(
        "fanconi", patients=COHORT, seed=1, every=90, set={"genotype": genotype}
    )


@pytest.fixture(scope="module")
def fanconi() -> marrowsim.Result:
    return _cohort("fanconi")


@pytest.fixture(scope="module")
def healthy() -> marrowsim.Result:
    return _cohort("healthy")


def _incidence(result: marrowsim.Result) -> np.ndarray:
    severe = result.patients["first_severe_day"].to_numpy(dtype=float)
    return cumulative_incidence(severe, result.outcomes.death_day, 40 * YEAR, AGES)[0]


def _signals(
    genotype: str = "healthy",
    radiation_hsc_kill_rate: float = 0.0,
    cytokine_effect: float = 0.0,
    **values: float,
) -> dict[str, float]:
    """The damage mechanism's signals for one patient, evaluated with numbers."""
    table = load_table().values()
    table["genotype_fanconi_fraction"] = 1.0 if genotype == "fanconi" else 0.0
    table.update(values)
    m = DnaDamage()
    p = {name: table[name] for name in m.parameters}
    p.update({k: float(v) for k, v in m.derived(Namespace("parameter", p)).items()})
    c = Context(
        Namespace("state", {}),
        Namespace("parameter", p),
        Namespace("input", {"hsc_dna_damage_persistent_load": 0.0}),
        {
            "radiation_hsc_kill_rate": radiation_hsc_kill_rate,
            "interferon_gamma_effect": cytokine_effect,
            "tnf_alpha_effect": cytokine_effect,
        },
    )
    return {k: float(v) for k, v in m.signals(c).items()}


def test_healthy_genotype_stays_near_zero_failure_over_40_years(healthy):
    severe = healthy.patients["first_severe_day"].to_numpy(dtype=float)
    assert np.isfinite(severe).sum() == 0
    # the pool grows from a newborn's to the adult's and stays there
    hsc = healthy.readout("hsc")
    assert np.all(hsc[:, 0] == pytest.approx(0.3)) and np.all(np.abs(hsc[:, -1] - 1) < 0.05)
    # its damage is the healthy level, and it causes no extra loss
    signals = _signals("healthy")
    assert signals["hsc_dna_damage_index"] == 1.0
    assert signals["hsc_dna_damage_loss_rate"] == 0.0


def test_fanconi_failure_rises_with_age_into_the_target_band(fanconi):
    by_age = _incidence(fanconi)
    assert np.all(np.diff(by_age) > 0), by_age  # rising through childhood and beyond
    assert by_age[0] > 0.3  # most failures in childhood (Kutler 2003: median onset ~7 years)
    # 0.8-0.98 by 40 (the target), widened by 2 standard errors of a 100-patient
    # cohort; validate checks the unwidened band on 500 patients
    se = np.sqrt(0.9 * 0.1 / COHORT)
    assert 0.8 - 2 * se <= by_age[-1] <= 0.98 + 2 * se, by_age


def test_lower_repair_capacity_never_gives_less_damage_or_loss():
    capacities = np.linspace(0.05, 1.0, 20)
    for genotype, name in (
        ("healthy", "dna_repair_capacity"),
        ("fanconi", "fanconi_repair_capacity"),
    ):
        out = [_signals(genotype, 0.2, 0.5, **{name: r}) for r in capacities]
        damage = np.array([o["hsc_dna_damage_index"] for o in out])
        loss = np.array([o["hsc_dna_damage_loss_rate"] for o in out])
        assert np.all(np.diff(damage) <= 0) and np.all(np.diff(loss) <= 0)
        assert loss[-1] == 0.0 and np.all(loss >= 0)
    # and in a simulation: a lower capacity fails no later (the typical patient)
    days = []
    for r in (0.35, 0.5, 0.65):
        one = marrowsim.simulate(
            "fanconi", every=30, set={"fanconi.repair_capacity": r, **WITHOUT_DEATH}
        )
        days.append(float(one.patients["first_severe_day"].iloc[0]))
    assert days[0] <= days[1] <= days[2], days


def test_radiation_and_cytokines_raise_damage_more_in_fanconi():
    for kind in ({"radiation_hsc_kill_rate": 0.5}, {"cytokine_effect": 0.8}):
        rise = {
            g: _signals(g, **kind)["hsc_dna_damage_index"] - _signals(g)["hsc_dna_damage_index"]
            for g in ("healthy", "fanconi")
        }
        assert rise["healthy"] > 0 and rise["fanconi"] > 1.5 * rise["healthy"]
        extra = {g: _signals(g, **kind)["hsc_dna_damage_loss_rate"] for g in ("healthy", "fanconi")}
        assert (
            extra["healthy"] == 0.0
            and extra["fanconi"] > _signals("fanconi")["hsc_dna_damage_loss_rate"]
        )
    # an adult given 2 Gy loses more HSC with the Fanconi genotype
    nadir = {}
    for genotype in ("healthy", "fanconi"):
        result = marrowsim.simulate(
            "radiation",
            days=30,
            every=1,
            set={"radiation.dose_gy": 2, "genotype": genotype, **WITHOUT_DEATH},
        )
        nadir[genotype] = float(result.readout("hsc")[0].min())
    assert nadir["fanconi"] < 0.8 * nadir["healthy"], nadir


def test_an_unknown_genotype_exits_2_naming_the_field(tmp_path):
    code, out, _ = cli("scenarios")
    assert code == 0 and "fanconi" in [line.split()[0] for line in out.splitlines()]
    code, _, stderr = cli("run", "fanconi", "--set", "genotype=fanconni", "--out", str(tmp_path))
    assert code == 2 and "Traceback" not in stderr
    assert "genotype: 'fanconni'" in stderr and "healthy, fanconi" in stderr
    assert len(stderr.strip().splitlines()) == 1
    code, _, stderr = cli(
        "run", "fanconi", "--set", "genotype.fanconi_fraction=2", "--out", str(tmp_path)
    )
    assert code == 2 and "genotype_fanconi_fraction: 2" in stderr


def test_a_cohort_fraction_of_carriers_is_drawn_per_patient():
    n = 2000
    values = load_table().with_values({"genotype_fanconi_fraction": 0.2}).draw(n, seed=3)
    carriers = 1 - np.exp(-values["genotype_draw"]) <= 0.2
    assert stats.binomtest(int(carriers.sum()), n, 0.2).pvalue > 1e-3
    # the same patient in a cohort of any size
    few = load_table().with_values({"genotype_fanconi_fraction": 0.2}).draw(10, seed=3)
    assert np.array_equal(few["genotype_draw"], values["genotype_draw"][:10])


def test_default_models_do_not_see_the_new_mechanisms():
    # an adult's growth schedule leaves its input at the default (no segment) ...
    table = {k: np.array([v]) for k, v in load_table().values().items()}
    for change in MarrowGrowth().schedule(table):
        assert np.all(np.asarray(change.value) == 0.0)
    # ... a healthy repair capacity accumulates no persistent damage ...
    for change in DnaDamage().schedule(table):
        assert np.all(np.asarray(change.value) == 0.0)
    # ... and its loss is exactly zero under any exposure
    assert _signals("healthy", 3.0, 1.0)["hsc_dna_damage_loss_rate"] == 0.0
    # (tests/test_events.py pins the default model's numbers bitwise)
