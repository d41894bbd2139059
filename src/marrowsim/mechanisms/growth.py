"""Growth of the marrow through childhood, for a course simulated from birth.

The marrow's stem-cell niche (its HSC carrying capacity) grows with the
child: HSC numbers rise through childhood and plateau in adolescence (Catlin
et al., Blood 2011;117:4460). The niche is ``marrow_growth_start_fraction``
of its adult size on day 0 and approaches the adult size with time constant
``marrow_growth_time_constant_days``:

    growth(t) = 1 - (1 - start) * exp(-t / tau)

held piecewise constant over half-year steps (input
``marrow_growth_log_deficit`` = -ln(growth), set by the schedule; 0 from the
last step on, and 0 by default like every input; finite for any input value),
so
the model stays autonomous between steps and needs no state. The default
start of 1 is an adult: every step then leaves the input at 0 and the course
has no extra segment, so the default models are unchanged.

Published: ``marrow_growth_fraction`` (fraction of the adult niche), which the
stem-cell niche is multiplied by; ``hsc_start_fraction`` (derived) is the HSC
pool on day 0 as a fraction of the adult pool (the start fraction, times a
genotype's smaller pool at birth; see :mod:`marrowsim.mechanisms.dna_damage`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from marrowsim.libm import libm_exp, libm_log1p
from marrowsim.mechanisms.base import (
    DAYS_PER_YEAR,
    Context,
    Input,
    InputChange,
    Mechanism,
    Namespace,
    exp,
)

# half-year steps for 30 years: the last step leaves less than 0.3% of the
# start's shortfall at the default time constant, and sets the adult size
GROWTH_STEP_DAYS = DAYS_PER_YEAR / 2
GROWTH_STEPS = 60


def growth_log_deficit(day: Any, start: Any, tau: Any) -> Any:
    """-ln(niche size on ``day`` as a fraction of the adult size) (numbers,
    numpy arrays or sympy expressions); exactly 0 for an adult (start 1)."""
    if isinstance(start, int | float | np.ndarray):
        shortfall = (1 - np.asarray(start, dtype=float)) * libm_exp(
            -np.asarray(day, dtype=float) / np.asarray(tau, dtype=float)
        )
        return -libm_log1p(-shortfall)
    import sympy

    return -sympy.log(1 - (1 - start) * sympy.exp(-day / tau))


class MarrowGrowth(Mechanism):
    name = "growth"
    inputs = (
        Input(
            "marrow_growth_log_deficit",
            "dimensionless",
            "-ln(niche size as a fraction of the adult niche): a child's marrow; 0 in an adult",
        ),
    )
    parameters = ("marrow_growth_start_fraction", "marrow_growth_time_constant_days")
    publishes = ("marrow_growth_fraction",)

    def signals(self, c: Context) -> dict:
        return {"marrow_growth_fraction": exp(-c.u.marrow_growth_log_deficit)}

    def rates(self, c: Context) -> dict:
        return {}

    def steady_state(self, p: Namespace) -> dict:
        return {}

    def schedule(self, p: Any) -> list[InputChange]:
        start, tau = p["marrow_growth_start_fraction"], p["marrow_growth_time_constant_days"]
        changes = [
            InputChange("marrow_growth_log_deficit", 0.0, growth_log_deficit(0.0, start, tau))
        ]
        for k in range(1, GROWTH_STEPS):
            day = k * GROWTH_STEP_DAYS
            # the step's value is the growth at its midpoint
            value = growth_log_deficit(day + GROWTH_STEP_DAYS / 2, start, tau)
            changes.append(InputChange("marrow_growth_log_deficit", day, value))
        changes.append(
            InputChange("marrow_growth_log_deficit", GROWTH_STEPS * GROWTH_STEP_DAYS, 0.0)
        )
        return changes
