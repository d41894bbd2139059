"""Shared fixtures. Simulations of the default model are cached per session."""

from __future__ import annotations

import functools
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


@pytest.fixture(scope="session")
def simulated():
    """``simulated(scenario, days=None, **settings)``: cached simulations."""
    return run
