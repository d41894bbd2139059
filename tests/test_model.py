"""The traced model: layout, steady state, Jacobian, readouts."""

from __future__ import annotations

import numpy as np
import pytest

from marrowsim.engine.codegen import _symbolic_lu, compiled_module, sparsity
from marrowsim.mechanisms.base import Mechanism, State
from marrowsim.model import Model
from marrowsim.parameters import load_table


@pytest.fixture(scope="module")
def model():
    return Model()


def test_layout_maps_names_to_slices(model):
    assert model.layout["rbc"] == slice(
        model.state_names.index("rbc_1"), model.state_names.index("rbc_16") + 1
    )
    assert model.state_names[model.layout["hsc_cells"]][0] == "hsc_cells"
    covered = sorted(i for s in model.layout.values() for i in range(s.start, s.stop))
    assert covered == list(range(len(model.state_names)))


def test_healthy_steady_state_is_an_equilibrium(model):
    module = compiled_module(model)
    values = load_table().draw(20, seed=3)
    params = model.parameter_matrix(values)
    y0 = model.steady_state(params)
    dy = np.empty(y0.shape[1])
    # a visit clock runs at rate 1 by design, and the telomere budget is spent
    # one division at a time; every other state is at rest
    clocks = {f"{visit}_clock" for visit, *_ in model.visit_parameters}
    budget = model.state_names.index("hsc_telomere_budget")
    resting = np.array([name not in clocks for name in model.state_names])
    resting[budget] = False
    clock = np.array([name in clocks for name in model.state_names])
    for i in range(len(y0)):
        module.rhs(y0[i], module.extend(params[i]), np.zeros(len(model.input_names)), dy)
        assert np.max((np.abs(dy) / model.state_scale(y0[i]))[resting]) < 1e-12
        assert np.all(dy[clock] == 1)
        assert dy[budget] == pytest.approx(-values["hsc_division_rate"][i], rel=1e-12)


def test_analytic_jacobian_matches_finite_differences(model):
    module = compiled_module(model)
    values = {k: v * 1.0 for k, v in load_table().values().items()}
    values["immune_strength"] = 1.0
    params = model.parameter_matrix(values)[0]
    extended = module.extend(params)
    rng = np.random.default_rng(0)
    y = model.steady_state(params[None])[0] * (0.5 + rng.random(len(model.state_names)))
    y[model.state_names.index("t_effector")] = 0.01
    y[model.state_names.index("fas_sensitisation")] = 0.3
    u = np.ones(len(model.input_names))
    n = len(y)
    numeric = np.zeros((n, n))
    # central differences on each state's own scale (a state at 0, such as a
    # drug never given, is stepped by a millionth of its typical magnitude:
    # a step fixed at 1e-10 lost the derivative to the round-off of f)
    scale = model.state_scale(y[None])[0]
    for j in range(n):
        step = 1e-6 * max(abs(y[j]), scale[j])
        up, down = y.copy(), y.copy()
        up[j] += step
        down[j] -= step
        f_up, f_down = np.empty(n), np.empty(n)
        module.rhs(up, extended, u, f_up)
        module.rhs(down, extended, u, f_down)
        numeric[:, j] = (f_up - f_down) / (2 * step)
    jv = np.empty(module.N_JAC)
    module.jac(y, extended, u, jv)
    analytic = np.zeros((n, n))
    analytic[module.JAC_ROWS, module.JAC_COLS] = jv
    np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-6 * np.abs(numeric).max())
    # the structural pattern holds every numerically nonzero entry
    assert np.all((np.abs(numeric) > 1e-9 * np.abs(numeric).max()) <= (analytic != 0))


def test_sparse_lu_solves_like_dense(model):
    module = compiled_module(model)
    params = model.parameter_matrix(load_table().values())[0]
    y = model.steady_state(params[None])[0]
    jv = np.empty(module.N_JAC)
    module.jac(y, module.extend(params), np.ones(len(model.input_names)), jv)
    jacobian = np.zeros((len(y), len(y)))
    jacobian[module.JAC_ROWS, module.JAC_COLS] = jv
    rng = np.random.default_rng(1)
    for shift in (1e-3, 0.1, 10.0, 1e4):
        lu = np.empty(module.N_LU)
        assert module.factor(jv, shift, lu)
        b = rng.standard_normal(len(y))
        x = b.copy()
        module.solve(lu, x)
        # as accurate as LAPACK's dense solve with partial pivoting, within
        # the round-off the system's conditioning allows
        m = shift * np.eye(len(y)) - jacobian
        dense = np.linalg.solve(m, b)
        np.testing.assert_allclose(x, dense, rtol=1e-6, atol=1e-12 * np.abs(dense).max())


def test_fill_reducing_order_beats_or_equals_natural_order():
    # an arrow pattern: eliminating the hub first fills everything
    n = 8
    entries = {(0, j) for j in range(n)} | {(j, 0) for j in range(n)}
    pattern = sparsity(n, entries)
    assert len(_symbolic_lu(n, entries, list(range(n)))) == n * n  # natural order fills in
    assert pattern.fill == 0


class _Rotation(Mechanism):
    """x' = -y, y' = x: the shifted matrix has a zero pivot at shift = 0."""

    name = "rotation"
    states = (State("x", "1", "x"), State("y", "1", "y"))
    parameters = ("hsc_division_rate",)

    def rates(self, c):
        return {"x": -c.s.y, "y": c.s.x}

    def steady_state(self, p):
        return {"x": 1, "y": 0}


def test_tiny_pivot_is_refused_and_dense_fallback_solves():
    module = compiled_module(Model([_Rotation()]))
    jv = np.empty(module.N_JAC)
    module.jac(np.array([1.0, 0.0]), module.extend(np.array([0.1])), np.zeros(1), jv)
    lu = np.empty(module.N_LU)
    assert not module.factor(jv, 0.0, lu)  # M = -J has a zero first pivot
    m = np.array([[0.0, 1.0], [-1.0, 0.0]])
    piv = np.zeros(2, dtype=np.int64)
    dense = m.copy()
    assert module.dense_factor(dense, piv)
    b = np.array([3.0, -2.0])
    x = b.copy()
    module.dense_solve(dense, piv, x)
    np.testing.assert_allclose(m @ x, b)


def test_healthy_readouts_lie_in_the_normal_ranges(model, targets):
    params = model.parameter_matrix(load_table().values())
    module = compiled_module(model)
    r = np.empty(len(model.readout_names))
    module.readouts(model.steady_state(params)[0], module.extend(params[0]), r)
    readout = dict(zip(model.readout_names, r, strict=True))
    healthy = {t["id"]: t["value"] for t in targets["healthy"]}
    hb = healthy["normal-hb"]
    assert hb["men"][0] <= readout["hb"] <= hb["men"][1]
    assert hb["women"][0] <= readout["hb"] <= hb["women"][1]
    for name, target in (
        ("anc", "normal-anc"),
        ("platelets", "normal-platelets"),
        ("retic", "normal-retic"),
        ("lymphocytes", "normal-lymphocytes"),
        ("cellularity", "normal-cellularity"),
    ):
        low, high = healthy[target]
        assert low <= readout[name] <= high, name
    assert readout["hsc"] == pytest.approx(1.0)


def test_equations_doc_is_generated_from_the_model(model):
    from pathlib import Path

    doc = Path(__file__).resolve().parents[1] / "docs" / "equations.md"
    assert doc.read_text() == model.equations_markdown(), (
        "regenerate: marrowsim equations > docs/equations.md"
    )
    assert "drbc_16/dt" in doc.read_text()


def test_printed_equations_expand_to_the_compiled_ones(model):
    import sympy

    signals = {sympy.Symbol(k): v for k, v in model.display_signals.items()}

    def expand(expr):
        for _ in range(len(signals) + 1):  # signals may use other signals
            expr = expr.xreplace(signals)
        return expr

    for name in model.state_names:
        assert sympy.simplify(expand(model.display_rates[name]) - model.rate_exprs[name]) == 0, name
    for name in model.readout_names:
        assert (
            sympy.simplify(expand(model.display_readouts[name]) - model.readout_exprs[name]) == 0
        ), name
