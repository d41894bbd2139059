"""marrowsim vs libRoadRunner on the exported SBML of the default model.

For N = 1, 1000, 10000 virtual patients of the default scenario (immune-aa)
over 730 days at rtol 1e-6, prints ms per patient for marrowsim (compiled
Rosenbrock, all its threads) and for libRoadRunner (CVODE) simulating the same
exported SBML with per-patient values (``reset()``, then one
``setGlobalParameterValues`` call with the patient's parameters, derived
parameters, healthy initial state and input defaults; setting ``init(p)``
values instead costs about 0.6 s per parameter, as libRoadRunner then
regenerates its initial-value code, and ``reset()`` leaves parameters that
events changed as they were), in as many worker processes as marrowsim uses
threads, in the same run. libRoadRunner's time per patient does not depend on
N, so it is timed on at most 1000 patients.

CVODE runs in its default BDF mode with marrowsim's per-state absolute
tolerances (1e-8 times each state's typical magnitude, as marrowsim uses).
"""

from __future__ import annotations

import multiprocessing
import time

import numpy as np

import marrowsim
from bench_engine import marrowsim_ms
from marrowsim.cohort import draw_cohort
from marrowsim.engine import thread_count
from marrowsim.io.sbml import state_scales
from marrowsim.simulation import default_model

DAYS = 730
SIZES = (1, 1000, 10000)
ROADRUNNER_SAMPLE = 1000
READOUTS = ["hb", "anc", "wbc", "lymphocytes", "platelets", "retic", "cellularity", "hsc"]

_runner = None
_index = None


def _start_worker(sbml: str, names: list[str]) -> None:
    import roadrunner

    global _runner, _index
    _runner = roadrunner.RoadRunner(sbml)
    _runner.integrator.relative_tolerance = 1e-6
    scales = state_scales("immune-aa")
    _runner.integrator.absolute_tolerance = [
        1e-8 * scales[name] for name in _runner.getRateRuleIds()
    ]
    _runner.integrator.maximum_num_steps = 10**6
    _runner.timeCourseSelections = ["time", *READOUTS]
    ids = list(_runner.model.getGlobalParameterIds())
    _index = np.array([ids.index(n) for n in names], dtype=np.int32)


def _simulate_patients(rows: np.ndarray) -> int:
    assert _runner is not None and _index is not None
    for row in rows:
        _runner.reset()
        _runner.model.setGlobalParameterValues(_index, row)
        _runner.simulate(0, DAYS, DAYS + 1)
    return len(rows)


def _patients(n: int) -> tuple[dict[str, np.ndarray], list[str], np.ndarray]:
    """Values per patient, and for libRoadRunner the ids and rows to set."""
    model = default_model()
    typical = marrowsim.load_scenario("immune-aa").typical_values()
    values = draw_cohort(typical, n, seed=0)
    params = model.parameter_matrix(values)
    y0 = model.steady_state(params)
    names = [*model.all_parameter_names, *model.state_names, *model.input_names]
    inputs = np.array([[i.default for i in model.inputs]] * n)
    return values, names, np.hstack([params, y0, inputs])


def roadrunner_ms(n: int, workers: int, sbml: str) -> float:
    k = min(n, ROADRUNNER_SAMPLE)
    _, names, rows = _patients(k)
    chunks = [rows[i::workers] for i in range(workers) if len(rows[i::workers])]
    context = multiprocessing.get_context("spawn")
    with context.Pool(len(chunks), initializer=_start_worker, initargs=(sbml, names)) as pool:
        pool.map(_simulate_patients, [c[:1] for c in chunks])  # warm up each worker
        start = time.perf_counter()
        done = sum(pool.map(_simulate_patients, chunks))
        elapsed = time.perf_counter() - start
    return 1000 * elapsed / done


def main() -> None:
    workers = thread_count(None)
    sbml = marrowsim.export_sbml("immune-aa")
    print(
        f"marrowsim {marrowsim.__version__} vs libRoadRunner: exported immune-aa model, {DAYS} days, "
        f"rtol 1e-6, {workers} threads / worker processes"
    )
    lines = []
    for n in SIZES:
        ours = marrowsim_ms(n, np.arange(0.0, DAYS + 1.0), workers)
        theirs = roadrunner_ms(n, workers, sbml)
        lines.append(
            f"N={n} marrowsim_ms={ours:.4f} roadrunner_ms={theirs:.3f} speedup={theirs / ours:.1f}"
        )
        print(lines[-1], flush=True)


if __name__ == "__main__":
    main()
