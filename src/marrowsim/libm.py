"""Elementwise exp, log, log1p, expm1 and power from the C library.

A patient must be the same patient on any machine. NumPy's float64 exp, log
and power take their own SIMD code on CPUs with AVX-512 (and the C library's
elsewhere); the two differ in the last bit for a few percent of arguments,
and a healthy state or derived parameter one bit apart gives readouts 1e-13
apart, so a cohort's numbers would depend on the CPU. The compiled kernel
already calls the C library's functions (numba lowers ``math.exp`` and ``**``
to them); the per-patient numbers made in numpy (derived parameters, healthy
steady states, schedules, draws) use these ufuncs, compiled by numba around
the same functions, so both sides agree on every machine. Functions of whole
cohorts that only summarise (statistics, plots) may use numpy's.
"""

from __future__ import annotations

import math
from typing import Any

import numba

__all__ = ["NAMESPACE", "libm_exp", "libm_expm1", "libm_log", "libm_log1p", "libm_pow"]


@numba.vectorize(["float64(float64)"], cache=True)
def libm_exp(x):
    return math.exp(x)


@numba.vectorize(["float64(float64)"], cache=True)
def libm_log(x):
    return math.log(x) if x > 0.0 else (-math.inf if x == 0.0 else math.nan)


@numba.vectorize(["float64(float64)"], cache=True)
def libm_log1p(x):
    return math.log1p(x) if x > -1.0 else (-math.inf if x == -1.0 else math.nan)


@numba.vectorize(["float64(float64)"], cache=True)
def libm_expm1(x):
    return math.expm1(x)


@numba.vectorize(["float64(float64, float64)"], cache=True)
def libm_pow(x, y):
    return x**y


# the names a lambdified expression (model.py) finds them under
NAMESPACE: dict[str, Any] = {
    "libm_exp": libm_exp,
    "libm_log": libm_log,
    "libm_log1p": libm_log1p,
    "libm_expm1": libm_expm1,
    "libm_pow": libm_pow,
}
