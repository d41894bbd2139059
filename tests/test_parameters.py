"""The parameter table: validation at load, overrides, population draws."""

from __future__ import annotations

import numpy as np
import pytest

from marrowsim.errors import InputError
from marrowsim.model import Model
from marrowsim.parameters import load_table, parse_table

ENTRY = {"value": 1.0, "unit": "1/day", "bounds": [0, 2], "source": "assumed", "meaning": "a rate"}


def test_every_parameter_has_unit_source_and_bounds():
    table = load_table()
    for p in table.parameters:
        assert p.unit and p.source and p.meaning
        assert p.bounds[0] <= p.value <= p.bounds[1], p.name


def test_table_matches_the_model_exactly():
    table = load_table()
    table.require(Model().parameter_names)  # raises on missing or unused
    with pytest.raises(InputError, match="lacks brand_new"):
        table.require([*table.names, "brand_new"])
    with pytest.raises(InputError, match="no mechanism uses"):
        table.require(table.names[1:])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"value": 5.0}, "outside bounds"),
        ({"source": ""}, "source"),
        ({"unit": ""}, "unit"),
        ({"colour": "red"}, "colour"),
        ({"bounds": [3, 1]}, "reversed"),
    ],
)
def test_bad_table_entries_are_errors(change, message):
    entry = {**ENTRY, **change}
    with pytest.raises(InputError, match=message):
        parse_table({"some_rate": entry})


def test_overrides_are_checked_against_bounds():
    table = load_table()
    with pytest.raises(
        InputError, match=r"hsc_pool_size: .* outside the allowed range \[10000, 200000\]"
    ):
        table.with_values({"hsc_pool_size": 5.0})
    with pytest.raises(InputError, match=r"unknown parameter 'hsc_pool'.*hsc_pool_size"):
        table.with_values({"hsc_pool": 5.0})
    assert table.with_values({"hsc_pool_size": 20000})["hsc_pool_size"].value == 20000


def test_draws_key_patients_by_index():
    table = load_table()
    small = table.draw(3, seed=7)
    large = table.draw(50, seed=7)
    other = table.draw(3, seed=8)
    for p in table.varying():
        np.testing.assert_array_equal(small[p.name], large[p.name][:3])
        if p.value != 0:  # a log-normal around 0 stays 0
            assert not np.array_equal(small[p.name], other[p.name])
        low, high = p.bounds
        assert np.all((large[p.name] >= low) & (large[p.name] <= high))
    for p in table.parameters:
        if p.variability is None:
            assert np.all(large[p.name] == p.value)


def test_draws_have_the_stated_spread():
    table = load_table()
    draws = table.draw(4000, seed=1)
    p = table["platelet_set_point"]
    values = draws[p.name]
    assert abs(np.median(values) / p.value - 1) < 0.03
    assert abs(np.std(np.log(values)) - np.sqrt(np.log1p(p.variability.cv**2))) < 0.02


def test_a_mechanism_needing_an_unknown_parameter_is_refused():
    from marrowsim.mechanisms.base import Mechanism, State

    class Needy(Mechanism):
        name = "needy"
        states = (State("x", "1", "x"),)
        parameters = ("no_such_rate",)

        def rates(self, c):
            return {"x": -c.p.no_such_rate * c.s.x}

        def steady_state(self, p):
            return {"x": 0}

    with pytest.raises(InputError, match="lacks no_such_rate"):
        Model([Needy()])


def test_each_outcome_drawn_alone_equals_its_draw_with_everything_else():
    # histogram parameters (age) come from the patient's own generator, not its
    # outcome stream, so they must not shift the outcomes after them
    table = load_table()
    drawn = table.draw(20, 3, 7)
    outcomes = table.outcomes()
    assert "transplant_graft_failure_threshold" in [p.name for p in outcomes]
    assert "patient_age_years" not in [p.name for p in outcomes]
    for p in outcomes:
        np.testing.assert_array_equal(table.draw_outcome(p.name, 20, 3, first=7), drawn[p.name])
