"""The result of a simulation: a frozen record of a simulated cohort.

This module imports nothing that runs simulations (no engine, no model), so
readers of results (``io.results``, ``plotting``) depend on the result type,
not on the code that produces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from marrowsim._version import __version__
from marrowsim.clinic.events import patient_events
from marrowsim.clinic.severity import SEVERITY_LEVELS, severity_code
from marrowsim.io.scenario import Scenario
from marrowsim.status import STATUS_MESSAGES


@dataclass(frozen=True)
class Result:
    """A simulated cohort.

    ``readouts`` has shape (patients, days, readouts) in ``readout_names``
    order; ``states`` (patients, days, states) only if asked for. Per-patient
    ``status`` is 0 where the integration succeeded (``status_messages``).
    """

    scenario: Scenario
    days: np.ndarray
    readout_names: tuple[str, ...]
    readouts: np.ndarray
    parameters: dict[str, np.ndarray]
    varying: tuple[str, ...]
    typical: bool
    seed: int
    status: np.ndarray
    steps: np.ndarray
    rejected: np.ndarray
    states: np.ndarray | None = None
    state_names: tuple[str, ...] = ()
    # (patient, day, event name) of each event the model's mechanisms declare
    event_log: tuple[tuple[int, float, str], ...] = ()

    @property
    def n_patients(self) -> int:
        return int(self.readouts.shape[0])

    def readout(self, name: str) -> np.ndarray:
        """One readout, shape (patients, days)."""
        if name not in self.readout_names:
            raise KeyError(f"no readout {name!r}; readouts are {', '.join(self.readout_names)}")
        return self.readouts[:, :, self.readout_names.index(name)]

    def state(self, name: str) -> np.ndarray:
        """One state, shape (patients, days); needs ``save_states=True``."""
        if self.states is None:
            raise ValueError("states were not saved; simulate(..., save_states=True)")
        return self.states[:, :, self.state_names.index(name)]

    @cached_property
    def events(self) -> pd.DataFrame:
        """One row per event that fired: ``patient``, ``day``, ``event``."""
        rows = list(self.event_log)
        return pd.DataFrame(rows, columns=["patient", "day", "event"]).astype(
            {"patient": np.int64, "day": float, "event": object}
        )

    @cached_property
    def severity_code(self) -> np.ndarray:
        r = self.readout
        return severity_code(r("hb"), r("anc"), r("platelets"), r("retic"), r("cellularity"))

    @cached_property
    def timecourse(self) -> pd.DataFrame:
        """Long table: one row per patient and output day (DESIGN section 5)."""
        n, t = self.n_patients, len(self.days)
        frame = pd.DataFrame(
            {
                "patient": np.repeat(np.arange(n), t),
                "day": np.tile(self.days, n),
            }
        )
        for k, name in enumerate(self.readout_names):
            frame[name] = self.readouts[:, :, k].reshape(-1)
        codes = self.severity_code.reshape(-1).astype(np.int8)
        frame["severity"] = pd.Categorical.from_codes(
            codes, categories=pd.Index(list(SEVERITY_LEVELS))
        )
        columns = [
            "patient",
            "day",
            "hb",
            "anc",
            "wbc",
            "lymphocytes",
            "platelets",
            "retic",
            "cellularity",
            "hsc",
            "severity",
        ]
        rest = [c for c in frame.columns if c not in columns]
        return frame[columns + rest]

    @cached_property
    def patients(self) -> pd.DataFrame:
        """One row per patient: drawn parameter values and clinical events."""
        frame = pd.DataFrame({"patient": np.arange(self.n_patients)})
        for name in self.varying:
            frame[name] = self.parameters[name]
        readouts = {name: self.readout(name) for name in self.readout_names}
        for name, values in patient_events(self.days, readouts, self.severity_code).items():
            frame[name] = values
        frame["status"] = [STATUS_MESSAGES.get(int(s), f"error {s}") for s in self.status]
        return frame

    @cached_property
    def summary(self) -> dict[str, Any]:
        """Cohort figures, fractions in 0..1 (DESIGN section 5), over the
        patients whose integration succeeded (``solver.failed_patients``)."""
        ok = self.status == 0
        worst = self.severity_code[ok].max(axis=1)
        final = self.readouts[ok, -1, :]

        def median(values: np.ndarray) -> float | None:
            values = values[np.isfinite(values)]
            return float(np.median(values)) if len(values) else None

        def fraction(hit: np.ndarray) -> float | None:
            return float(np.mean(hit)) if len(hit) else None

        severe_days = self.patients["first_severe_day"].to_numpy(dtype=float)[ok]
        return {
            "marrowsim_version": __version__,
            "scenario": self.scenario.name,
            "patients": self.n_patients,
            "typical_patient": self.typical,
            "days": float(self.days[-1]),
            "every": float(self.scenario.every),
            "seed": self.seed,
            "parameters": dict(self.scenario.parameters),  # the scenario's and --set values
            "severity": {
                "non_severe_or_worse": fraction(worst >= 1),
                "severe_or_worse": fraction(worst >= 2),
                "very_severe": fraction(worst >= 3),
                "median_first_severe_day": median(severe_days),
            },
            "final": {name: median(final[:, k]) for k, name in enumerate(self.readout_names)},
            "nadir": {
                name: median(self.readout(name)[ok].min(axis=1))
                for name in ("hb", "anc", "platelets", "retic")
            },
            "solver": {
                "failed_patients": int(np.sum(self.status != 0)),
                "median_steps": median(self.steps.astype(float)),
            },
        }

    def __getitem__(self, index: int | Sequence[int] | slice) -> Result:
        """The sub-cohort ``index`` (patient numbers keep their meaning in
        ``parameters`` but tables renumber from 0)."""
        idx = np.arange(self.n_patients)[index]
        idx = np.atleast_1d(idx)
        return Result(
            scenario=self.scenario,
            days=self.days,
            readout_names=self.readout_names,
            readouts=self.readouts[idx],
            parameters={k: v[idx] for k, v in self.parameters.items()},
            varying=self.varying,
            typical=self.typical,
            seed=self.seed,
            status=self.status[idx],
            steps=self.steps[idx],
            rejected=self.rejected[idx],
            states=None if self.states is None else self.states[idx],
            state_names=self.state_names,
            event_log=self._event_log_of(idx),
        )

    def _event_log_of(self, idx: np.ndarray) -> tuple[tuple[int, float, str], ...]:
        """The event log of the patients ``idx``, renumbered in that order."""
        by_patient: dict[int, list[tuple[float, str]]] = {}
        for patient, day, name in self.event_log:
            by_patient.setdefault(patient, []).append((day, name))
        return tuple(
            (new, day, name)
            for new, old in enumerate(idx)
            for day, name in by_patient.get(int(old), ())
        )

    def write(self, out: str | Path, fmt: str = "csv") -> list[Path]:
        """Write timecourse, patients, summary and figure atomically to ``out``."""
        from marrowsim.io.results import write_result

        return write_result(self, out, fmt)
