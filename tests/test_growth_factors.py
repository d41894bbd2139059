"""Growth factors: eltrombopag and filgrastim pharmacokinetics pinned against
closed forms, their effects on platelets, HSC drive and neutrophils, the
eltrombopag hold rule, and the IFN-gamma block that eltrombopag escapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import sympy

import marrowsim
from marrowsim.mechanisms import Feedback
from marrowsim.mechanisms.base import Context, Namespace
from marrowsim.parameters import load_table

EPAG_START, EPAG_DAYS = 10.0, 60.0


def _epag(dose: float, **more: float):
    """A healthy patient on eltrombopag (without the platelet ceiling unless
    ``more`` sets one: 150 mg/day takes healthy platelets past 400)."""
    settings = {
        "eltrombopag.hold_above_platelets": 2000.0,
        "eltrombopag.dose_mg_per_day": dose,
        "eltrombopag.start_day": EPAG_START,
        "eltrombopag.days": EPAG_DAYS,
        "days": 120,
        **more,
    }
    return marrowsim.simulate("healthy", set=settings, save_states=True)


def _two_compartment(days, dose, clearance, central, distribution, peripheral):
    """Closed form of the constant-rate two-compartment course (per day):
    x' = A x + b while dosed, x' = A x after, x(start) = 0."""
    k10, k12, k21 = clearance / central, distribution / central, distribution / peripheral
    a = np.array([[-(k10 + k12), k12], [k21, -k21]])
    b = np.array([dose / central, 0.0])
    inverse = np.linalg.inv(a)

    def dosed(t):
        return inverse @ (scipy.linalg.expm(a * t) - np.eye(2)) @ b

    out = []
    for day in days:
        t = day - EPAG_START
        if t <= 0:
            out.append(0.0)
        elif t <= EPAG_DAYS:
            out.append(dosed(t)[0])
        else:
            out.append((scipy.linalg.expm(a * (t - EPAG_DAYS)) @ dosed(EPAG_DAYS))[0])
    return np.array(out)


@pytest.mark.parametrize(("weight", "east_asian"), [(70.0, 0.0), (50.0, 1.0)])
def test_eltrombopag_concentration_is_the_two_compartment_course(weight, east_asian):
    result = _epag(150.0, **{"patient.weight_kg": weight, "eltrombopag.east_asian": east_asian})
    v = load_table().values()
    size = (weight / 70) ** v["eltrombopag_weight_exponent"]
    clearance = (
        24
        * v["eltrombopag_clearance_l_per_h"]
        * size
        * (1 - v["eltrombopag_east_asian_clearance_reduction"] * east_asian)
    )
    expected = _two_compartment(
        result.days,
        150.0,
        clearance,
        v["eltrombopag_central_volume_l"] * size,
        24 * v["eltrombopag_distribution_clearance_l_per_h"] * size,
        v["eltrombopag_peripheral_volume_l"] * size,
    )
    simulated = result.state("eltrombopag_concentration")[0]
    np.testing.assert_allclose(simulated, expected, rtol=1e-4, atol=1e-6 * expected.max())
    # at steady state the daily average is dose / CL (9.4 ug/mL at 70 kg)
    assert simulated[int(EPAG_START + EPAG_DAYS)] == pytest.approx(150.0 / clearance, rel=1e-3)


def test_east_asian_exposure_is_higher_by_the_clearance_reduction():
    typical = _epag(75.0).state("eltrombopag_concentration")[0, 60]
    asian = _epag(75.0, **{"eltrombopag.east_asian": 1.0}).state("eltrombopag_concentration")[0, 60]
    assert asian / typical == pytest.approx(1 / (1 - 0.33), rel=1e-3)


def test_eltrombopag_raises_platelets_in_health_like_healthy_volunteers():
    # healthy Japanese men, 25/50/75 mg/day for 10 days: largest platelet rise
    # 54, 72, 90% (the calibration of eltrombopag_max_tpo_equivalent)
    rises = []
    for dose in (25.0, 50.0, 75.0):
        result = marrowsim.simulate(
            "healthy",
            set={
                "eltrombopag.dose_mg_per_day": dose,
                "eltrombopag.days": 10,
                "eltrombopag.start_day": 5,
                "eltrombopag.east_asian": 1,
                "days": 60,
            },
        )
        platelets = result.readout("platelets")[0]
        rises.append(100 * (platelets.max() / platelets[4] - 1))
    assert rises == sorted(rises)
    for rise, measured in zip(rises, (54, 72, 90), strict=True):
        assert abs(rise - measured) < 10


def test_eltrombopag_drives_hsc_and_megakaryocytes_through_the_tpo_signal():
    # its TPO-equivalent signal raises the platelet count in a healthy patient
    # although endogenous TPO falls as platelets rise (the drug is not cleared
    # by platelets); and speeds HSC cycling where TPO signalling is weak
    untreated = _epag(0.0)
    treated = _epag(150.0)
    assert treated.readout("platelets")[0, 60] > 1.5 * untreated.readout("platelets")[0, 60]
    assert treated.readout("tpo")[0, 60] < untreated.readout("tpo")[0, 60]
    # faster HSC cycling at a niche-held pool: self-renewal falls to balance
    # it, so more divisions differentiate (net output = (division - apoptosis)
    # x pool) and the progenitor pool grows
    for name in ("hsc_cells", "mpp"):
        assert treated.state(name)[0, 60] > untreated.state(name)[0, 60]


def _feedback_signals(block: float, agonist: float) -> dict:
    feedback = Feedback()
    table = load_table().values()
    s = Namespace(
        "state",
        {"erythropoietin": 10.0, "thrombopoietin": 2000.0, "granulocyte_csf": 0.025},
    )
    p = Namespace("parameter", {name: table[name] for name in feedback.parameters})
    c = Context(
        s=s,
        p=p,
        u=Namespace("input", {}),
        sig={"tpo_signalling_block": block, "eltrombopag_tpo_equivalent": agonist},
    )
    return {k: float(sympy.sympify(v)) for k, v in feedback.signals(c).items()}


@pytest.mark.parametrize("block", [0.0, 0.5, 0.95])
def test_eltrombopag_signal_is_not_blocked_by_interferon_gamma(block):
    # the IFN-gamma block scales the endogenous TPO signal only; the agonist's
    # signal adds in full whatever the block (Alvarado et al., Blood 2019)
    without = _feedback_signals(block, 0.0)["tpo_hsc_relative"]
    with_agonist = _feedback_signals(block, 3.0)["tpo_hsc_relative"]
    assert without == pytest.approx(20.0 * (1 - block))
    assert with_agonist - without == pytest.approx(3.0)


def test_eltrombopag_hold_rule_fires_at_the_ceiling_and_resumes_lower():
    result = _epag(
        150.0,
        **{
            "eltrombopag.days": 100,
            "eltrombopag.hold_above_platelets": 450,
            "eltrombopag.resume_below_platelets": 350,
        },
    )
    platelets = result.readout("platelets")[0]
    factor = result.state("eltrombopag_dose_factor")[0]
    visits = result.events.query("event == 'eltrombopag_visit'")["day"].to_numpy()
    assert len(visits) >= 2
    held_at, resumed_at = visits[0], visits[1]
    assert held_at / 7 == pytest.approx(round(held_at / 7))  # weekly, on the patient's clock
    assert platelets[round(held_at)] > 450
    assert factor[round(held_at) + 1] == 0.0
    assert platelets[round(resumed_at)] < 350
    assert factor[round(resumed_at) + 1] == pytest.approx((150 - 25) / 150)
    # the hold cuts the level: no drug absorbed while held
    level = result.state("eltrombopag_concentration")[0]
    assert level[round(resumed_at)] < 0.5 * level[round(held_at)]
    # a patient not given eltrombopag has no visits at all
    assert _epag(0.0).events.empty


def test_filgrastim_concentration_is_the_one_compartment_course_when_linear():
    settings = {
        "filgrastim.dose_ug_per_kg_day": 5.0,
        "filgrastim.start_day": 10.0,
        "filgrastim.days": 14.0,
        "filgrastim.linear_clearance_fraction": 1.0,
        "days": 40,
    }
    result = marrowsim.simulate("healthy", set=settings, save_states=True)
    v = load_table().values()
    k = 24 * math.log(2) / v["filgrastim_half_life_h"]
    rate = 1000 * v["filgrastim_bioavailability"] * 5.0 / v["filgrastim_volume_ml_per_kg"]
    on = np.clip(result.days - 10.0, 0, 14.0)
    after = np.clip(result.days - 24.0, 0, None)
    expected = rate / k * (1 - np.exp(-k * on)) * np.exp(-k * after)
    simulated = result.state("filgrastim_concentration")[0]
    np.testing.assert_allclose(simulated, expected, rtol=1e-4, atol=1e-6 * expected.max())


def test_filgrastim_is_cleared_by_neutrophils_and_raises_the_anc():
    settings = {
        "filgrastim.dose_ug_per_kg_day": 5.0,
        "filgrastim.start_day": 10.0,
        "filgrastim.days": 14.0,
        "days": 40,
    }
    treated = marrowsim.simulate("healthy", set=settings, save_states=True)
    untreated = marrowsim.simulate("healthy", set={"days": 40}, save_states=True)
    v = load_table().values()
    anc = treated.readout("anc")[0]
    level = treated.state("filgrastim_concentration")[0]
    # clearance is fast (hours): the level sits at dose rate / clearance(ANC)
    k = 24 * math.log(2) / v["filgrastim_half_life_h"]
    phi = v["filgrastim_linear_clearance_fraction"]
    rate = 1000 * v["filgrastim_bioavailability"] * 5.0 / v["filgrastim_volume_ml_per_kg"]
    for day in (15, 20):
        clearance = k * (phi + (1 - phi) * anc[day] / v["anc_set_point"])
        assert level[day] == pytest.approx(rate / clearance, rel=0.03)
    # G-CSF releases the marrow reserve and raises production: ANC goes up
    assert anc[11:24].max() > 1.5 * untreated.readout("anc")[0, 15]
    # the serum G-CSF readout counts both (pg/mL): filgrastim's ng/mL x 1000
    assert treated.readout("gcsf")[0, 15] > 1000 * level[15]
    assert untreated.readout("gcsf")[0, 15] == pytest.approx(25.0, rel=1e-6)


def test_untreated_patients_have_no_drug():
    result = marrowsim.simulate("healthy", set={"days": 30}, save_states=True)
    for name in ("eltrombopag_concentration", "eltrombopag_peripheral", "filgrastim_concentration"):
        assert np.all(result.state(name)[0] == 0.0)
    assert np.all(result.state("eltrombopag_dose_factor")[0] == 1.0)
