"""Clinic visits and conditional event actions.

A visit is a periodic rule (every ``every`` days from ``first``) that reads
the state and acts where its condition holds; a conditional event acts only
where its ``when`` holds. Small test mechanisms with closed-form solutions,
as in test_events.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import marrowsim
from marrowsim.engine import Solver, integrate
from marrowsim.mechanisms import Event, EventAction, Input, Mechanism, Readout, State, Visit
from marrowsim.model import Model

RATE = 0.1  # per day: x = exp(-RATE t) between visits
THRESHOLD, TOP_UP = 0.4, 0.5
EVERY, FIRST = 7.0, 3.5
# the visit's parameters are table parameters that these mechanisms borrow
EVERY_PARAMETER, FIRST_PARAMETER = "immune_trigger_day", "fas_sensitisation_days"


class _WeeklyTopUp(Mechanism):
    """x' = -k x from 1; at each weekly visit x is topped up by 0.5 if below 0.4."""

    name = "weekly_top_up"
    states = (State("x", "1", "a decaying amount"),)
    readouts = (Readout("level", "1", "x, as a readout"),)
    parameters = ("hsc_division_rate", EVERY_PARAMETER, FIRST_PARAMETER)
    visits = (Visit("top_up_visit", "weekly check of x", EVERY_PARAMETER, FIRST_PARAMETER),)

    def rates(self, c):
        return {"x": -c.p.hsc_division_rate * 280 * c.s.x}  # k = RATE at 0.1/280

    def steady_state(self, p):
        return {"x": 1.0}

    def readout_values(self, c):
        return {"level": c.s.x}

    def visit_actions(self, c):
        return {"top_up_visit": EventAction(jumps={"x": c.s.x + TOP_UP}, when=c.s.x < THRESHOLD)}


class _VisitSetsDrive(Mechanism):
    """x' = drive - k x; a visit where x < 0.4 switches the drive on (and it holds)."""

    name = "visit_sets_drive"
    states = (State("x", "1", "an amount"),)
    parameters = ("hsc_division_rate", EVERY_PARAMETER, FIRST_PARAMETER)
    inputs = (Input("drive", "1/day", "inflow"),)
    visits = (
        Visit("start_drive", "start the drive when x is low", EVERY_PARAMETER, FIRST_PARAMETER),
    )

    def rates(self, c):
        return {"x": c.u.drive - c.p.hsc_division_rate * 280 * c.s.x}

    def steady_state(self, p):
        return {"x": 1.0}

    def visit_actions(self, c):
        # an expression, not a relational: it holds where it is > 0
        return {"start_drive": EventAction(inputs={"drive": 0.2}, when=THRESHOLD - c.s.x)}


class _ConditionalEvent(Mechanism):
    """x = cos t, y = sin t; x falls through 0 at pi/2 + 2 pi k: the event
    jumps y by +10 only where y < 5 (the first time, not after)."""

    name = "conditional_event"
    states = (State("x", "1", "cosine", signed=True), State("y", "1", "sine", signed=True))
    parameters = ("hsc_division_rate",)
    events = (Event("kick", "x falls through 0", -1),)

    def rates(self, c):
        return {"x": -c.s.y, "y": c.s.x}

    def steady_state(self, p):
        return {"x": 1.0, "y": 0.0}

    def event_triggers(self, c):
        return {"kick": c.s.x}

    def event_actions(self, c):
        return {"kick": EventAction(jumps={"y": c.s.y + 10}, when=c.s.y < 5)}


def _values(n=1, rate=RATE, every=EVERY, first=FIRST):
    shape = (n,)
    return {
        "hsc_division_rate": np.broadcast_to(np.asarray(rate, dtype=float) / 280, shape).copy(),
        EVERY_PARAMETER: np.broadcast_to(np.asarray(every, dtype=float), shape).copy(),
        FIRST_PARAMETER: np.broadcast_to(np.asarray(first, dtype=float), shape).copy(),
    }


def _run(mechanism, t_out, values=None, solver=None, workers=None):
    model = Model([mechanism])
    values = values or _values()
    values = {k: v for k, v in values.items() if k in model.parameter_names}
    params = model.parameter_matrix(values)
    y0 = model.steady_state(params)
    return integrate(
        model, y0, params, model.schedule(values), t_out,
        solver=solver, save_states=True, workers=workers,
    )  # fmt: skip


def _days(run, i=0):
    return run.event_days[i, : run.event_count[i]]


def _sawtooth(t_end, rate=RATE, every=EVERY, first=FIRST):
    """Closed form: the acting visit days, and x(t) as a function."""
    acting = []
    t_last, x_last = 0.0, 1.0
    day = first
    while day <= t_end:
        x = x_last * np.exp(-rate * (day - t_last))
        if x < THRESHOLD:
            acting.append(day)
            t_last, x_last = day, x + TOP_UP
        day += every

    def x_at(t):
        t = np.asarray(t, dtype=float)
        out = np.exp(-rate * t)
        x_last = 1.0
        t_last = 0.0
        for day in acting:
            x_last = x_last * np.exp(-rate * (day - t_last)) + TOP_UP
            t_last = day
            out = np.where(t > day, x_last * np.exp(-rate * (t - day)), out)
        return out

    return np.array(acting), x_at


def test_visits_fall_on_their_days_and_act_only_where_the_rule_holds():
    t_out = np.linspace(0, 100, 401)
    run = _run(_WeeklyTopUp(), t_out, solver=Solver(rtol=1e-10, atol=1e-12))
    acting, x_at = _sawtooth(100.0)
    assert 3 <= len(acting) < len(np.arange(FIRST, 100, EVERY))  # some visits do nothing
    # only the acting visits are logged, each exactly on its visit day
    assert run.event_names == ("top_up_visit",)
    np.testing.assert_allclose(_days(run), acting, rtol=0, atol=1e-9)
    np.testing.assert_allclose(run.states[0, :, 0], x_at(t_out), rtol=1e-8)
    # the clock counts days since the last visit, acting or not
    clock = run.states[0, :, 1]
    since = (t_out - FIRST) % EVERY
    expected = np.where(t_out < FIRST, t_out + EVERY - FIRST, since)
    on_a_visit = np.abs(since) < 1e-9
    np.testing.assert_allclose(clock[~on_a_visit], expected[~on_a_visit], atol=1e-9)


def test_a_visit_jump_lands_on_the_visit_day():
    solver = Solver(rtol=1e-10, atol=1e-12)
    acting, x_at = _sawtooth(100.0)
    day = acting[0]
    probe = np.array([0.0, day - 1e-6, day, day + 1e-6, day + 1.0])
    x = _run(_WeeklyTopUp(), probe, solver=solver).states[0, :, 0]
    before = np.exp(-RATE * day)
    assert x[2] == pytest.approx(before, rel=1e-9)  # at the visit: the pre-visit state
    assert x[3] == pytest.approx((before + TOP_UP) * np.exp(-RATE * 1e-6), rel=1e-9)
    assert x[4] == pytest.approx(x_at(day + 1.0), rel=1e-9)
    # default tolerances still put the visits on their days
    default = _run(_WeeklyTopUp(), np.array([0.0, 100.0]))
    np.testing.assert_allclose(_days(default), acting, rtol=0, atol=1e-9)


def test_visit_days_do_not_drift_over_a_long_course():
    class _Recorded(_WeeklyTopUp):
        name = "recorded"

        def visit_actions(self, c):
            return {}  # no action: every visit is only logged

    run = _run(_Recorded(), np.array([0.0, 730.0]), _values(every=3.0, first=1.5))
    days = _days(run)
    assert len(days) == 243 and not run.event_overflow[0]
    np.testing.assert_allclose(days, 1.5 + 3.0 * np.arange(243), rtol=0, atol=1e-9)


def test_a_visit_sets_an_input_only_where_its_condition_holds():
    t_out = np.linspace(0, 40, 81)
    run = _run(_VisitSetsDrive(), t_out, solver=Solver(rtol=1e-10, atol=1e-12))
    # exp(-0.1 t) < 0.4 first at day 9.16: visits at 3.5 do nothing, 10.5 acts;
    # from there x' = 0.2 - 0.1 x rises back to 2 and later visits do nothing
    assert _days(run).tolist() == pytest.approx([10.5], abs=1e-9)
    x0 = np.exp(-RATE * 10.5)
    exact = np.where(
        t_out > 10.5, 2 - (2 - x0) * np.exp(-RATE * (t_out - 10.5)), np.exp(-RATE * t_out)
    )
    np.testing.assert_allclose(run.states[0, :, 0], exact, rtol=1e-8)


def test_a_conditional_event_does_nothing_where_its_condition_is_false():
    solver = Solver(rtol=1e-10, atol=1e-12)
    t_out = np.linspace(0, 20, 201)
    run = _run(_ConditionalEvent(), t_out, solver=solver)
    # x falls through 0 first at pi/2 (y = 1 < 5: kick to y = 11); afterwards
    # the motion is a circle of radius 11 and later crossings find y = 11
    assert run.event_count[0] == 1
    assert _days(run)[0] == pytest.approx(np.pi / 2, abs=1e-7)
    late = t_out > np.pi / 2 + 1e-6
    radius = np.hypot(run.states[0, late, 0], run.states[0, late, 1])
    np.testing.assert_allclose(radius, 11.0, rtol=1e-7)
    unconditional = type(
        "_Always",
        (_ConditionalEvent,),
        {
            "name": "always",
            "event_actions": lambda self, c: {"kick": EventAction(jumps={"y": c.s.y + 10})},
        },
    )
    assert _run(unconditional(), t_out, solver=solver).event_count[0] > 1


def test_patient_alone_equals_patient_in_cohort_with_visits():
    rates = np.array([0.07, 0.1, 0.13, 0.09, 0.22])
    every = np.array([7.0, 7.0, 3.0, 14.0, 5.5])
    first = np.array([3.5, 7.0, 1.0, 2.0, 10.0])
    t_out = np.linspace(0, 120, 241)
    for mechanism in (_WeeklyTopUp(), _VisitSetsDrive()):
        values = _values(len(rates), rates, every, first)
        cohort = _run(mechanism, t_out, values)
        serial = _run(mechanism, t_out, values, workers=1)
        np.testing.assert_array_equal(serial.states, cohort.states)
        np.testing.assert_array_equal(serial.event_days, cohort.event_days)
        for i in range(len(rates)):
            alone = _run(mechanism, t_out, {k: v[[i]] for k, v in values.items()})
            np.testing.assert_array_equal(alone.states[0], cohort.states[i])
            np.testing.assert_array_equal(_days(alone), _days(cohort, i))
        assert len({tuple(_days(cohort, i)) for i in range(len(rates))}) > 1


def test_visit_declarations_are_checked():
    with pytest.raises(ValueError, match="not an identifier"):
        Visit("a visit", "bad", "x", "y")

    class _UnknownParameter(_WeeklyTopUp):
        name = "unknown_parameter"
        visits = (Visit("v", "a visit", "hsc_division_rate", "nope"),)

        def visit_actions(self, c):
            return {}

    with pytest.raises(ValueError, match="first 'nope' is not a parameter it declares"):
        Model([_UnknownParameter()])

    class _Clash(_WeeklyTopUp):
        name = "clash"
        visits = (Visit("x", "a visit named like a state", EVERY_PARAMETER, FIRST_PARAMETER),)

        def visit_actions(self, c):
            return {}

    with pytest.raises(ValueError, match="clashes"):
        Model([_Clash()])

    class _Undeclared(_WeeklyTopUp):
        name = "undeclared"

        def visit_actions(self, c):
            return {"other": EventAction()}

    with pytest.raises(ValueError, match="undeclared visits"):
        Model([_Undeclared()])

    class _OwnClock(_WeeklyTopUp):
        name = "own_clock"

        def visit_actions(self, c):
            return {"top_up_visit": EventAction(jumps={"top_up_visit_clock": 1.0})}

    with pytest.raises(ValueError, match="own clock"):
        Model([_OwnClock()])

    class _StrayCondition(_WeeklyTopUp):
        name = "stray"

        def visit_actions(self, c):
            import sympy

            return {"top_up_visit": EventAction(when=sympy.Symbol("z") > 1)}

    with pytest.raises(ValueError, match=r"\(when\) uses unknown \['z'\]"):
        Model([_StrayCondition()])

    model = Model([_WeeklyTopUp()])
    with pytest.raises(marrowsim.InputError, match="must be > 0 days"):
        model.parameter_matrix({k: v for k, v in _values(2, first=[1.0, 0.0]).items()})


def test_visit_model_traces_clock_and_event():
    model = Model([_WeeklyTopUp()])
    assert model.state_names == ("x", "top_up_visit_clock")
    params = model.parameter_matrix(_values())
    assert model.steady_state(params)[0].tolist() == [1.0, EVERY - FIRST]
    (visit,) = model.events
    assert visit.direction == 1 and visit.when is not None
    assert set(visit.unconditional_jumps) == {"top_up_visit_clock"}


def test_sbml_export_of_visits_and_conditions_roadrunner_agrees():
    libsbml = pytest.importorskip("libsbml")
    roadrunner = pytest.importorskip("roadrunner")
    from marrowsim.io.sbml import consistency_errors, export_sbml

    t_end = 100.0
    t_out = np.linspace(0, t_end, 10001)
    for mechanism in (_WeeklyTopUp(), _VisitSetsDrive(), _ConditionalEvent()):
        model = Model([mechanism])
        values = {k: float(v[0]) for k, v in _values().items() if k in model.parameter_names}
        text = export_sbml(model, values, name=mechanism.name)
        assert consistency_errors(libsbml.readSBMLFromString(text)) == []
        assert "piecewise" in text
        runner = roadrunner.RoadRunner(text)
        runner.integrator.relative_tolerance = 1e-10
        runner.integrator.absolute_tolerance = 1e-12
        runner.timeCourseSelections = ["time", *model.state_names]
        theirs = np.asarray(runner.simulate(0, t_end, len(t_out)))[:, 1:]
        run = _run(mechanism, t_out, solver=Solver(rtol=1e-9, atol=1e-11))
        days = _days(run)
        # visits that do nothing still restart the clock: compare every state
        # away from the event days
        firing = np.concatenate([days, np.arange(FIRST, t_end, EVERY)])
        away = np.min(np.abs(t_out[:, None] - firing[None, :]), axis=1) > 0.01
        scale = np.maximum(np.abs(theirs[away]), 1e-3)
        worst = (np.abs(run.states[0, away] - theirs[away]) / scale).max()
        assert worst < 1e-4, (mechanism.name, worst)
        x = theirs[:, 0]
        if mechanism.name == "weekly_top_up":
            runner.reset()
            runner.timeCourseSelections = ["time", "level"]
            level = np.asarray(runner.simulate(0, t_end, len(t_out)))[:, 1]
            relative = np.abs(run.readouts[0, away, 0] - level[away]) / np.abs(level[away])
            assert relative.max() < 1e-4, relative.max()
            jumps = t_out[1:][np.diff(x) > 0]  # roadrunner's top-ups: x rises
            assert len(jumps) == len(days)
            np.testing.assert_allclose(jumps, days, rtol=0, atol=0.01)


def test_a_visit_model_from_the_trace_cache_runs_like_the_traced_one(tmp_path):
    from marrowsim.engine.codegen import structure_key
    from marrowsim.model import load_trace, store_trace

    mechanisms = [_WeeklyTopUp()]
    traced = Model(mechanisms)
    traced._trace_key = "visit_test"  # test mechanisms are not cached by default_model
    store_trace(traced, structure_key(traced), tmp_path)
    loaded = load_trace(mechanisms, "visit_test", tmp_path)
    assert loaded is not None and loaded.__dict__["_untraced"]
    assert loaded.state_names == traced.state_names and loaded.event_names == traced.event_names
    values = _values(3, every=[7.0, 3.0, 10.0], first=[1.0, 2.0, 12.0])
    params = loaded.parameter_matrix(values)
    y0 = loaded.steady_state(params)
    np.testing.assert_array_equal(y0, traced.steady_state(params))
    np.testing.assert_array_equal(y0[:, 1], [6.0, 1.0, -2.0])  # every - first
    t_out = np.linspace(0, 60, 61)
    runs = [integrate(m, y0, params, [], t_out, save_states=True) for m in (loaded, traced)]
    np.testing.assert_array_equal(runs[0].states, runs[1].states)
    np.testing.assert_array_equal(runs[0].event_days, runs[1].event_days)
    assert loaded.__dict__["_untraced"]  # running needed no trace
    with pytest.raises(marrowsim.InputError, match="must be > 0 days"):
        loaded.parameter_matrix(_values(every=0.0))


def test_simulate_runs_a_visit_model():
    # the healthy table: visits every 30 days (immune_trigger_day) from day 2
    result = marrowsim.simulate(
        "healthy", days=200, patients=2, seed=1, model=Model([_WeeklyTopUp()])
    )
    days = result.events["day"].to_numpy()
    assert set(result.events["event"]) == {"top_up_visit"}
    np.testing.assert_allclose(days, 2.0 + 30.0 * np.round((days - 2.0) / 30.0), atol=1e-9)


def test_a_conditional_terminal_visit_ends_the_course_only_where_it_holds():
    from marrowsim.engine import STATUS_ENDED_BY_EVENT

    class _EndsWhenLow(_WeeklyTopUp):
        name = "ends_when_low"

        def visit_actions(self, c):
            return {"top_up_visit": EventAction(terminal=True, when=c.s.x < THRESHOLD)}

    t_out = np.linspace(0, 20, 41)
    run = _run(_EndsWhenLow(), t_out)
    # day 3.5: x = 0.70, nothing; day 10.5: x = 0.35, the course ends
    assert run.status[0] == STATUS_ENDED_BY_EVENT
    np.testing.assert_allclose(_days(run), [10.5], rtol=0, atol=1e-9)
    assert np.isnan(run.states[0, t_out > 10.5]).all()
    assert np.isfinite(run.states[0, t_out <= 10.5]).all()
