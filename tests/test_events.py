"""State-triggered events: located inside the step, jumps, inputs, termination.

Small test mechanisms with closed-form solutions keep the default model
untouched; its results are checked bitwise against numbers computed before
events existed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import marrowsim
from marrowsim.engine import STATUS_ENDED_BY_EVENT, Solver, integrate
from marrowsim.engine.codegen import compiled_module
from marrowsim.mechanisms import Event, EventAction, Input, InputChange, Mechanism, State
from marrowsim.model import Model

LOW, TOP_UP = 0.3, 0.5
FIRST = np.log(1 / LOW)  # exp(-t) reaches LOW
PERIOD = np.log((LOW + TOP_UP) / LOW)  # from LOW + TOP_UP back down to LOW


class _Sawtooth(Mechanism):
    """x' = -k x from 1; when x falls to 0.3 it is topped up by 0.5."""

    name = "sawtooth"
    states = (State("x", "1", "a decaying amount"),)
    parameters = ("hsc_division_rate",)
    events = (Event("top_up", "x falls to the threshold", -1),)

    def rates(self, c):
        return {"x": -c.p.hsc_division_rate * 280 * c.s.x}  # k = 1 at the table value

    def steady_state(self, p):
        return {"x": 1.0}

    def event_triggers(self, c):
        return {"top_up": c.s.x - LOW}

    def event_actions(self, c):
        return {"top_up": EventAction(jumps={"x": c.s.x + TOP_UP})}


class _Ends(_Sawtooth):
    name = "ends"
    events = (Event("end", "x falls to the threshold", -1),)

    def event_triggers(self, c):
        return {"end": c.s.x - LOW}

    def event_actions(self, c):
        return {"end": EventAction(terminal=True)}


class _Oscillator(Mechanism):
    """x = cos t, y = sin t; x falls through 0 at pi/2 + 2 pi k, rises at 3 pi/2 + 2 pi k."""

    name = "oscillator"
    states = (State("x", "1", "cosine", signed=True), State("y", "1", "sine", signed=True))
    parameters = ("hsc_division_rate",)
    events = (Event("down", "x falls through 0", -1), Event("up", "x rises through 0", +1))

    def rates(self, c):
        return {"x": -c.s.y, "y": c.s.x}

    def steady_state(self, p):
        return {"x": 1.0, "y": 0.0}

    def event_triggers(self, c):
        return {"down": c.s.x, "up": c.s.x}


class _Switch(Mechanism):
    """x' = drive - x from 1; the schedule sets drive 0.5 at day 5, but the
    event at x = 0.3 sets it to 1 first, and the event's value holds."""

    name = "switch"
    states = (State("x", "1", "an amount"),)
    parameters = ("hsc_division_rate",)
    inputs = (Input("drive", "1/day", "inflow"),)
    events = (Event("switch_on", "x falls to 0.3", -1),)

    def rates(self, c):
        return {"x": c.u.drive - c.p.hsc_division_rate * 280 * c.s.x}

    def steady_state(self, p):
        return {"x": 1.0}

    def schedule(self, p):
        return [InputChange("drive", 5.0, 0.5)]

    def event_triggers(self, c):
        return {"switch_on": c.s.x - LOW}

    def event_actions(self, c):
        return {"switch_on": EventAction(inputs={"drive": 1.0})}


def _setup(mechanism, rates=(1 / 280,)):
    model = Model([mechanism])
    values = {"hsc_division_rate": np.asarray(rates, dtype=float)}
    params = model.parameter_matrix(values)
    return model, values, params, model.steady_state(params)


def _run(mechanism, t_out, rates=(1 / 280,), solver=None):
    model, values, params, y0 = _setup(mechanism, rates)
    return integrate(
        model, y0, params, model.schedule(values), t_out, solver=solver, save_states=True
    )


def _days(run, i=0):
    return run.event_days[i, : run.event_count[i]]


def _scipy_events(mechanism, t_end, rate=1 / 280):
    """Reference event times (and names) from solve_ivp's own event location
    at rtol 1e-10, restarting after each event with its jumps applied."""
    model, values, params, y0 = _setup(mechanism, (rate,))
    assert not model.schedule(values)
    module = compiled_module(model)
    p = module.extend(params[0])
    u = np.zeros(max(len(model.input_names), 1))
    g = np.empty(len(model.events))

    def trigger(k):
        def fn(t, y):
            module.event_triggers(y, p, u, g)
            return g[k]

        fn.direction = model.events[k].direction
        fn.terminal = bool(model.events[k].jumps)
        return fn

    def f(t, y):
        dy = np.empty(len(y))
        module.rhs(y, p, u, dy)
        return dy

    found: list[tuple[float, str]] = []
    t, y = 0.0, y0[0].copy()
    while t < t_end:
        sol = solve_ivp(
            f, (t, t_end), y, method="Radau", rtol=1e-10, atol=1e-14,
            events=[trigger(k) for k in range(len(model.events))],
        )  # fmt: skip
        hits = sorted(
            (float(te), k) for k, times in enumerate(sol.t_events) for te in times if te > t
        )
        stop = sol.status == 1
        for te, k in hits:
            if stop and te > sol.t[-1]:
                break
            found.append((te, model.event_names[k]))
        if not stop:
            break
        t, y = float(sol.t[-1]), sol.y[:, -1].copy()
        k = next(k for te, k in hits if te == sol.t[-1])
        module.event_apply(k, y, p, u, u.copy())
    return found


def test_trigger_times_match_analytic_crossings_and_scipy():
    run = _run(_Sawtooth(), np.linspace(0, 10, 11), solver=Solver(rtol=1e-9, atol=1e-11))
    n = int(run.event_count[0])
    assert n == 1 + int((10 - FIRST) // PERIOD) == 9
    np.testing.assert_allclose(_days(run), FIRST + PERIOD * np.arange(n), rtol=0, atol=1e-6)
    assert run.event_table()[0] == (0, run.event_days[0, 0], "top_up")
    # default tolerances: the first crossing to rtol days, all to 1e-3 of scipy
    default = _run(_Sawtooth(), np.linspace(0, 10, 11))
    assert abs(default.event_days[0, 0] - FIRST) < Solver().rtol
    reference = _scipy_events(_Sawtooth(), 10.0)
    assert [name for _, name in reference] == ["top_up"] * n
    np.testing.assert_allclose(_days(default), [t for t, _ in reference], rtol=0, atol=1e-3)
    np.testing.assert_allclose([t for t, _ in reference], _days(run), rtol=0, atol=1e-6)


def test_events_are_located_inside_steps_not_on_the_output_grid():
    coarse = _run(_Sawtooth(), np.array([0.0, 10.0]))
    fine = _run(_Sawtooth(), np.linspace(0, 10, 1001))
    assert abs(coarse.event_days[0, 0] - FIRST) < Solver().rtol
    np.testing.assert_allclose(_days(coarse), _days(fine), rtol=0, atol=Solver().rtol)


def test_jump_lands_on_the_located_time_and_gives_the_sawtooth():
    solver = Solver(rtol=1e-9, atol=1e-11)
    t_out = np.linspace(0, 10, 2001)
    run = _run(_Sawtooth(), t_out, solver=solver)
    days = _days(run)
    x = run.states[0, :, 0]
    # analytic sawtooth: after the k-th event x = 0.8 exp(-(t - t_k))
    exact = np.exp(-t_out)
    for t_k in FIRST + PERIOD * np.arange(len(days)):
        exact = np.where(t_out > t_k, (LOW + TOP_UP) * np.exp(-(t_out - t_k)), exact)
    near = np.min(np.abs(t_out[:, None] - days[None, :]), axis=1) < 1e-5
    np.testing.assert_allclose(x[~near], exact[~near], rtol=1e-7)
    # the state just after the event is the jump of the state at the event:
    # an output day placed on the located time sees x = LOW (before the jump),
    # and the course from there is LOW + TOP_UP decaying
    t_event = run.event_days[0, 0]
    probe = np.array([0.0, t_event, t_event + 1e-3, 2.0])
    at = _run(_Sawtooth(), probe, solver=solver).states[0, :, 0]
    assert at[1] == pytest.approx(LOW, abs=1e-9)
    assert at[2] == pytest.approx((LOW + TOP_UP) * np.exp(-1e-3), rel=1e-8)


def test_terminal_event_ends_the_course_with_nan_afterwards():
    t_out = np.linspace(0, 5, 51)
    run = _run(_Ends(), t_out)
    assert run.status[0] == STATUS_ENDED_BY_EVENT
    assert marrowsim.engine.STATUS_MESSAGES[3] == "ended by event"
    assert run.event_count[0] == 1 and abs(run.event_days[0, 0] - FIRST) < Solver().rtol
    after = t_out > run.event_days[0, 0]
    assert np.isnan(run.states[0, after]).all() and np.isnan(run.readouts[0, after]).all()
    np.testing.assert_allclose(run.states[0, ~after, 0], np.exp(-t_out[~after]), rtol=1e-5)


def test_direction_is_respected():
    solver = Solver(rtol=1e-9, atol=1e-11)
    run = _run(_Oscillator(), np.linspace(0, 20, 21), solver=solver)
    names = [name for _, _, name in run.event_table()]
    days = np.array([day for _, day, _ in run.event_table()])
    expected = np.pi / 2 + np.pi * np.arange(6)  # down, up, down, up, ...
    assert names == ["down", "up"] * 3
    np.testing.assert_allclose(days, expected, rtol=0, atol=1e-6)
    reference = _scipy_events(_Oscillator(), 20.0)
    assert [n for _, n in reference] == names
    default = _run(_Oscillator(), np.linspace(0, 20, 21))
    np.testing.assert_allclose(_days(default), [t for t, _ in reference], rtol=0, atol=1e-3)
    # a rising event does not fire on the falling crossings of exp(-t)
    rising = type(
        "_Rising",
        (_Sawtooth,),
        {"name": "rising", "events": (Event("top_up", "x rises to 0.3", +1),)},
    )
    assert _run(rising(), np.linspace(0, 10, 11)).event_count[0] == 0


def test_an_input_set_by_an_event_holds_over_later_schedule_changes():
    t_out = np.array([0.0, 1.0, 5.0, 6.0, 8.0])
    run = _run(_Switch(), t_out, solver=Solver(rtol=1e-9, atol=1e-11))
    t_event = run.event_days[0, 0]
    assert abs(t_event - FIRST) < 1e-6 and run.event_count[0] == 1
    # x' = 1 - x from LOW: the schedule's drive 0.5 at day 5 does not apply
    late = t_out > t_event
    exact = np.where(late, 1 - (1 - LOW) * np.exp(-(t_out - t_event)), np.exp(-t_out))
    np.testing.assert_allclose(run.states[0, :, 0], exact, rtol=1e-7)


def test_patient_alone_equals_patient_in_cohort_with_events():
    rates = np.array([0.7, 1.0, 1.3, 0.9, 2.2]) / 280
    t_out = np.linspace(0, 30, 61)
    for mechanism in (_Sawtooth(), _Switch(), _Ends()):
        cohort = _run(mechanism, t_out, rates=rates)
        serial = marrowsim.engine.integrate(
            *_args(mechanism, rates), t_out, save_states=True, workers=1
        )
        for i in range(len(rates)):
            alone = _run(mechanism, t_out, rates=rates[[i]])
            np.testing.assert_array_equal(alone.states[0], cohort.states[i])
            np.testing.assert_array_equal(_days(alone), _days(cohort, i))
        np.testing.assert_array_equal(serial.states, cohort.states)
        np.testing.assert_array_equal(serial.event_days, cohort.event_days)
        assert len(set(cohort.event_count)) > 1 or mechanism.name != "sawtooth"


def _args(mechanism, rates):
    model, values, params, y0 = _setup(mechanism, rates)
    return model, y0, params, model.schedule(values)


def test_event_log_overflow_is_flagged_not_lost():
    run = _run(_Sawtooth(), np.array([0.0, 300.0]))
    assert run.event_count[0] > marrowsim.engine.EVENT_CAPACITY
    assert run.event_overflow[0] and np.isfinite(run.event_days[0]).all()


class _SawtoothThatEnds(Mechanism):
    """The sawtooth, and a clock whose terminal event ends the course on day 290."""

    name = "sawtooth_that_ends"
    states = (State("x", "1", "a decaying amount"), State("clock", "day", "time"))
    parameters = ("hsc_division_rate",)
    events = (
        Event("top_up", "x falls to the threshold", -1),
        Event("end", "day 290", +1),
    )

    def rates(self, c):
        return {"x": -c.p.hsc_division_rate * 280 * c.s.x, "clock": 1}

    def steady_state(self, p):
        return {"x": 1.0, "clock": 0.0}

    def event_triggers(self, c):
        return {"top_up": c.s.x - LOW, "end": c.s.clock - 290}

    def event_actions(self, c):
        return {
            "top_up": EventAction(jumps={"x": c.s.x + TOP_UP}),
            "end": EventAction(terminal=True),
        }


def test_a_full_event_log_still_ends_with_the_terminal_event():
    run = _run(_SawtoothThatEnds(), np.array([0.0, 300.0]))
    assert run.event_overflow[0] and run.status[0] == STATUS_ENDED_BY_EVENT
    last = run.event_days.shape[1] - 1
    assert run.event_names[run.event_index[0, last]] == "end"
    assert run.event_days[0, last] == pytest.approx(290.0, abs=1e-6)


def test_simulate_exposes_events():
    result = marrowsim.simulate(
        "healthy", days=10, patients=3, seed=1, model=Model([_Sawtooth()]), chunk_size=2
    )
    events = result.events
    assert list(events.columns) == ["patient", "day", "event"]
    assert set(events["event"]) == {"top_up"} and set(events["patient"]) == {0, 1, 2}
    sub = result[[2]].events
    assert set(sub["patient"]) == {0} and len(sub) == (events["patient"] == 2).sum()
    assert marrowsim.simulate("healthy", days=5).events.empty


def test_event_declarations_are_checked():
    with pytest.raises(ValueError, match="direction"):
        Event("e", "bad", 0)

    class _Bad(_Sawtooth):
        name = "bad"

        def event_actions(self, c):
            return {"top_up": EventAction(jumps={"nope": 1.0})}

    with pytest.raises(ValueError, match="unknown state 'nope'"):
        Model([_Bad()])

    class _Missing(_Sawtooth):
        name = "missing"

        def event_triggers(self, c):
            return {}

    with pytest.raises(ValueError, match="triggers must match"):
        Model([_Missing()])


def test_default_model_is_bitwise_unchanged():
    # tests/data/default_model_baseline.json holds the default model's numbers;
    # an engine change must leave them bitwise alone; a deliberate change of
    # the model regenerates them (tests/data/make_default_model_baseline.py)
    stored = json.loads(
        (Path(__file__).parent / "data" / "default_model_baseline.json").read_text()
    )
    result = marrowsim.simulate(
        stored["scenario"], patients=stored["patients"], seed=stored["seed"],
        days=stored["days"], every=stored["every"],
        solver=marrowsim.Solver(**stored.get("solver", {"rtol": 1e-6, "atol": 1e-8})),
    )  # fmt: skip
    assert list(result.readout_names) == stored["readout_names"]
    np.testing.assert_array_equal(result.readouts, np.array(stored["readouts"]))
    assert result.steps.tolist() == stored["steps"]
    assert result.rejected.tolist() == stored["rejected"]
    assert [list(row) for row in result.event_log] == stored["events"]


def test_sbml_export_of_events_is_valid_and_roadrunner_agrees():
    libsbml = pytest.importorskip("libsbml")
    roadrunner = pytest.importorskip("roadrunner")
    from marrowsim.io.sbml import consistency_errors, export_sbml

    t_out = np.linspace(0, 10, 10001)
    for mechanism in (_Sawtooth(), _Switch(), _Oscillator()):
        model = Model([mechanism])
        text = export_sbml(model, {"hsc_division_rate": 1 / 280}, name=mechanism.name)
        document = libsbml.readSBMLFromString(text)
        assert consistency_errors(document) == []
        sbml = document.getModel()
        for e in model.events:
            trigger = sbml.getEvent(e.name).getTrigger()
            assert trigger.getInitialValue() and trigger.getPersistent()
            assert ("<" if e.direction < 0 else ">") in libsbml.formulaToL3String(trigger.getMath())
        runner = roadrunner.RoadRunner(text)
        runner.integrator.relative_tolerance = 1e-10
        runner.integrator.absolute_tolerance = 1e-12
        runner.timeCourseSelections = ["time", *model.state_names]
        theirs = np.asarray(runner.simulate(0, 10, len(t_out)))[:, 1:]
        run = _run(mechanism, t_out, solver=Solver(rtol=1e-9, atol=1e-11))
        days = _days(run)
        away = np.min(np.abs(t_out[:, None] - days[None, :]), axis=1) > 0.01
        scale = np.maximum(np.abs(theirs[away]), 1e-3)  # the oscillator passes through 0
        worst = (np.abs(run.states[0, away] - theirs[away]) / scale).max()
        assert worst < 1e-4, (mechanism.name, worst)
        if mechanism.name == "sawtooth":
            # roadrunner's jumps: x rises between two output days
            jumps = t_out[1:][np.diff(theirs[:, 0]) > 0]
            assert len(jumps) == len(days)
            np.testing.assert_allclose(jumps, days, rtol=0, atol=0.01)


class _Stepped(Mechanism):
    """x' = drive - x with drive 0 until day 5, then 1: x jumps nowhere, but
    the trigger `drive - 0.5` crosses zero at the schedule change itself, and
    the event's jump of y then carries a second trigger over zero."""

    name = "stepped"
    states = (State("x", "1", "an amount"), State("y", "1", "a counter"))
    parameters = ("hsc_division_rate",)
    inputs = (Input("drive", "1/day", "inflow"),)
    events = (
        Event("drive_up", "drive rises past 0.5", +1),
        Event("counted", "y rises past 0.5", +1),
    )

    def rates(self, c):
        # y barely moves on its own (a rate must be non-zero)
        return {"x": c.u.drive - c.p.hsc_division_rate * 280 * c.s.x, "y": -1e-9 * c.s.y}

    def steady_state(self, p):
        return {"x": 1.0, "y": 0.0}

    def schedule(self, p):
        return [InputChange("drive", 5.0, 1.0)]

    def event_triggers(self, c):
        return {"drive_up": c.u.drive - 0.5, "counted": c.s.y - 0.5}

    def event_actions(self, c):
        return {"drive_up": EventAction(jumps={"y": c.s.y + 1.0})}


def test_a_trigger_carried_over_zero_by_a_discontinuity_fires_at_once():
    run = _run(_Stepped(), np.linspace(0, 10, 11))
    assert run.event_count[0] == 2
    np.testing.assert_array_equal(_days(run), [5.0, 5.0])  # the schedule change, then the jump
    assert [run.event_names[k] for k in run.event_index[0, :2]] == ["drive_up", "counted"]
