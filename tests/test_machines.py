"""The same patients on any machine: numbers that do not depend on the CPU's
vector instructions (marrowsim.libm)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from marrowsim.libm import libm_exp, libm_expm1, libm_log, libm_log1p, libm_pow

# NumPy's own float64 exp, log and power run only on AVX-512 CPUs; with these
# features turned off it takes the C library's path, as on a CPU without them
WITHOUT_AVX512 = "X86_V4 AVX512_ICL AVX512_SPR AVX512F AVX512_SKX"

SCRIPT = """
import sys, numpy as np, marrowsim
out = {}
for name, settings in [
    ("immune-aa-ist", {}),
    ("benzene", {}),
    ("fanconi", {}),
]:
    r = marrowsim.simulate(name, patients=6, seed=3, days=200, every=10, set=settings)
    out[name + ".readouts"] = r.readouts
    out[name + ".steps"] = r.steps
    for column in r.patients.columns:
        values = r.patients[column].to_numpy()
        if values.dtype.kind == "f":
            out[name + "." + column] = values
np.savez(sys.argv[1], **out)
"""


def _run(path: Path, env: dict[str, str]) -> dict[str, np.ndarray]:
    subprocess.run([sys.executable, "-c", SCRIPT, str(path)], check=True, env=env)
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.slow
def test_cohorts_are_bitwise_the_same_with_and_without_avx512(tmp_path):
    # on a CPU without AVX-512 both runs take the same path and agree
    # trivially; on one with it, this is what a second machine would see
    env = dict(os.environ)
    env.pop("NPY_DISABLE_CPU_FEATURES", None)
    plain = dict(env, NPY_DISABLE_CPU_FEATURES=WITHOUT_AVX512)
    native = _run(tmp_path / "native.npz", env)
    other = _run(tmp_path / "plain.npz", plain)
    assert native.keys() == other.keys()
    for key in native:
        np.testing.assert_array_equal(native[key], other[key], err_msg=key)


def test_libm_functions_are_the_c_librarys():
    import math

    x = np.random.default_rng(0).normal(0, 3, 2000)
    positive = np.abs(x) + 1e-3
    assert [float(v) for v in libm_exp(x)] == [math.exp(v) for v in x]
    assert [float(v) for v in libm_expm1(x)] == [math.expm1(v) for v in x]
    assert [float(v) for v in libm_log(positive)] == [math.log(v) for v in positive]
    assert [float(v) for v in libm_log1p(positive)] == [math.log1p(v) for v in positive]
    assert [float(v) for v in libm_pow(positive, x)] == [
        math.pow(a, b) for a, b in zip(positive, x, strict=True)
    ]
    # numpy's conventions at the edges, without its warnings
    assert libm_log(0.0) == -np.inf and np.isnan(libm_log(-1.0))
    assert libm_log1p(-1.0) == -np.inf and np.isnan(libm_log1p(-2.0))
