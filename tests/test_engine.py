"""The engine: order of accuracy, reference solutions, per-patient independence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import marrowsim
from marrowsim.engine import Solver, integrate
from marrowsim.engine.reference import integrate_reference
from marrowsim.mechanisms.base import Mechanism, State
from marrowsim.model import Model
from marrowsim.simulation import default_model


class _KnownSolution(Mechanism):
    """Logistic growth and a harmonic oscillator, solved in closed form:
    g = 1 / (1 + 9 exp(-r t)), x = cos t, y = sin t."""

    name = "known_solution"
    states = (
        State("g", "1", "logistic"),
        State("x", "1", "cosine", signed=True),  # not held >= 0 by the engine
        State("y", "1", "sine", signed=True),
    )
    parameters = ("hsc_division_rate",)

    def rates(self, c):
        r = c.p.hsc_division_rate * 280  # = 1 at the table value
        return {"g": r * c.s.g * (1 - c.s.g), "x": -c.s.y, "y": c.s.x}

    def steady_state(self, p):
        return {"g": 0.1, "x": 1.0, "y": 0.0}


def _exact(t):
    return np.stack([1 / (1 + 9 * np.exp(-t)), np.cos(t), np.sin(t)], axis=-1)


@pytest.fixture(scope="module")
def known():
    model = Model([_KnownSolution()])
    params = model.parameter_matrix({"hsc_division_rate": [1 / 280]})
    return model, params, model.steady_state(params)


def _fixed_steps(known, t_out, h):
    """States on ``t_out`` with steps of ``h``: tolerances so loose they never bind."""
    model, params, y0 = known
    solver = Solver(rtol=0.1, atol=0.1, max_step=h)
    return integrate(model, y0, params, [], t_out, solver=solver, save_states=True).states[0]


def _orders(errors):
    return np.log2(np.array(errors[:-1]) / np.array(errors[1:]))


def test_rodas4_converges_with_order_four(known):
    errors = [
        np.abs(_fixed_steps(known, np.array([0.0, 5.0]), h)[-1] - _exact(5.0)).max()
        for h in (0.4, 0.2, 0.1, 0.05)
    ]
    orders = _orders(errors)
    assert np.all((orders > 3.6) & (orders < 4.6)), orders


def test_dense_output_converges_with_order_three(known):
    t_out = np.linspace(0.0, 5.0, 53)  # most output days fall inside steps
    errors = [np.abs(_fixed_steps(known, t_out, h) - _exact(t_out)).max() for h in (0.4, 0.2, 0.1)]
    orders = _orders(errors)
    assert np.all(orders > 2.6), orders


def test_default_tolerance_matches_known_solution(known):
    model, params, y0 = known
    t_out = np.linspace(0, 20, 201)
    run = integrate(model, y0, params, [], t_out, save_states=True)
    # the global error of three periods of an oscillator: within 10x rtol
    assert np.abs(run.states[0] - _exact(t_out)).max() < 10 * Solver().rtol
    assert run.status[0] == 0


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["immune-aa", "immune-aa-mild", "healthy"])
def test_readouts_match_scipy_radau_reference(scenario):
    model = default_model()
    result = marrowsim.simulate(scenario, patients=3, seed=11, save_states=True)
    values = {k: v for k, v in result.parameters.items()}
    params = model.parameter_matrix(values)
    y0 = model.steady_state(params)
    reference, _ = integrate_reference(
        model, y0, params, model.schedule(values), result.days, rtol=1e-10, atol=1e-12
    )
    ours = result.readouts
    relative = np.abs(ours - reference) / np.maximum(np.abs(reference), 1e-6)
    # the reference has no events: compared while each patient is alive
    alive = result.alive
    assert alive[:, :30].all()
    assert relative[alive].max() < 1e-4, relative[alive].max()


def _cohort():
    return marrowsim.simulate("immune-aa", patients=24, seed=5, days=400)


def test_patient_alone_equals_patient_in_cohort():
    cohort = _cohort()
    model = default_model()
    values = cohort.parameters
    params = model.parameter_matrix(values)
    y0 = model.steady_state(params)
    t_out = cohort.days
    for i in (0, 7, 23):
        alone = integrate(model, y0[[i]], params[[i]], _changes(model, values, [i]), t_out)
        np.testing.assert_array_equal(alone.readouts[0], cohort.readouts[i])


def _changes(model, values, index):
    return [c.subset(index) for c in model.schedule(values)]


def test_order_chunks_and_threads_do_not_change_results():
    cohort = _cohort()
    model = default_model()
    values = cohort.parameters
    params = model.parameter_matrix(values)
    y0 = model.steady_state(params)
    order = np.random.default_rng(0).permutation(len(y0))
    shuffled = integrate(
        model, y0[order], params[order], _changes(model, values, order), cohort.days, workers=1
    )
    np.testing.assert_array_equal(shuffled.readouts, cohort.readouts[order])
    chunked = marrowsim.simulate(
        "immune-aa", patients=24, seed=5, days=400, chunk_size=5, workers=2
    )
    np.testing.assert_array_equal(chunked.readouts, cohort.readouts)
    bigger = marrowsim.simulate("immune-aa", patients=40, seed=5, days=400)
    np.testing.assert_array_equal(bigger.readouts[:24], cohort.readouts)


def test_solver_settings_are_validated():
    with pytest.raises(marrowsim.InputError, match="rtol"):
        Solver(rtol=0.0)
    with pytest.raises(marrowsim.InputError, match="max_step"):
        Solver(max_step=0.0)


def test_step_limit_reports_failure_not_garbage():
    result = marrowsim.simulate("immune-aa", days=200, solver=Solver(max_steps=5))
    assert result.status[0] != 0
    assert np.isnan(result.readouts[0, -1]).all()
    assert result.patients.loc[0, "status"] == "too many steps"


def test_segments_follow_input_changes_per_patient():
    from marrowsim.engine import segments
    from marrowsim.mechanisms import InputChange

    model = default_model()
    days = np.array([-5.0, 0.0, 30.5, 730.0, 900.0, 100.0])
    seg_t, seg_u, n_seg = segments(
        model, [InputChange("immune_attack_on", days, 1.0)], 6, 0.0, 730.0
    )
    # a change before the start holds from the start; one on the start opens
    # the course with a segment of no length holding the inputs before it (so
    # a trigger it carries over fires at once); at or after the end, never
    index = model.input_names.index("immune_attack_on")
    assert n_seg[0] == 1 and seg_u[0, 0, index] == 1.0
    assert n_seg[1] == 2 and list(seg_t[1, :3]) == [0.0, 0.0, 730.0]
    assert list(seg_u[1, :2, index]) == [0.0, 1.0]
    for i in (3, 4):
        assert n_seg[i] == 1 and seg_u[i, 0, index] == 0.0
    assert (
        n_seg[2] == 2
        and list(seg_t[2, :3]) == [0.0, 30.5, 730.0]
        and list(seg_u[2, :2, index]) == [0.0, 1.0]
    )
    assert list(seg_t[5, :3]) == [0.0, 100.0, 730.0]


def _segments_by_rule(days, values, target, defaults, t_start, t_end):
    """The segment rule written plainly, patient by patient (the compiled
    ``segments`` must agree with it exactly)."""
    out = []
    for i in range(days.shape[0]):
        u = defaults.copy()
        bounds, inputs = [t_start], []
        for day, k in sorted((float(days[i, k]), k) for k in range(days.shape[1])):
            if t_start <= day < t_end and (day > bounds[-1] or not inputs):
                inputs.append(u.copy())
                bounds.append(day)
            if day < t_end:
                u[target[k]] = values[i, k]
        inputs.append(u.copy())
        bounds.append(t_end)
        keep = [0] + [
            s for s in range(1, len(inputs)) if not np.array_equal(inputs[s], inputs[s - 1])
        ]
        out.append(([bounds[s] for s in keep] + [t_end], [inputs[s] for s in keep]))
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(0, 6),
    st.data(),
)
def test_segments_agree_with_the_plain_rule(n_patients, n_changes, data):
    from marrowsim.engine import _patient_segments

    day = st.sampled_from([-3.0, 0.0, 0.0, 5.0, 5.0, 12.5, 20.0, 40.0])
    days = np.array(
        [[data.draw(day) for _ in range(n_changes)] for _ in range(n_patients)]
    ).reshape(n_patients, n_changes)
    values = np.array(
        [[data.draw(st.sampled_from([0.0, 1.0, 2.0])) for _ in range(n_changes)]
         for _ in range(n_patients)]
    ).reshape(n_patients, n_changes)  # fmt: skip
    target = np.array([data.draw(st.integers(0, 2)) for _ in range(n_changes)], dtype=np.int64)
    defaults = np.array([0.0, 1.0, 0.0])
    seg_t, seg_u, n_seg = _patient_segments(days, values, target, defaults, 0.0, 20.0)
    for i, (bounds, inputs) in enumerate(
        _segments_by_rule(days, values, target, defaults, 0.0, 20.0)
    ):
        assert n_seg[i] == len(inputs)
        assert list(seg_t[i, : len(bounds)]) == bounds
        assert (seg_t[i, len(bounds) :] == 20.0).all()
        np.testing.assert_array_equal(seg_u[i, : len(inputs)], np.array(inputs))


def test_failed_patients_get_no_severity_and_leave_the_fractions():
    result = marrowsim.simulate("immune-aa", patients=3, solver=Solver(max_steps=40))
    assert (result.status != 0).all()
    assert result.patients["worst_severity"].isna().all()
    assert (
        result.patients["first_severe_day"].isna().all()
        and result.patients["hb_nadir"].isna().all()
    )
    assert result.summary["severity"]["severe_or_worse"] is None
    assert result.summary["solver"]["failed_patients"] == 3
    assert result.timecourse["severity"].isna().any()


def test_output_days_do_not_drift():
    result = marrowsim.simulate("healthy", days=0.9, every=0.3)
    assert result.days[-1] == 0.9 and len(result.days) == 4
    assert result.summary["days"] == 0.9


def test_run_settings_are_forgiving_only_where_the_user_set_nothing():
    short = marrowsim.simulate("healthy", days=0.5)  # scenario's every (1 day) shrinks to fit
    assert list(short.days) == [0.0, 0.5]
    with pytest.raises(marrowsim.InputError, match=r"every: 2\.0 must not exceed days"):
        marrowsim.simulate("healthy", days=1, every=2)
    with pytest.raises(marrowsim.InputError, match="seed"):
        marrowsim.simulate("healthy", patients=2, seed=1.5)
    with pytest.raises(marrowsim.InputError, match="expected a number"):
        marrowsim.simulate({"name": "x", "parameters": {"immune_strength": True}})


def test_summary_records_the_settings_and_flat_courses_have_their_nadir_on_day_0():
    result = marrowsim.simulate("healthy", days=30, set={"immune.trigger_day": 1000})
    assert result.summary["parameters"]["immune_trigger_day"] == 1000
    assert result.patients.loc[0, "hb_nadir_day"] == 0


def _bound_patterns(n_random: int = 6) -> list[dict[str, float]]:
    """Every parameter at its lower or upper bound: all low, all high, and
    random mixes (one of which drove Hb to -3e-10 g/dL before the engine held
    states >= 0)."""
    table = marrowsim.parameters.load_table()
    rng = np.random.default_rng(0)
    picks = [np.zeros(len(table.parameters), int), np.ones(len(table.parameters), int)]
    picks += [rng.integers(0, 2, len(table.parameters)) for _ in range(n_random)]
    patterns = [
        {p.name: p.bounds[b] for p, b in zip(table.parameters, pick, strict=True)} for pick in picks
    ]
    for values in patterns:
        # the cross-field rules simulate() enforces: the attack cannot end before
        # it starts, a healthy stem-cell pool must exist, less blood can be
        # lost than there is, and a second cyclosporine course follows the first
        values["immune_end_day"] = max(values["immune_end_day"], values["immune_trigger_day"])
        largest = values["hsc_division_rate"] * (2 * values["hsc_self_renewal_max"] - 1)
        if values["hsc_apoptosis_rate"] >= largest:
            values["hsc_apoptosis_rate"] = table["hsc_apoptosis_rate"].bounds[0]
        if values["blood_loss_volume_ml"] >= values["blood_volume_ml"]:
            values["blood_loss_volume_ml"] = table["blood_loss_volume_ml"].bounds[0]
        first_ends = sum(
            values[f"cyclosporine_{name}"] for name in ("start_day", "full_dose_days", "taper_days")
        )
        if values["cyclosporine_second_course_start_day"] < first_ends:
            values["cyclosporine_second_course_full_dose_days"] = 0.0
    return patterns


@pytest.mark.parametrize("scenario", ["immune-aa", "healthy"])
def test_no_readout_is_negative_with_every_parameter_at_a_bound(scenario):
    for values in _bound_patterns():
        run = marrowsim.simulate(scenario, set={f"parameters.{k}": v for k, v in values.items()},
                                 save_states=True)  # fmt: skip
        assert run.succeeded[0]  # to the end, or to a death
        assert np.nanmin(run.readouts) >= 0, dict(
            zip(run.readout_names, run.readouts[0].min(0), strict=True)
        )
        amounts = marrowsim.simulation.default_model().nonnegative
        assert np.nanmin(run.states[:, :, amounts]) >= 0
