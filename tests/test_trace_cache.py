"""The trace cache: a warm run of the default model needs no sympy, and gives
bitwise the same numbers as a freshly traced model."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

import marrowsim
from marrowsim._cache import cache_dir
from marrowsim.mechanisms import default_mechanisms
from marrowsim.mechanisms.base import Mechanism
from marrowsim.model import Model, _trace_path, load_trace, store_trace, trace_key
from marrowsim.parameters import load_table

WARM_RUN = """
import sys
import numpy as np
import marrowsim
result = marrowsim.simulate("immune-aa", patients=3, days=120)
print("sympy" in sys.modules)
np.save(sys.argv[1], result.readouts)
"""


def test_a_warm_run_does_not_trace_and_matches_a_traced_model(tmp_path):
    out = tmp_path / "readouts.npy"
    env = dict(os.environ, MARROWSIM_CACHE_DIR=str(cache_dir()))
    runs = [
        subprocess.run(
            [sys.executable, "-c", WARM_RUN, str(out)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        for _ in range(2)
    ]
    assert runs[1] == ["False"]  # the second run at the latest loads the trace
    traced = marrowsim.simulate("immune-aa", patients=3, days=120, model=Model())
    assert np.array_equal(np.load(out), traced.readouts, equal_nan=True)


def test_a_model_from_the_cache_traces_on_first_use():
    mechanisms = default_mechanisms()
    key = trace_key(mechanisms)
    assert key is not None
    traced = Model(mechanisms)
    traced._trace_key = key
    from marrowsim.engine.codegen import structure_key

    store_trace(traced, structure_key(traced), cache_dir())
    assert _trace_path(cache_dir(), key).exists()
    model = load_trace(mechanisms, key, cache_dir())
    assert model is not None
    assert model.__dict__["_untraced"]
    values = {k: np.array([v]) for k, v in load_table().values().items()}
    params = model.parameter_matrix(values)
    assert np.array_equal(params, traced.parameter_matrix(values))
    assert np.array_equal(model.steady_state(params), traced.steady_state(params))
    assert model.all_parameter_names == traced.all_parameter_names
    assert model.event_names == traced.event_names
    assert "rate_exprs" not in model.__dict__
    assert model.rate_exprs == traced.rate_exprs  # traced now
    assert not model.__dict__["_untraced"]
    assert model.equations_markdown() == traced.equations_markdown()


def test_a_damaged_or_stale_cache_is_a_miss(tmp_path):
    mechanisms = default_mechanisms()
    key = trace_key(mechanisms)
    assert key is not None
    assert load_trace(mechanisms, key, tmp_path) is None  # nothing there
    _trace_path(tmp_path, key).write_text("{not json")
    assert load_trace(mechanisms, key, tmp_path) is None
    _trace_path(tmp_path, key).write_text('{"version": "1", "state_names": ["x"]}')
    assert load_trace(mechanisms, key, tmp_path) is None


def test_the_key_follows_the_mechanisms():
    mechanisms = default_mechanisms()
    assert trace_key(mechanisms) == trace_key(default_mechanisms())
    assert trace_key(mechanisms[:-1]) != trace_key(mechanisms)

    class Outside(Mechanism):
        name = "outside"

    assert trace_key((*mechanisms, Outside())) is None  # its source is not hashed


CLI_RUN = """
import sys
from marrowsim.cli import main
main(["run", "healthy", "--days", "20", "--out", sys.argv[1]])
heavy = ("sympy", "matplotlib.pyplot", "marrowsim.io.sbml")
print("heavy:", *[name for name in heavy if name in sys.modules])
"""


def test_a_warm_cli_run_imports_only_what_it_needs(tmp_path):
    env = dict(os.environ, MARROWSIM_CACHE_DIR=str(cache_dir()))
    for _ in range(2):  # the first may trace (and store the trace)
        done = subprocess.run(
            [sys.executable, "-c", CLI_RUN, str(tmp_path / "out")],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    assert done.stdout.strip().splitlines()[-1] == "heavy:"
