"""SBML export, re-simulated by an independent simulator (libRoadRunner)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import marrowsim
from conftest import WITHOUT_DEATH
from marrowsim.io.sbml import check_exportable, export_scenario, state_scales
from marrowsim.mechanisms.base import Mechanism, State
from marrowsim.model import Model
from marrowsim.simulation import default_model

libsbml = pytest.importorskip("libsbml")
roadrunner = pytest.importorskip("roadrunner")

READOUTS = ["hb", "anc", "wbc", "lymphocytes", "platelets", "retic", "cellularity", "hsc"]


def _document(text):
    document = libsbml.readSBMLFromString(text)
    assert document.getNumErrors() == 0
    return document


def test_export_is_valid_sbml_with_units_sources_events_and_readouts():
    document = _document(export_scenario("immune-aa"))
    document.checkConsistency()
    errors = [
        document.getError(i).getMessage()
        for i in range(document.getNumErrors())
        if document.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR
    ]
    assert errors == []
    sbml = document.getModel()
    assert (document.getLevel(), sbml.getNumRules() > 0) == (3, True)
    model = default_model()
    for name in model.state_names:
        assert sbml.getRateRule(name) is not None, name
    for name in READOUTS:
        assert sbml.getAssignmentRule(name) is not None, name
    pool = sbml.getParameter("hsc_pool_size")
    assert pool.getValue() == 50000 and pool.getConstant()
    assert "Lee-Six" in pool.getNotesString()
    assert sbml.getUnitDefinition(pool.getUnits()) is not None
    assert sbml.getParameter("anc").getUnits() == sbml.getParameter("neutrophil").getUnits()
    triggers = {
        libsbml.formulaToL3String(sbml.getEvent(k).getTrigger().getMath())
        for k in range(sbml.getNumEvents())
    }
    # the half-year steps of a course from birth (the niche's growth and the
    # persistent DNA damage of a repair defect): days that are numbers
    steps = {t for t in triggers if re.fullmatch(r"time >= [\d.]+", t)}
    assert {float(t.split(">=")[1]) for t in steps} == {k * 182.625 for k in range(201)}
    schedule = {t for t in triggers if t.startswith("time >=")} - steps
    # the transplant's course (its graft-failure day is a piecewise expression)
    transplant = {t for t in schedule if "transplant_start_day" in t}
    assert len(transplant) >= 6 and any("piecewise" in t for t in transplant)
    schedule -= transplant
    assert schedule == {
        "time >= immune_trigger_day",
        "time >= immune_end_day",
        "time >= blood_loss_start_day",
        "time >= (blood_loss_duration_days + blood_loss_start_day)",
        "time >= radiation_start_day",
        "time >= (radiation_duration_days + radiation_start_day)",
        "time >= benzene_start_day",
        "time >= (benzene_start_day + 365.25 * benzene_years)",
        # benzene's immune sensitisation: the day the cumulative hazard
        # reaches the patient's draw, or never
        "time >= piecewise(365.25 * benzene_sensitisation_draw / piecewise(1e-300, 1e-300 >="
        " (benzene_ppm * benzene_sensitisation_per_ppm_year), benzene_ppm *"
        " benzene_sensitisation_per_ppm_year) + benzene_start_day, (benzene_years > 0) &&"
        " ((benzene_ppm * benzene_sensitisation_per_ppm_year) > 0) &&"
        " (benzene_sensitisation_draw < -ln(exp(-benzene_ppm *"
        " benzene_sensitisation_per_ppm_year * benzene_years))), 1000000000)",
        "time >= niche_injury_start_day",
        "time >= (niche_injury_days + niche_injury_start_day)",
        "time >= transfusion_start_day",
        "time >= antimicrobial_start_day",
        "time >= hatg_start_day",
        "time >= (hatg_days + hatg_start_day)",
        "time >= ratg_start_day",
        "time >= (ratg_days + ratg_start_day)",
        "time >= cyclosporine_start_day",
        "time >= (cyclosporine_full_dose_days + cyclosporine_start_day)",
        "time >= (cyclosporine_full_dose_days + cyclosporine_start_day"
        " + cyclosporine_taper_days / 3)",
        "time >= (cyclosporine_full_dose_days + cyclosporine_start_day"
        " + 2 * cyclosporine_taper_days / 3)",
        "time >= (cyclosporine_full_dose_days + cyclosporine_start_day + cyclosporine_taper_days)",
        # the second course (given only with cyclosporine_second_course_full_dose_days > 0)
        "time >= cyclosporine_second_course_start_day",
        "time >= (cyclosporine_second_course_full_dose_days"
        " + cyclosporine_second_course_start_day)",
        "time >= (cyclosporine_second_course_full_dose_days"
        " + cyclosporine_second_course_start_day + cyclosporine_taper_days / 3)",
        "time >= (cyclosporine_second_course_full_dose_days"
        " + cyclosporine_second_course_start_day + 2 * cyclosporine_taper_days / 3)",
        "time >= (cyclosporine_second_course_full_dose_days"
        " + cyclosporine_second_course_start_day + cyclosporine_taper_days)",
        "time >= eltrombopag_start_day",
        "time >= (eltrombopag_days + eltrombopag_start_day)",
        "time >= filgrastim_start_day",
        "time >= (filgrastim_days + filgrastim_start_day)",
        *(
            trigger
            for drug in ("chloramphenicol", "drug")
            for trigger in (
                f"time >= {drug}_start_day",
                f"time >= ({drug}_days + {drug}_start_day)",
                # the idiosyncratic reaction: a break of tolerance or never
                f"time >= piecewise({drug}_days + {drug}_idiosyncratic_latency_days"
                f" + {drug}_start_day, ({drug}_days > 0) && ({drug}_dose_mg_per_kg_day > 0)"
                f" && ({drug}_idiosyncratic_draw < -ln(1 - {drug}_idiosyncratic_risk_per_course)),"
                " 1000000000)",
            )
        ),
    }
    # the clinical events (diagnosis, transfusions, deaths) are SBML events too
    ids = {sbml.getEvent(k).getId() for k in range(sbml.getNumEvents())}
    assert set(default_model().event_names) <= ids
    assert "(-infection_death_threshold + infection_hazard) > 0" in triggers


def _roadrunner(text, days, rtol=1e-10, atol=1e-12, points=None, selections=READOUTS):
    """Columns ``selections`` at ``points`` times (default: daily), from CVODE."""
    runner = roadrunner.RoadRunner(text)  # CVODE, BDF (its default)
    runner.integrator.relative_tolerance = rtol
    scales = state_scales("healthy")
    runner.integrator.absolute_tolerance = [atol * scales[name] for name in runner.getRateRuleIds()]
    runner.integrator.maximum_num_steps = 10**6
    runner.timeCourseSelections = ["time", *selections]
    return np.asarray(runner.simulate(0, days, points or days + 1))[:, 1:]


def _ours(result):
    """Our readouts, NaN after a death: the SBML export notes terminal events
    but a simulator of it integrates on, so courses compare while alive."""
    return np.column_stack([result.readout(name)[0] for name in READOUTS])


def _worst(ours, theirs):
    alive = np.isfinite(ours).all(axis=1)
    assert alive[:30].all()
    relative = np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-12)
    return relative[alive].max()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("scenario", "limit"),
    [("healthy", 1e-6), ("immune-aa", 1e-4), ("immune-aa-mild", 1e-4), ("blood-donation", 1e-4)],
)
def test_roadrunner_reproduces_each_builtin_scenario(scenario, limit):
    ours = _ours(marrowsim.simulate(scenario))
    theirs = _roadrunner(export_scenario(scenario), int(marrowsim.load_scenario(scenario).days))
    assert _worst(ours, theirs) < limit


@pytest.mark.slow
@pytest.mark.parametrize("end_day", [30.0, 200.0])  # on the trigger day (no attack), and later
def test_roadrunner_reproduces_an_attack_that_ends(end_day):
    settings = {"immune.end_day": end_day}
    ours = _ours(marrowsim.simulate("immune-aa", set=settings))
    theirs = _roadrunner(export_scenario("immune-aa", overrides=settings), 730)
    assert _worst(ours, theirs) < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("patient", [0, 5, 17])
def test_roadrunner_reproduces_drawn_virtual_patients(patient):
    cohort = marrowsim.simulate("immune-aa", patients=patient + 1, seed=9)
    ours = _ours(cohort[patient])
    theirs = _roadrunner(export_scenario("immune-aa", patient=patient, seed=9), 730)
    assert _worst(ours, theirs) < 1e-4


def test_setting_initial_parameters_in_roadrunner_rederives_the_patient():
    # the export carries initial assignments, so `init(p)` + reset gives
    # another patient's healthy steady state
    runner = roadrunner.RoadRunner(export_scenario("healthy"))
    runner["init(hsc_pool_size)"] = 100000.0
    runner.reset()
    assert runner["hsc_cells"] == pytest.approx(100000.0)
    assert runner["hsc"] == pytest.approx(1.0)


class _Noisy(Mechanism):
    name = "noisy"
    stochastic = True
    not_exportable_because = "clonal drift is a Moran process"
    states = (State("clone", "cells", "a clone"),)
    parameters = ("hsc_division_rate",)

    def rates(self, c):
        return {"clone": -c.p.hsc_division_rate * c.s.clone}

    def steady_state(self, p):
        return {"clone": 1}


def test_stochastic_parts_cannot_be_exported():
    with pytest.raises(
        marrowsim.InputError,
        match=r"cannot export to SBML: noisy \(clonal drift is a Moran process\)",
    ):
        check_exportable(Model([_Noisy()]))


def test_export_cli(tmp_path: Path):
    out = tmp_path / "model.xml"
    done = subprocess.run(
        [sys.executable, "-m", "marrowsim.cli", "export-sbml", "immune-aa-mild", "--set", "immune.strength=0.3", "-o", str(out)],
        capture_output=True, text=True, env=dict(os.environ),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    sbml = _document(out.read_text()).getModel()
    assert sbml.getParameter("immune_strength").getValue() == 0.3
    for args, message in (
        (["export-sbml", "--patient", "-1", "-o", str(out)], "--patient: '-1' must be >= 0"),
        (["export-sbml", "nope", "-o", str(out)], "unknown scenario 'nope'"),
        (["export-sbml", "-o", str(tmp_path / "file.xml" / "x.xml")], "--output"),
    ):
        if "file.xml" in str(args):
            (tmp_path / "file.xml").write_text("a file, not a folder")
        done = subprocess.run(
            [sys.executable, "-m", "marrowsim.cli", *args], capture_output=True, text=True
        )
        assert done.returncode == 2 and message in done.stderr, done.stderr


@pytest.mark.slow
def test_roadrunner_reproduces_a_course_with_transfusions():
    # care from day 60 of an untreated attack (a scenario that does not enrol:
    # the SBML runs the patient's own clock), nobody dying, so the transfusion
    # events are compared over the whole course
    settings = {
        "immune.strength": 6.0,
        "transfusion.start_day": 60,
        "transfusion.red_cell_trigger_hb": 8,
        "transfusion.platelet_trigger": 10,
        "antimicrobial.prophylaxis": 1,
        **WITHOUT_DEATH,
    }
    days = 240
    # the export is checked at tight tolerances on our side (rtol 1e-6) and
    # the default's own error beside it: an event located on a dense output
    # one rtol off shifts the counts after it (platelets: 4.4e-4 at rtol 1e-5)
    tight = marrowsim.Solver(rtol=1e-6, atol=1e-8)
    result = marrowsim.simulate("immune-aa", days=days, set=settings, solver=tight)
    default = marrowsim.simulate("immune-aa", days=days, set=settings)
    ours_events = result.events.query("event != 'diagnosis'")
    assert (ours_events["event"] == "red_cell_transfusion").sum() >= 5
    assert (ours_events["event"] == "platelet_transfusion").sum() >= 5
    step = 0.002
    columns = ["transfused_red_cells", "transfused_platelets", *READOUTS]
    n = round(days / step)
    out = _roadrunner(
        export_scenario("immune-aa", overrides=settings), days, points=n + 1, selections=columns
    )
    time = np.linspace(0, days, n + 1)
    for state, event in ((0, "red_cell_transfusion"), (1, "platelet_transfusion")):
        jumps = np.flatnonzero(np.diff(out[:, state]) > 0)
        theirs = time[jumps] + step / 2  # the event lies inside the output step
        ours = ours_events.query("event == @event")["day"].to_numpy()
        assert len(theirs) == len(ours), event
        np.testing.assert_allclose(theirs, ours, atol=0.01)
    # readouts on the days more than 0.02 day from any event
    daily = out[:: round(1 / step), 2:]
    ours_daily = _ours(result)
    near = np.min(np.abs(result.days[:, None] - ours_events["day"].to_numpy()[None, :]), axis=1)
    away = near > 0.02
    relative = np.abs(ours_daily - daily) / np.maximum(np.abs(daily), 1e-12)
    assert relative[away].max() < 1e-4, relative[away].max()
    relative = np.abs(_ours(default) - daily) / np.maximum(np.abs(daily), 1e-12)
    assert relative[away].max() < 1e-3, relative[away].max()


@pytest.mark.slow
def test_roadrunner_reproduces_growth_factors_and_the_eltrombopag_hold():
    # eltrombopag 150 mg/day takes healthy platelets past the 400 ceiling, so
    # the weekly visits hold it (and resume it below 300); filgrastim over two weeks
    settings = {
        "eltrombopag.dose_mg_per_day": 150,
        "eltrombopag.resume_below_platelets": 300,
        "eltrombopag.start_day": 5,
        "eltrombopag.days": 150,
        "filgrastim.dose_ug_per_kg_day": 5,
        "filgrastim.start_day": 20,
        "filgrastim.days": 14,
    }
    days = 200
    result = marrowsim.simulate("healthy", days=days, set=settings)
    assert (result.events["event"] == "eltrombopag_visit").sum() >= 2
    ours = _ours(result)
    theirs = _roadrunner(export_scenario("healthy", overrides=settings), days)
    assert _worst(ours, theirs) < 1e-4
