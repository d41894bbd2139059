"""A population selected to match published counts before treatment
(cohort/baseline.py): acceptance-rejection of plausible patients, per patient
and so the same people at any size, chunking or screen."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import marrowsim
from marrowsim.cohort import baseline
from marrowsim.errors import InputError
from marrowsim.simulation import simulate

NIH = "nih-horse-atg-1989-2005"
SELECT = {"baseline_counts": NIH}
SCENARIO = "immune-aa-ist"


@pytest.fixture(scope="module")
def selected():
    return simulate(SCENARIO, patients=240, seed=4, days=1, set=SELECT)


@pytest.fixture(scope="module")
def plausible():
    return simulate(SCENARIO, patients=240, seed=4, days=1)


def _cells(result) -> np.ndarray:
    dist = baseline.distribution(NIH)
    counts = {name: result.readout(name)[:, 0] for name in dist.readouts}
    return np.bincount(dist.cell_of(counts), minlength=len(dist.cells)) / result.n_patients


def test_selected_counts_match_the_published_table_and_the_plausible_do_not(selected, plausible):
    target = baseline.distribution(NIH).target
    chosen, drawn = _cells(selected), _cells(plausible)
    # 240 patients: a cell's sampling error is about 3 points
    assert np.all(np.abs(chosen - target) < 0.09), (chosen, target)
    assert np.max(np.abs(drawn - target)) > 0.25  # the model's own spread is far off
    summary = selected.summary["baseline_selection"]
    assert summary["distribution"] == NIH
    assert summary["reference_patients"] == baseline.REFERENCE_PATIENTS
    cells = summary["cells"]
    assert [c["selected"] for c in cells.values()] == pytest.approx(chosen, abs=1e-6)
    assert max(c["acceptance"] for c in cells.values()) == 1.0
    assert 0 < summary["kept_fraction"] < 1
    assert "baseline_selection" not in plausible.summary


def test_selection_keeps_the_same_patients_at_any_size_and_chunking(selected):
    small = simulate(SCENARIO, patients=60, seed=4, days=1, set=SELECT, chunk_size=17)
    assert np.array_equal(small.draw, selected.draw[:60])
    np.testing.assert_array_equal(small.readouts[:, 0], selected.readouts[:60, 0])


def test_a_screen_keeps_exactly_the_selected_draws(selected):
    last = int(selected.draw[39])
    screened = simulate(
        SCENARIO, draws=np.arange(last + 1), screen=True, seed=4, days=1, set=SELECT
    )
    assert np.array_equal(screened.draw, selected.draw[:40])
    # a draw that was not kept cannot be simulated as an enrolled patient
    rejected = sorted(set(range(last + 1)) - set(selected.draw.tolist()))
    with pytest.raises(InputError, match="not selected by baseline_counts"):
        simulate(SCENARIO, draws=rejected[:3], seed=4, days=1, set=SELECT)


def test_another_seed_selects_other_people_to_the_same_table(selected):
    other = simulate(SCENARIO, patients=120, seed=5, days=1, set=SELECT)
    assert not np.array_equal(other.draw[:40], selected.draw[:40])
    target = baseline.distribution(NIH).target
    assert np.all(np.abs(_cells(other) - target) < 0.12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=10, max_value=5000), min_size=2, max_size=5),
    st.lists(st.integers(min_value=1, max_value=500), min_size=2, max_size=5),
)
def test_acceptance_turns_the_plausible_mixture_into_the_published_one(reference, published):
    k = min(len(reference), len(published))
    cells = tuple(
        baseline.Cell(f"c{i}", (("retic", float(i), float(i + 1)),), published[i]) for i in range(k)
    )
    dist = baseline.Distribution("d", "synthetic", "synthetic", cells)
    counts = {"retic": np.repeat(np.arange(k) + 0.5, reference[:k])}
    chosen = baseline.Selection.from_reference(dist, counts, "s")
    assert np.all((chosen.acceptance > 0) & (chosen.acceptance <= 1))
    assert chosen.acceptance.max() == 1.0
    plausible = np.asarray(reference[:k], dtype=float) / sum(reference[:k])
    kept = plausible * chosen.acceptance
    np.testing.assert_allclose(kept / kept.sum(), dist.target, rtol=1e-12)
    assert chosen.draws_per_patient == pytest.approx(1 / kept.sum())


def test_a_cell_the_plausible_population_barely_reaches_is_refused():
    cells = (
        baseline.Cell("low", (("retic", None, 25.0),), 70),
        baseline.Cell("high", (("retic", 25.0, None),), 30),
    )
    dist = baseline.Distribution("d", "synthetic", "synthetic", cells)
    counts = {"retic": np.r_[np.full(995, 5.0), np.full(5, 30.0)]}
    with pytest.raises(InputError, match=r"only 5 of 1000 plausible patients .* retic >= 25"):
        baseline.Selection.from_reference(dist, counts, "s")


def test_cells_that_overlap_or_leave_a_gap_are_an_error_of_the_table():
    gap = baseline.Distribution(
        "d",
        "synthetic",
        "synthetic",
        (
            baseline.Cell("low", (("retic", None, 20.0),), 1),
            baseline.Cell("high", (("retic", 25.0, None),), 1),
        ),
    )
    with pytest.raises(InputError, match="retic 22 lies in 0 of its cells"):
        gap.cell_of({"retic": np.array([10.0, 22.0])})


def test_the_shipped_tables_partition_the_counts():
    for name in baseline.distribution_names():
        dist = baseline.distribution(name)
        grid = np.meshgrid(*[np.geomspace(1e-3, 1e3, 61) for _ in dist.readouts])
        counts = {r: g.ravel() for r, g in zip(dist.readouts, grid, strict=True)}
        assert len(dist.cell_of(counts)) == grid[0].size
        assert dist.source and all(c.patients > 0 for c in dist.cells)


@pytest.mark.parametrize(
    ("settings_", "message"),
    [
        ({"baseline_counts": "nih"}, "unknown baseline_counts distribution 'nih'"),
        ({"baseline_counts": 3}, "unknown baseline_counts distribution 3"),
    ],
)
def test_bad_names_are_refused_with_the_allowed_ones(settings_, message):
    with pytest.raises(InputError, match=message) as error:
        simulate(SCENARIO, patients=5, days=1, set=settings_)
    assert NIH in str(error.value)


def test_selection_needs_enrolment_at_diagnosis():
    with pytest.raises(InputError, match=r"baseline_counts: .* needs enrolment: diagnosis"):
        simulate("immune-aa", patients=5, days=1, set=SELECT)
    # the typical patient is not drawn, so not selected
    typical = simulate(SCENARIO, days=1, set=SELECT)
    assert typical.selection is None
    assert marrowsim.simulate(SCENARIO, days=1).readouts.tolist() == typical.readouts.tolist()


def test_a_run_in_chunks_selects_the_same_people_and_reports_it(tmp_path):
    from marrowsim.chunked import run_chunked

    whole = simulate(SCENARIO, patients=40, seed=4, days=20, set=SELECT)
    whole.write(tmp_path / "whole")
    view = run_chunked(SCENARIO, tmp_path / "chunks", patients=40, seed=4, days=20, set=SELECT,
                       chunk=15)  # fmt: skip
    assert view.summary["baseline_selection"] == whole.summary["baseline_selection"]
    assert (tmp_path / "chunks" / "timecourse.csv").read_bytes() == (
        tmp_path / "whole" / "timecourse.csv"
    ).read_bytes()


def test_a_trial_population_can_be_selected_and_stays_chunk_invariant(tmp_path):
    import yaml

    from marrowsim.trials import builtin_text, run_trial

    trial = yaml.safe_load(builtin_text("scheinberg-2011"))
    trial["population"]["set"] = dict(SELECT)
    trial["patients_per_arm"] = 12
    trial["follow_up_days"] = 100
    trial["endpoints"] = {"response_3m": {"type": "response", "at": "3_months"}}
    small = run_trial(trial, tmp_path / "small", chunk=5)
    whole = run_trial(trial, tmp_path / "whole", chunk=1000)
    assert small == whole
    for name in ("arms.csv", "patients.parquet"):
        assert (tmp_path / "small" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    # the screened patients are the population selected
    import pandas as pd

    enrolled = pd.read_parquet(tmp_path / "whole" / "patients.parquet")
    drawn = simulate(SCENARIO, patients=60, seed=trial["seed"], days=1, set=SELECT)
    assert set(enrolled["draw"]) <= set(drawn.draw.tolist())
