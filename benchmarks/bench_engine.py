"""Engine benchmark: marrowsim vs a scipy LSODA loop over the same model.

For N = 1, 1000, 10000 virtual immune-AA patients over 730 days (rtol 1e-6
and atol 1e-8 on both sides, tighter than marrowsim's defaults; death
switched off, so that both integrate every course to the end),
prints ms per patient for marrowsim (compiled Rosenbrock, all cores) and for
scipy's ``solve_ivp(method="LSODA")`` looping over patients in Python (timed on
a subsample of at least 20 patients), measured in the same process, and their
ratio. The scipy baseline gets the same equations as a plain Python function
(sympy.lambdify) and estimates the Jacobian itself, as a modeller's
``solve_ivp(f, ..., method="LSODA")`` does; a second column gives scipy with
marrowsim's own compiled right-hand side and analytic Jacobian, the strictest
baseline (it removes everything but scipy's own per-step overhead). Then times a cold (empty compile cache) and
a warm one-patient ``marrowsim run``. A last line times a 730-day
``supportive-care`` cohort from diagnosis (the run to each diagnosis, then
transfusion, bleeding and death events) against the untreated N=10000 line,
and a last one the untreated N=10000 cohort at marrowsim's default tolerances
(rtol 1e-5, atol 1e-7) against the same line at rtol 1e-6.

Absolute times vary between machines; the ratios are the result.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import marrowsim
from marrowsim.cohort import draw_cohort
from marrowsim.engine import STATUS_ENDED_BY_EVENT, Solver, integrate, thread_count
from marrowsim.engine.reference import integrate_reference
from marrowsim.simulation import default_model

DAYS = 730
SIZES = (1, 1000, 10000)
SCIPY_SAMPLE = 20
# the tolerances of the scipy and libRoadRunner baselines, on our side too
BASELINE_SOLVER = Solver(rtol=1e-6, atol=1e-8)


# the engine lines integrate every patient's disease for the whole 730 days,
# as the scipy loop (which has no events) does: nobody dies of it here
WITHOUT_DEATH = {"infection.death_rate": 0.0, "bleeding.death_rate": 0.0, "anaemia.death_rate": 0.0}


def _cohort(n: int):
    model = default_model()
    scenario = marrowsim.load_scenario("immune-aa", WITHOUT_DEATH)
    values = draw_cohort(scenario.typical_values(), n, seed=0)
    params = model.parameter_matrix(values)
    y0 = model.steady_state(params)
    return model, values, params, y0


def marrowsim_ms(
    n: int, t_out: np.ndarray, workers: int | None = None, solver: Solver = BASELINE_SOLVER
) -> float:
    """ms per patient for marrowsim on ``n`` immune-AA patients (best of 3 below N=10000)."""
    model, values, params, y0 = _cohort(n)
    changes = model.schedule(values)
    integrate(
        model, y0[:1], params[:1], [c.subset(slice(0, 1)) for c in changes], t_out
    )  # compile/load
    best = np.inf
    for _ in range(3 if n < 10000 else 1):
        start = time.perf_counter()
        run = integrate(model, y0, params, changes, t_out, workers=workers, solver=solver)
        best = min(best, time.perf_counter() - start)
    failed = int(np.sum((run.status != 0) & (run.status != STATUS_ENDED_BY_EVENT)))
    if failed:
        print(f"warning: {failed} patients failed", file=sys.stderr)
    return 1000 * best / n


def _scipy_ms(n: int, t_out: np.ndarray, functions: str) -> float:
    analytic = functions == "compiled"
    model, values, params, y0 = _cohort(max(n, SCIPY_SAMPLE))
    k = min(max(n, SCIPY_SAMPLE), SCIPY_SAMPLE)
    changes = [c.subset(slice(0, k)) for c in model.schedule(values)]
    settings = dict(
        method="LSODA", rtol=1e-6, atol=1e-8, functions=functions, analytic_jacobian=analytic
    )
    first = [c.subset(slice(0, 1)) for c in changes]
    integrate_reference(model, y0[:1], params[:1], first, t_out[:2], **settings)  # build functions
    start = time.perf_counter()
    integrate_reference(model, y0[:k], params[:k], changes, t_out, **settings)
    return 1000 * (time.perf_counter() - start) / k


def supportive_care_ms(n: int) -> tuple[float, float]:
    """ms per patient for ``marrowsim.simulate("supportive-care", patients=n)``
    (730 days from each patient's diagnosis: the enrolment run to diagnosis,
    then the course with transfusion and death events), and events per patient."""
    marrowsim.simulate("supportive-care", patients=1, days=2)  # compile/load
    start = time.perf_counter()
    result = marrowsim.simulate("supportive-care", patients=n, days=DAYS, solver=BASELINE_SOLVER)
    elapsed = time.perf_counter() - start
    failed = int(np.sum(~result.succeeded))
    if failed:
        print(f"warning: {failed} supportive-care patients failed", file=sys.stderr)
    return 1000 * elapsed / n, len(result.event_log) / n


def _run_wall(cache: str) -> float:
    env = dict(os.environ, MARROWSIM_CACHE_DIR=cache)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "marrowsim.cli", "run", "--out", out],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - start


def main() -> None:
    t_out = np.arange(0.0, DAYS + 1.0)
    threads = thread_count(None)
    print(
        f"marrowsim {marrowsim.__version__}: immune-aa cohort, {DAYS} days, rtol 1e-6, {threads} threads"
    )
    print(
        f"{'N':>6} {'marrowsim ms/pt':>16} {'scipy LSODA ms/pt':>18} {'speedup':>8}"
        f" {'scipy+compiled rhs+jac':>25} {'speedup':>8}"
    )
    lines = []
    for n in SIZES:
        ours = marrowsim_ms(n, t_out)
        python = _scipy_ms(n, t_out, "python")
        compiled = _scipy_ms(n, t_out, "compiled")
        print(
            f"{n:>6} {ours:>16.4f} {python:>18.2f} {python / ours:>8.1f}"
            f" {compiled:>25.2f} {compiled / ours:>8.1f}"
        )
        lines.append(
            f"N={n} marrowsim_ms={ours:.4f} scipy_ms={python:.3f} speedup={python / ours:.1f}"
        )
    n = SIZES[-1]
    care, events = supportive_care_ms(n)
    print(
        f"supportive-care, {n} patients from diagnosis: {care:.4f} ms/pt, {events:.1f} events/pt,"
        f" {care / ours:.2f}x the untreated immune-aa cohort"
    )
    lines.append(
        f"N={n} scenario=supportive-care marrowsim_ms={care:.4f} events_per_patient={events:.1f}"
        f" vs_untreated={care / ours:.2f}"
    )
    default = marrowsim_ms(n, t_out, solver=Solver())
    print(
        f"immune-aa, {n} patients at the default tolerances (rtol {Solver().rtol:g},"
        f" atol {Solver().atol:g}): {default:.4f} ms/pt, {ours / default:.2f}x faster than rtol 1e-6"
    )
    lines.append(
        f"N={n} tolerance=default marrowsim_ms={default:.4f} vs_rtol_1e-6={ours / default:.2f}"
    )
    with tempfile.TemporaryDirectory() as cache:
        cold = _run_wall(cache)
        warm = _run_wall(cache)
    for line in lines:
        print(line)
    print(f"run_cold_s={cold:.2f} run_warm_s={warm:.2f}")


if __name__ == "__main__":
    main()
