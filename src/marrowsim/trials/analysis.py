"""A trial's analysis, as a trial statistician would do it, with the
statistics taken from the libraries (statsmodels, lifelines):

* per arm, each endpoint with its 95% interval: a proportion with Wilson's
  interval (``proportion_confint``); overall and event-free survival at a
  landmark by Kaplan-Meier with the Greenwood interval on the log(-log)
  scale (lifelines); cumulative first response with death as a competing
  risk by Aalen-Johansen (lifelines);
* between each arm and the reference arm: for a proportion, the difference
  with Newcomb's interval (``confint_proportions_2indep``), the odds ratio
  with its logit interval
  (``Table2x2``) and the pooled two-proportion z test
  (``proportions_ztest``); for a time to event, the difference at the
  landmark (normal approximation on the two Greenwood or Aalen-Johansen
  variances), the log-rank test and the Cox hazard ratio (lifelines), both
  over the follow-up up to the endpoint's day (censored there).

The input is one row per patient: ``arm``, ``death_day`` (NaN alive at the
end), ``response_3m|6m|12m`` (complete/partial/none; null where not
reached), ``first_response_day`` and ``relapse_day`` (days from enrolment,
which is the start of treatment; NaN where none).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from marrowsim.clinic.intervals import clopper_pearson, wilson
from marrowsim.clinic.response import RESPONSE_COLUMNS, RESPONSE_LANDMARKS
from marrowsim.clinic.survival import kaplan_meier_at
from marrowsim.trials.spec import Endpoint, Trial

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
ENDPOINT_COLUMNS = (
    "arm",
    "death_day",
    *RESPONSE_COLUMNS.values(),
    "first_response_day",
    "relapse_day",
)


@contextmanager
def _quiet() -> Iterator[None]:
    """The libraries warn on degenerate data (no events, a perfect split);
    the analysis reports those cases as missing values instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            yield


def _finite(x: float) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


# -- per-patient endpoint data ------------------------------------------------


def proportion_data(ep: Endpoint, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(counted, success) per patient for a proportion endpoint."""
    if ep.type == "response":
        assert ep.landmark is not None
        labels = frame[RESPONSE_COLUMNS[ep.landmark]].astype(object).to_numpy()
        counted = np.array([isinstance(v, str) for v in labels], dtype=bool)
        if ep.level == "complete":
            success = np.array([v == "complete" for v in labels], dtype=bool)
        else:
            success = np.array([v in ("complete", "partial") for v in labels], dtype=bool)
        return counted, success & counted
    # relapse: among patients who responded by the landmark
    first = frame["first_response_day"].to_numpy(dtype=float)
    relapse = frame["relapse_day"].to_numpy(dtype=float)
    counted = first <= ep.at_days
    return counted, counted & (relapse <= ep.at_days)


def time_to_event(ep: Endpoint, frame: pd.DataFrame, end: float) -> tuple[np.ndarray, np.ndarray]:
    """(time, event code) per patient: 0 censored at ``end``, 1 the event,
    2 a competing event (death before a first response)."""
    death = frame["death_day"].to_numpy(dtype=float)
    if ep.type == "overall_survival":
        died = np.isfinite(death)
        return np.where(died, death, end), died.astype(int)
    if ep.type == "time_to_response":
        first = frame["first_response_day"].to_numpy(dtype=float)
        responded = np.isfinite(first)
        died = ~responded & np.isfinite(death)
        time = np.where(responded, first, np.where(died, death, end))
        return time, np.where(responded, 1, np.where(died, 2, 0))
    times = np.full(len(frame), np.inf)
    for event in ep.events:
        if event == "death":
            times = np.fmin(times, np.where(np.isfinite(death), death, np.inf))
        elif event == "relapse":
            relapse = frame["relapse_day"].to_numpy(dtype=float)
            times = np.fmin(times, np.where(np.isfinite(relapse), relapse, np.inf))
        else:  # no_response_<3m|6m|12m>: an event at the landmark
            column = event.removeprefix("no_")
            landmark = {v: k for k, v in RESPONSE_COLUMNS.items()}[column]
            labels = frame[column].astype(object).to_numpy()
            none = np.array([v == "none" for v in labels], dtype=bool)
            times = np.fmin(times, np.where(none, RESPONSE_LANDMARKS[landmark], np.inf))
    if "death" not in ep.events:
        # a patient who dies before any listed event is censored at death,
        # not followed to the end
        died_first = np.isfinite(death) & ~(times <= death)
        times = np.where(died_first, np.inf, times)
        censored = np.where(died_first, death, end)
    else:
        censored = np.full(len(frame), end)
    happened = np.isfinite(times)
    return np.where(happened, times, censored), happened.astype(int)


# -- per-arm estimates -----------------------------------------------------------


def _km_at(time: np.ndarray, event: np.ndarray, at: float) -> dict[str, Any]:
    """Kaplan-Meier at ``at`` with its log(-log) Greenwood interval
    (clinic.survival) and the Greenwood standard error (for differences)."""
    if len(time) == 0:
        return {"estimate": None, "ci95": [None, None], "se": None}
    from statsmodels.duration.survfunc import SurvfuncRight

    with _quiet():
        estimate, low, high = kaplan_meier_at(time, event == 1, np.array([at]))
        greenwood = SurvfuncRight(time, (event == 1).astype(float))
        j = int(np.searchsorted(greenwood.surv_times, at, side="right") - 1)
        se = float(greenwood.surv_prob_se[j]) if j >= 0 else 0.0
    return {
        "estimate": float(estimate[0]),
        "ci95": [_finite(float(low[0])), _finite(float(high[0]))],
        "se": se,
    }


def _cumulative_incidence_at(time: np.ndarray, event: np.ndarray, at: float) -> dict[str, Any]:
    """Aalen-Johansen cumulative incidence of the event (code 1) at ``at``."""
    if len(time) == 0:
        return {"estimate": None, "ci95": [None, None], "se": None}
    if not (event == 1).any():
        # none responded: 0, with the exact one-sided 97.5% upper bound
        return {"estimate": 0.0, "ci95": [0.0, clopper_pearson(0, len(time))[1]], "se": None}
    from lifelines import AalenJohansenFitter

    with _quiet():
        fitter = AalenJohansenFitter(calculate_variance=True, seed=0)
        # lifelines breaks ties by jittering; daily output days tie often
        fitter.fit(time, event, event_of_interest=1)
        curve = fitter.cumulative_density_
        times = curve.index.to_numpy(dtype=float)
        k = int(np.searchsorted(times, at, side="right") - 1)
        if k < 0:
            return {"estimate": 0.0, "ci95": [0.0, 0.0], "se": 0.0}
        estimate = float(curve.iloc[k, 0])
        # the interval and variance are undefined once nobody is at risk: the
        # last defined ones before (lifelines' two band columns are the
        # bounds in either order)
        band = fitter.confidence_interval_.to_numpy(dtype=float)
        variance = fitter.variance_.to_numpy(dtype=float)
        defined = np.flatnonzero(
            np.isfinite(band[: k + 1]).all(axis=1) & np.isfinite(variance[: k + 1])
        )
        if len(defined):
            j = int(defined[-1])
            low, high = float(band[j].min()), float(band[j].max())
            se: float | None = float(np.sqrt(variance[j]))
        else:
            low = high = float("nan")
            se = None
    return {"estimate": estimate, "ci95": [_finite(low), _finite(high)], "se": se}


def arm_estimate(ep: Endpoint, frame: pd.DataFrame, end: float) -> dict[str, Any]:
    """One arm's estimate of one endpoint with its 95% interval."""
    if ep.type in ("response", "relapse"):
        counted, success = proportion_data(ep, frame)
        n, count = int(counted.sum()), int(success.sum())
        low, high = wilson(count, n) if n else (None, None)
        return {
            "n": n,
            "events": count,
            "estimate": count / n if n else None,
            "ci95": [low, high],
            "method": "proportion, Wilson interval",
        }
    time, event = time_to_event(ep, frame, end)
    if ep.type == "time_to_response":
        out = _cumulative_incidence_at(time, event, ep.at_days)
        method = "cumulative incidence (Aalen-Johansen, death competing)"
    else:
        out = _km_at(time, event, ep.at_days)
        method = "Kaplan-Meier, Greenwood log(-log) interval"
    return {"n": len(time), "events": int((event == 1).sum()), **out, "method": method}


# -- comparisons -----------------------------------------------------------------


def _compare_proportions(ep: Endpoint, arm: pd.DataFrame, ref: pd.DataFrame) -> dict[str, Any]:
    from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

    c1, s1 = proportion_data(ep, arm)
    c0, s0 = proportion_data(ep, ref)
    n1, k1, n0, k0 = int(c1.sum()), int(s1.sum()), int(c0.sum()), int(s0.sum())
    out: dict[str, Any] = {
        "difference": None,
        "difference_ci95": [None, None],
        "odds_ratio": None,
        "odds_ratio_ci95": [None, None],
        "p_value": None,
        "test": "two-proportion z test (pooled)",
    }
    if not (n1 and n0):
        return out
    with _quiet():
        out["difference"] = k1 / n1 - k0 / n0
        low, high = confint_proportions_2indep(k1, n1, k0, n0, method="newcomb", compare="diff")
        out["difference_ci95"] = [_finite(low), _finite(high)]
        if 0 < k1 + k0 < n1 + n0:
            _, p = proportions_ztest([k1, k0], [n1, n0])
            out["p_value"] = _finite(p)
        from statsmodels.stats.contingency_tables import Table2x2

        # 0.5 added to every cell where one is empty (Haldane)
        table = Table2x2(np.array([[k1, n1 - k1], [k0, n0 - k0]], dtype=float), shift_zeros=True)
        out["odds_ratio"] = _finite(table.oddsratio)
        low, high = table.oddsratio_confint()
        out["odds_ratio_ci95"] = [_finite(low), _finite(high)]
    return out


def _compare_times(
    ep: Endpoint,
    arm: pd.DataFrame,
    ref: pd.DataFrame,
    end: float,
    a1: Mapping[str, Any],
    a0: Mapping[str, Any],
) -> dict[str, Any]:
    """Log-rank and Cox between two arms whose own estimates (``arm_estimate``)
    are ``a1`` and ``a0``."""
    from lifelines import CoxPHFitter
    from lifelines.statistics import logrank_test

    t1, e1 = time_to_event(ep, arm, end)
    t0, e0 = time_to_event(ep, ref, end)
    out: dict[str, Any] = {
        "difference": None,
        "difference_ci95": [None, None],
        "hazard_ratio": None,
        "hazard_ratio_ci95": [None, None],
        "p_value": None,
        "test": "log-rank",
    }
    if a1["estimate"] is not None and a0["estimate"] is not None:
        difference = a1["estimate"] - a0["estimate"]
        out["difference"] = difference
        if a1["se"] is not None and a0["se"] is not None:
            half = Z95 * float(np.hypot(a1["se"], a0["se"]))
            out["difference_ci95"] = [difference - half, difference + half]
    # the event of interest up to the endpoint's day (later follow-up
    # censored there); a competing death is censored (cause-specific)
    at = ep.at_days
    d1, d0 = (e1 == 1) & (t1 <= at), (e0 == 1) & (t0 <= at)
    t1, t0 = np.minimum(t1, at), np.minimum(t0, at)
    if not (d1.any() or d0.any()):
        return out
    with _quiet():
        test = logrank_test(t1, t0, event_observed_A=d1, event_observed_B=d0)
        out["p_value"] = _finite(test.p_value)
        data = pd.DataFrame(
            {
                "time": np.concatenate([t1, t0]),
                "event": np.concatenate([d1, d0]).astype(int),
                "arm": np.concatenate([np.ones(len(t1)), np.zeros(len(t0))]),
            }
        )
        try:
            cox = CoxPHFitter().fit(data, "time", "event")
            hr = float(np.exp(cox.params_["arm"]))
            ci = cox.confidence_intervals_.loc["arm"].to_numpy(dtype=float)
            out["hazard_ratio"] = _finite(hr)
            out["hazard_ratio_ci95"] = [
                _finite(float(np.exp(ci[0]))),
                _finite(float(np.exp(ci[1]))),
            ]
        except Exception:  # lifelines' ConvergenceError on a perfect split: no ratio
            pass
    return out


def analyse(trial: Trial, frame: pd.DataFrame) -> dict[str, Any]:
    """Per-arm estimates and comparisons with the reference arm for every endpoint."""
    end = trial.follow_up_days
    by_arm = {a.name: frame[frame["arm"] == a.name] for a in trial.arms}
    arms: dict[str, Any] = {}
    for a in trial.arms:
        arms[a.name] = {
            "patients": len(by_arm[a.name]),
            "endpoints": {ep.name: arm_estimate(ep, by_arm[a.name], end) for ep in trial.endpoints},
        }
    comparisons: dict[str, Any] = {}
    ref = by_arm[trial.reference]
    for a in trial.arms:
        if a.name == trial.reference:
            continue
        results = {}
        for ep in trial.endpoints:
            if ep.is_time_to_event:
                own = arms[a.name]["endpoints"][ep.name]
                reference = arms[trial.reference]["endpoints"][ep.name]
                result = _compare_times(ep, by_arm[a.name], ref, end, own, reference)
            else:
                result = _compare_proportions(ep, by_arm[a.name], ref)
            p = result["p_value"]
            result["significant"] = bool(p is not None and p < trial.alpha)
            results[ep.name] = result
        comparisons[f"{a.name} vs {trial.reference}"] = results
    return {"arms": arms, "comparisons": comparisons}
