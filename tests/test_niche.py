"""The dynamic marrow niche (issue 10, item 1): stromal support of the stem
cells, injured by radiation, benzene, inflammatory cytokines or a lesion of
its own, and repaired over months."""

from __future__ import annotations

import numpy as np
import pytest

import marrowsim
from conftest import WITHOUT_DEATH
from marrowsim.mechanisms import Niche
from marrowsim.mechanisms.base import Context, Namespace
from marrowsim.parameters import load_table
from test_cli import cli

YEAR = 365.25
# a niche-only lesion: five years at 0.3/day (stroma ~2% of healthy), then repair
END = 5 * YEAR
LESION = {"niche.injury_rate": 0.3, "niche.injury_days": END, **WITHOUT_DEATH}


@pytest.fixture(scope="module")
def lesion() -> marrowsim.Result:
    return marrowsim.simulate("healthy", days=10 * YEAR, every=YEAR / 4, set=LESION)


def _at(result: marrowsim.Result, name: str, day: float) -> float:
    return float(result.readout(name)[0, int(np.searchsorted(result.days, day))])


def test_a_healthy_niche_is_exactly_neutral():
    # the stroma's rate is exactly 0 at 1 without injury, whatever the parameters
    table = {name: load_table()[name].value for name in Niche.parameters}
    c = Context(
        Namespace("state", {"niche_stroma": 1.0}),
        Namespace("parameter", table),
        Namespace("input", {"niche_lesion_rate": 0.0}),
    )
    assert Niche().rates(c) == {"niche_stroma": 0.0}
    assert Niche().signals(c) == {"niche_support": 1.0}
    # and a healthy course keeps it, and the stem-cell pool, at 1
    healthy = marrowsim.simulate("healthy", days=730, every=73)
    assert np.all(healthy.readout("niche") == 1.0)
    np.testing.assert_allclose(healthy.readout("hsc"), 1.0, rtol=1e-6)


def test_injuring_the_niche_alone_lowers_hsc_and_causes_hypoplasia(lesion):
    end = END
    assert _at(lesion, "niche", end) == pytest.approx(1 / (1 + 0.3 * 180), rel=0.01)
    hsc = lesion.readout("hsc")[0]
    during = lesion.days <= end
    assert np.all(np.diff(hsc[during]) < 0)  # the pool shrinks throughout the lesion
    assert _at(lesion, "hsc", end) < 0.05
    # a hypocellular marrow (below 25%) with falling counts
    assert _at(lesion, "cellularity", end) < 25
    assert _at(lesion, "anc", end) < 1.5 and _at(lesion, "platelets", end) < 100
    # it meets the criteria of (non-severe) aplastic anaemia, and no longer once repaired
    severity = lesion.timecourse["severity"].to_numpy()
    assert (severity[during] == "non_severe").any() and (severity[~during] == "none").all()


def test_repair_restores_the_niche_and_the_pool(lesion):
    end = END
    # repaired with its 6-month time constant ...
    assert _at(lesion, "niche", end + YEAR) == pytest.approx(
        1 - (1 - _at(lesion, "niche", end)) * np.exp(-YEAR / 180), abs=0.01
    )
    assert _at(lesion, "niche", 10 * YEAR) > 0.999
    # ... and the stem cells regrow into it, and the counts come back
    hsc = lesion.readout("hsc")[0]
    assert np.all(np.diff(hsc[lesion.days > end + 30]) > 0)
    assert _at(lesion, "hsc", 10 * YEAR) > 0.75
    assert _at(lesion, "anc", 10 * YEAR) > 3.5 and _at(lesion, "platelets", 10 * YEAR) > 220


def test_a_longer_or_stronger_lesion_is_never_milder():
    nadirs = []
    for rate in (0.0, 0.02, 0.1, 0.3):
        result = marrowsim.simulate(
            "healthy", days=3 * YEAR, every=YEAR / 2, set={**LESION, "niche.injury_rate": rate}
        )
        nadirs.append(result.readout("hsc")[0, -1])
    assert nadirs[0] == pytest.approx(1.0) and np.all(np.diff(nadirs) < 0), nadirs


def test_radiation_injures_the_niche_dose_dependently():
    left = []
    for dose in (1.0, 2.0, 4.0, 8.0):
        result = marrowsim.simulate(
            "radiation", days=2, every=0.5, set={"radiation.dose_gy": dose, **WITHOUT_DEATH}
        )
        left.append(result.readout("niche")[0, -1])
    d0 = load_table()["niche_radiation_d0_gy"].value
    # single-hit: exp(-dose / D0) left hours after the exposure (repair takes months)
    np.testing.assert_allclose(left, np.exp(-np.array([1.0, 2.0, 4.0, 8.0]) / d0), rtol=0.01)
    # the stroma is far more radioresistant than the stem cells
    assert left[2] > 0.8 and d0 > 10 * load_table()["radiation_d0_hsc_gy"].value


def test_benzene_and_an_immune_attack_injure_the_niche_a_little():
    benzene = marrowsim.simulate("benzene", days=3 * YEAR, every=YEAR / 4)
    assert 0.85 < benzene.readout("niche")[0].min() < 0.99
    attack = marrowsim.simulate("immune-aa", days=730, every=30, set=WITHOUT_DEATH)
    niche = attack.readout("niche")[0]
    # bystander injury by IFN-gamma and TNF-alpha: small beside the attack's own kill
    assert niche[0] == 1.0 and 0.95 < niche.min() < 0.99


def test_a_negative_lesion_exits_2_with_one_line(tmp_path):
    code, _, stderr = cli(
        "run", "healthy", "--set", "niche.injury_rate=-1", "--out", str(tmp_path / "out")
    )
    assert code == 2 and "niche_injury_rate: -1" in stderr and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1
