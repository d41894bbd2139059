"""Survival of a cohort: Kaplan-Meier estimates with 95% intervals.

The estimator is ``lifelines``' (its exponential Greenwood interval, the
log(-log) transform), censored at the end of the run. A single patient, or a
cohort in which nobody died, has a survival curve that is a known step (1
until a death, 0 after; an interval of zero width), which is what lifelines
returns for it too, and it is given without importing lifelines (about 0.8 s
of a one-patient run).
"""

from __future__ import annotations

import numpy as np

# the summary's landmarks: name -> day
LANDMARKS = {"1_year": 365.0, "2_years": 730.0, "3_years": 1095.0, "5_years": 1826.0}


def kaplan_meier(
    death_day: np.ndarray, end_day: float, at: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Survival estimate and its 95% interval (low, high) at the days ``at``,
    from each patient's ``death_day`` (NaN: alive at ``end_day``, censored)."""
    death_day = np.asarray(death_day, dtype=float)
    at = np.asarray(at, dtype=float)
    died = np.isfinite(death_day)
    if len(death_day) == 1 or not died.any():
        alive = np.all(~(death_day[:, None] <= at[None, :]), axis=0).astype(float)
        return alive, alive.copy(), alive.copy()
    return kaplan_meier_at(np.where(died, death_day, end_day), died, at)


def kaplan_meier_at(
    durations: np.ndarray, observed: np.ndarray, at: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Survival estimate and its 95% interval (low, high) at the days ``at``
    from each patient's time (``durations``) and whether it ended in the event
    (``observed``; else censored then)."""
    from lifelines import KaplanMeierFitter

    fitter = KaplanMeierFitter().fit(durations, observed)
    estimate = fitter.survival_function_at_times(at).to_numpy(dtype=float)
    band = fitter.confidence_interval_survival_function_
    times = band.index.to_numpy(dtype=float)
    # the interval is a step function like the estimate: its value at the last
    # time at or before each day
    k = np.searchsorted(times, at, side="right") - 1
    low = band.iloc[:, 0].to_numpy(dtype=float)[k]
    high = band.iloc[:, 1].to_numpy(dtype=float)[k]
    return estimate, low, high
