"""A virtual population selected to match published counts before treatment.

The drawn patients of a scenario that enrols at diagnosis are *plausible*
patients: the model's own variability decides how deep each one's counts are
when it is enrolled. A clinic's population is a particular mixture of them.
Following the acceptance-rejection step of Allen, Rieger & Musante (CPT
Pharmacometrics Syst Pharmacol 2016;5:140; cited from memory), each enrolled
plausible patient is kept with a probability that reweights the plausible
distribution of its counts into the published one:

    accept(cell) = (target(cell) / plausible(cell)) / max over cells of the same ratio

over the cells of a published table (``baseline_counts.yaml``: counts of
patients by ranges of counts at enrolment). ``plausible(cell)`` is measured
on a fixed reference population (the first ``REFERENCE_PATIENTS`` patients
of the same seed enrolled without selection), so whether a patient is kept
depends only on its own counts, its own uniform draw (a stream of its own,
``SELECTION_STREAM``) and that fixed reference: a selected cohort is the
same people at any size, chunking or worker count.

Selection reweights; it cannot create. A cell the plausible population
barely reaches is refused (at least ``MIN_REFERENCE_PER_CELL`` reference
patients are needed in each), and a cell it reaches rarely makes selection
costly: ``draws_per_patient`` says how many enrolled plausible patients each
selected one costs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from marrowsim.errors import InputError
from marrowsim.io import inputs

# a patient's selection uniform comes from a stream of its own (beside its
# parameters' stream and its outcome stream, OUTCOME_STREAM = 1)
SELECTION_STREAM = 2
# the plausible population the cell fractions are measured on
REFERENCE_PATIENTS = 1000
MIN_REFERENCE_PER_CELL = 10

__all__ = [
    "MIN_REFERENCE_PER_CELL",
    "REFERENCE_PATIENTS",
    "Cell",
    "Distribution",
    "Selection",
    "distribution",
    "distribution_names",
]


@dataclass(frozen=True)
class Cell:
    """Published patients whose counts lie in ``ranges``: readout -> (low,
    high), low <= count < high, None for no bound."""

    name: str
    ranges: tuple[tuple[str, float | None, float | None], ...]
    patients: int

    def holds(self, counts: Mapping[str, np.ndarray]) -> np.ndarray:
        inside = np.ones(len(next(iter(counts.values()))), dtype=bool)
        for readout, low, high in self.ranges:
            x = counts[readout]
            if low is not None:
                inside &= x >= low
            if high is not None:
                inside &= x < high
        return inside

    def describe(self) -> str:
        parts = []
        for readout, low, high in self.ranges:
            if low is not None and high is not None:
                parts.append(f"{low:g} <= {readout} < {high:g}")
            elif low is not None:
                parts.append(f"{readout} >= {low:g}")
            else:
                parts.append(f"{readout} < {high:g}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Distribution:
    """A published table of patients by their counts before treatment."""

    name: str
    description: str
    source: str
    cells: tuple[Cell, ...]

    @property
    def readouts(self) -> tuple[str, ...]:
        return tuple(sorted({r for c in self.cells for r, _, _ in c.ranges}))

    @property
    def target(self) -> np.ndarray:
        patients = np.array([c.patients for c in self.cells], dtype=float)
        return patients / patients.sum()

    def cell_of(self, counts: Mapping[str, np.ndarray]) -> np.ndarray:
        """Each patient's cell index (the cells partition the counts; a
        patient in none or in two is an error of the table)."""
        inside = np.array([c.holds(counts) for c in self.cells])
        held = inside.sum(axis=0)
        if (held != 1).any():
            i = int(np.flatnonzero(held != 1)[0])
            shown = ", ".join(f"{r} {counts[r][i]:.4g}" for r in self.readouts)
            raise InputError(
                f"baseline_counts: {self.name}: a patient with {shown} lies in {int(held[i])}"
                " of its cells; the cells must not overlap and must cover every patient"
            )
        return np.argmax(inside, axis=0)


def distribution_names() -> list[str]:
    return sorted(_distributions())


def distribution(name: Any) -> Distribution:
    """The published distribution ``name`` (the scenario key baseline_counts)."""
    known = _distributions()
    if not isinstance(name, str) or name not in known:
        raise InputError(
            inputs.unknown_name(
                "baseline_counts distribution",
                name,
                sorted(known),
                "published counts before treatment, in marrowsim/cohort/baseline_counts.yaml",
            )
        )
    return known[name]


@lru_cache(maxsize=1)
def _distributions() -> dict[str, Distribution]:
    text = resources.files("marrowsim.cohort").joinpath("baseline_counts.yaml").read_text()
    raw = inputs.load_yaml(text, "baseline_counts.yaml")
    out: dict[str, Distribution] = {}
    for name, entry in raw.items():
        cells = []
        for cell in entry["cells"]:
            ranges = tuple(
                (
                    readout,
                    None if low is None else float(low),
                    None if high is None else float(high),
                )
                for readout, (low, high) in cell["where"].items()
            )
            cells.append(Cell(str(cell["name"]), ranges, int(cell["patients"])))
        out[str(name)] = Distribution(
            str(name), str(entry["description"]), str(entry["source"]), tuple(cells)
        )
    return out


@dataclass(frozen=True)
class Selection:
    """Acceptance probabilities per cell, from a reference population."""

    distribution: Distribution
    reference: np.ndarray  # reference patients per cell
    acceptance: np.ndarray  # probability that an enrolled patient of the cell is kept

    @classmethod
    def from_reference(
        cls, dist: Distribution, counts: Mapping[str, np.ndarray], scenario: str
    ) -> Selection:
        cells = dist.cell_of(counts)
        reference = np.bincount(cells, minlength=len(dist.cells))
        for cell, n in zip(dist.cells, reference, strict=True):
            if n < MIN_REFERENCE_PER_CELL:
                raise InputError(
                    f"baseline_counts: {dist.name}: only {int(n)} of {len(cells)} plausible"
                    f" patients of scenario {scenario!r} have {cell.describe()} (cell"
                    f" {cell.name}) when enrolled; at least {MIN_REFERENCE_PER_CELL} are"
                    " needed to select a population that matches it (selection reweights"
                    " the model's own spread of counts; it cannot create it)"
                )
        ratio = dist.target / (reference / reference.sum())
        return cls(dist, reference, ratio / ratio.max())

    @property
    def kept_fraction(self) -> float:
        """The expected fraction of enrolled plausible patients kept."""
        plausible = self.reference / self.reference.sum()
        return float(np.sum(plausible * self.acceptance))

    @property
    def draws_per_patient(self) -> float:
        """Enrolled plausible patients per selected patient (expected)."""
        return 1.0 / self.kept_fraction

    def keep(self, keys: np.ndarray, seed: int, counts: Mapping[str, np.ndarray]) -> np.ndarray:
        """Which of the enrolled draws ``keys`` (counts at enrolment) are kept."""
        cells = self.distribution.cell_of(counts)
        uniforms = np.array(
            [
                np.random.default_rng(
                    np.random.SeedSequence(seed, spawn_key=(int(k), SELECTION_STREAM))
                ).random()
                for k in keys
            ]
        )
        return np.asarray(uniforms < self.acceptance[cells], dtype=bool)

    def cells(self, counts: Mapping[str, np.ndarray]) -> np.ndarray:
        """Patients per cell among those with ``counts``."""
        dist = self.distribution
        return np.bincount(dist.cell_of(counts), minlength=len(dist.cells))

    def summary(self, selected: np.ndarray) -> dict[str, Any]:
        """What was selected: per cell the published, plausible and selected
        fractions (``selected``: the selected patients per cell)."""
        dist = self.distribution
        total = max(int(np.sum(selected)), 1)
        plausible = self.reference / self.reference.sum()
        return {
            "distribution": dist.name,
            "source": dist.source,
            "reference_patients": int(self.reference.sum()),
            "kept_fraction": round(self.kept_fraction, 6),
            "cells": {
                cell.name: {
                    "where": cell.describe(),
                    "published": round(float(dist.target[k]), 6),
                    "plausible": round(float(plausible[k]), 6),
                    "acceptance": round(float(self.acceptance[k]), 6),
                    "selected": round(float(selected[k]) / total, 6),
                }
                for k, cell in enumerate(dist.cells)
            },
        }
