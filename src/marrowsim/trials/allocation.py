"""Randomisation: stratified permuted blocks from the trial seed.

Eligible patients are allocated in enrolment order. Within each stratum (the
combination of the ``allocation.stratify`` covariates' bins) patients take
the next place of a block holding each arm ``ratio`` times per ratio unit,
its order a random permutation from the stratum's own generator (the trial
seed with a fixed tag, keyed by the stratum), so the allocation of a patient
depends only on the seed and the patients before it in its stratum. Arm
sizes therefore vary by up to a block per stratum around their ratio share
(as in a trial randomised this way); an arm left empty is refused.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from marrowsim.clinic.definitions import SEVERITY_LEVELS
from marrowsim.errors import InputError
from marrowsim.trials.spec import Trial

# entropy tag of the allocation stream: never the patients' streams, which
# are SeedSequence(seed) children keyed by the draw index
ALLOCATION_TAG = 0xA110C


def strata(trial: Trial, covariates: pd.DataFrame) -> np.ndarray:
    """Each patient's stratum label (text; "all" without stratification)."""
    if not trial.stratify:
        return np.full(len(covariates), "all", dtype=object)
    parts = []
    for name, cuts in trial.stratify:
        values = covariates[name].to_numpy()
        if name == "severity":
            parts.append(np.array([f"severity={v}" for v in values], dtype=object))
            continue
        bins = np.searchsorted(np.asarray(cuts), values.astype(float), side="right")
        edges = ["-inf", *[f"{c:g}" for c in cuts], "inf"]
        parts.append(np.array([f"{name}[{edges[b]},{edges[b + 1]})" for b in bins], dtype=object))
    return np.array([" ".join(p) for p in zip(*parts, strict=True)], dtype=object)


def _stratum_key(trial: Trial, label: str) -> tuple[int, ...]:
    """A stable integer key of a stratum label (its bin indices)."""
    key = []
    for part, (name, cuts) in zip(label.split(" "), trial.stratify, strict=True):
        if name == "severity":
            key.append(SEVERITY_LEVELS.index(part.split("=", 1)[1]))
        else:
            low = part[len(name) + 1 : part.index(",")]
            key.append(0 if low == "-inf" else 1 + [f"{c:g}" for c in cuts].index(low))
    return tuple(key)


def allocate(trial: Trial, labels: np.ndarray) -> np.ndarray:
    """Arm index of each patient (in enrolment order) given its stratum label."""
    per_unit = np.repeat(np.arange(len(trial.arms)), [a.ratio for a in trial.arms])
    block = np.tile(per_unit, trial.block_size // len(per_unit))
    arms = np.empty(len(labels), dtype=np.int64)
    queues: dict[str, list[int]] = {}
    generators: dict[str, np.random.Generator] = {}
    for i, label in enumerate(labels):
        if label not in generators:
            key = () if label == "all" else _stratum_key(trial, label)
            generators[label] = np.random.default_rng(
                np.random.SeedSequence([trial.seed, ALLOCATION_TAG], spawn_key=key)
            )
            queues[label] = []
        queue = queues[label]
        if not queue:
            queue.extend(int(a) for a in generators[label].permutation(block))
        arms[i] = queue.pop(0)
    sizes = np.bincount(arms, minlength=len(trial.arms))
    if len(labels) and not sizes.all():
        empty = trial.arms[int(np.argmin(sizes))].name
        raise InputError(
            f"patients_per_arm: {trial.patients_per_arm} leaves arm {empty!r} without patients"
            f" (blocks of {trial.block_size} are filled per stratum in enrolment order, so arm"
            " sizes vary by up to a block per stratum); give more patients per arm or fewer strata"
        )
    return arms
