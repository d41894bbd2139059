"""SBML export, re-simulated by an independent simulator (libRoadRunner)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import marrowsim
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
    assert triggers == {
        "time >= immune_trigger_day",
        "time >= immune_end_day",
        "time >= blood_loss_start_day",
        "time >= (blood_loss_duration_days + blood_loss_start_day)",
    }


def _roadrunner(text, days, rtol=1e-10, atol=1e-12):
    runner = roadrunner.RoadRunner(text)  # CVODE, BDF (its default)
    runner.integrator.relative_tolerance = rtol
    scales = state_scales("healthy")
    runner.integrator.absolute_tolerance = [atol * scales[name] for name in runner.getRateRuleIds()]
    runner.integrator.maximum_num_steps = 10**6
    runner.timeCourseSelections = ["time", *READOUTS]
    return np.asarray(runner.simulate(0, days, days + 1))[:, 1:]


def _ours(result):
    return np.column_stack([result.readout(name)[0] for name in READOUTS])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("scenario", "limit"),
    [("healthy", 1e-6), ("immune-aa", 1e-4), ("immune-aa-mild", 1e-4), ("blood-donation", 1e-4)],
)
def test_roadrunner_reproduces_each_builtin_scenario(scenario, limit):
    ours = _ours(marrowsim.simulate(scenario))
    theirs = _roadrunner(export_scenario(scenario), int(marrowsim.load_scenario(scenario).days))
    relative = np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-12)
    assert relative.max() < limit, relative.max()


@pytest.mark.slow
@pytest.mark.parametrize("end_day", [30.0, 200.0])  # on the trigger day (no attack), and later
def test_roadrunner_reproduces_an_attack_that_ends(end_day):
    settings = {"immune.end_day": end_day}
    ours = _ours(marrowsim.simulate("immune-aa", set=settings))
    theirs = _roadrunner(export_scenario("immune-aa", overrides=settings), 730)
    relative = np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-12)
    assert relative.max() < 1e-4, relative.max()


@pytest.mark.slow
@pytest.mark.parametrize("patient", [0, 5, 17])
def test_roadrunner_reproduces_drawn_virtual_patients(patient):
    cohort = marrowsim.simulate("immune-aa", patients=patient + 1, seed=9)
    ours = _ours(cohort[patient])
    theirs = _roadrunner(export_scenario("immune-aa", patient=patient, seed=9), 730)
    relative = np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-12)
    assert relative.max() < 1e-4, relative.max()


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
