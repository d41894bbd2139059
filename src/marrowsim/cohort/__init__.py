"""Virtual patients: parameter values for a typical patient or a drawn cohort."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from marrowsim.errors import InputError
from marrowsim.parameters import load_table


def typical_patient(values: Mapping[str, float]) -> dict[str, np.ndarray]:
    """One patient with every parameter at its (scenario) typical value."""
    return {name: np.array([float(v)]) for name, v in values.items()}


def draw_cohort(values: Mapping[str, float], n_patients: int, seed: int) -> dict[str, np.ndarray]:
    """``n_patients`` virtual patients around the typical ``values``.

    Patient ``i`` draws from ``SeedSequence(seed).spawn(n)[i]``, so it is the
    same patient in a cohort of any size.
    """
    if n_patients < 1:
        raise InputError(f"patients: {n_patients!r} must be a whole number >= 1")
    if seed < 0:
        raise InputError(f"seed: {seed!r} must be a whole number >= 0")
    table = load_table().with_values(values)
    return table.draw(n_patients, seed)


def varying_parameters(values: Mapping[str, float]) -> tuple[str, ...]:
    """Names of parameters that differ between drawn patients."""
    table = load_table().with_values(values)
    return tuple(p.name for p in table.varying() if p.value != 0)
