"""Shared fixtures. Simulations of the default model are cached per session."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

import marrowsim

SHARED = Path(__file__).resolve().parents[2] / "shared"


@functools.cache
def run(scenario: str, days: float | None = None, **settings: object) -> marrowsim.Result:
    """A cached simulation (results are immutable)."""
    return marrowsim.simulate(scenario, days=days, **settings)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def targets() -> dict:
    import yaml

    path = SHARED / "targets" / "targets.yaml"
    if not path.exists():
        pytest.skip("../shared/targets/targets.yaml is not beside the project")
    return yaml.safe_load(path.read_text())


def target(targets: dict, area: str, ident: str) -> dict:
    """The entry ``ident`` of ``area`` in ../shared/targets/targets.yaml."""
    return next(t for t in targets[area] if t["id"] == ident)


@pytest.fixture(scope="session")
def simulated():
    """``simulated(scenario, days=None, **settings)``: cached simulations."""
    return run


# the marrow's course with nobody dying of it: for tests of the marrow's
# kinetics and of the disease's course, not of survival
WITHOUT_DEATH = {"infection.death_rate": 0.0, "bleeding.death_rate": 0.0, "anaemia.death_rate": 0.0}


def last_alive(result: marrowsim.Result, name: str):
    """Each patient's ``name`` readout on its last output day alive."""
    import numpy as np

    values = result.readout(name)
    last = result.alive.shape[1] - 1 - np.argmax(result.alive[:, ::-1], axis=1)
    return values[np.arange(len(values)), last]


def cli_process(
    *args: str, env: dict[str, str] | None = None, **kw: object
) -> subprocess.CompletedProcess[str]:
    """``marrowsim ARGS`` in a fresh process (its status, stdout, stderr)."""
    return subprocess.run(
        [sys.executable, "-m", "marrowsim.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
        **kw,  # type: ignore[call-overload]
    )
