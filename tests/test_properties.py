"""Property tests: physically sane results for any parameters inside bounds."""

from __future__ import annotations

import numpy as np
from hypothesis import given, reject, settings
from hypothesis import strategies as st

import marrowsim
from marrowsim.engine import STATUS_ENDED_BY_EVENT, integrate
from marrowsim.parameters import load_table
from marrowsim.simulation import default_model

TABLE = load_table()


@st.composite
def parameter_draws(draw):
    values = {}
    for p in TABLE.parameters:
        low, high = p.bounds
        if p.name == "immune_trigger_day":
            high = 300.0
        values[p.name] = draw(st.floats(low, high, allow_nan=False, allow_infinity=False))
    return values


@settings(max_examples=500, deadline=None, derandomize=True)
@given(parameter_draws())
def test_any_parameters_inside_bounds_give_finite_non_negative_counts(values):
    model = default_model()
    arrays = {k: np.array([v]) for k, v in values.items()}
    try:
        model.check(arrays)  # combinations simulate() refuses (no healthy pool, ...)
    except marrowsim.InputError:
        reject()
    params = model.parameter_matrix(arrays)
    y0 = model.steady_state(params)
    run = integrate(
        model, y0, params, model.schedule(arrays), np.arange(0.0, 731.0, 5.0), save_states=True
    )
    # to the end, or to a death (a terminal event: nothing after it)
    assert run.status[0] in (0, STATUS_ENDED_BY_EVENT)
    lived = np.isfinite(run.readouts[0, :, 0])
    assert lived[0] and (run.status[0] == STATUS_ENDED_BY_EVENT or lived.all())
    assert np.all(lived[: np.argmin(lived)] if not lived.all() else lived)  # no gap
    readouts, states = run.readouts[0][lived], run.states[0][lived]
    assert np.all(np.isfinite(readouts)) and np.all(np.isfinite(states))
    scale = model.state_scale(y0)
    # cells, hormones and cytokines never go negative (beyond round-off of the tolerance)
    amounts = model.nonnegative
    assert np.all(states[:, amounts] >= -1e-6 * scale[0, amounts])
    assert np.all(readouts >= -1e-6)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6))
def test_patient_keyed_by_index_in_any_cohort_size(seed, size):
    big = marrowsim.simulate("immune-aa", patients=size + 3, seed=seed, days=120, every=10)
    small = marrowsim.simulate("immune-aa", patients=size, seed=seed, days=120, every=10)
    np.testing.assert_array_equal(small.readouts, big.readouts[:size])
