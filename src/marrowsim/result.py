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
from typing import Any, cast

import numpy as np
import pandas as pd

from marrowsim._version import __version__
from marrowsim.clinic.definitions import COUNT_READOUTS, DEATH_CAUSES
from marrowsim.clinic.events import patient_events
from marrowsim.clinic.outcomes import Outcomes, outcomes
from marrowsim.clinic.response import (
    RESPONSE_COLUMNS,
    RESPONSE_LANDMARKS,
    Responses,
    responses,
    treatment_start,
)
from marrowsim.clinic.salvage import KINDS as SALVAGE_KINDS
from marrowsim.clinic.salvage import Salvaged, salvaged
from marrowsim.clinic.severity import SEVERITY_LEVELS, severity_code
from marrowsim.clinic.survival import LANDMARKS, kaplan_meier
from marrowsim.clinic.transplant import anc_engraftment_day, graft_failure, transplant_given
from marrowsim.io.scenario import Scenario
from marrowsim.status import STATUS_ENDED_BY_EVENT, STATUS_MESSAGES


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
    # a scenario that enrols at diagnosis: each patient's draw index (its key:
    # the same seed gives the same people) and its day of diagnosis counted
    # from the start of its simulated history (day 0 of the outputs)
    draw: np.ndarray | None = None
    diagnosis_day: np.ndarray | None = None
    # a population selected to match published counts before treatment
    # (scenario key baseline_counts): cohort.baseline.Selection.summary
    selection: dict[str, Any] | None = None

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
    def outcomes(self) -> Outcomes:
        """Death (day, cause) and transfusions of each patient (clinic.outcomes)."""
        return outcomes(self.n_patients, self.days, self.event_log, self.parameters)

    @cached_property
    def responses(self) -> Responses:
        """NIH response from each patient's treatment start (clinic.response)."""
        readouts = {name: self.readout(name) for name in ("hb", "anc", "platelets", "retic")}
        transfused = sum(self.outcomes.units_per_day.values())
        start = treatment_start(self.parameters, self.n_patients)
        return responses(
            self.days, readouts, self.alive, np.asarray(transfused), start, self.salvage.day
        )

    @cached_property
    def salvage(self) -> Salvaged:
        """Who was switched to a salvage transplant or second course, and when
        (clinic.salvage, from the event log)."""
        return salvaged(self.n_patients, self.event_log)

    @cached_property
    def transplant_given(self) -> np.ndarray:
        """(patients,) True where a transplant is given: a salvage transplant
        only to the patients switched to it (clinic.transplant)."""
        return transplant_given(self.parameters, self.n_patients, self.salvage.transplant)

    @cached_property
    def alive(self) -> np.ndarray:
        """(patients, days): alive on each output day."""
        return self.outcomes.alive(self.days)

    @cached_property
    def after_death(self) -> np.ndarray:
        """(patients, days): past the first output day at or after death (a
        dead patient's course ends with that day: alive 0, no counts)."""
        after = np.zeros_like(self.alive)
        after[:, 1:] = ~self.alive[:, :-1]
        return after

    @property
    def succeeded(self) -> np.ndarray:
        """(patients,): the integration ran to the end or to the patient's death."""
        return (self.status == 0) | (self.status == STATUS_ENDED_BY_EVENT)

    @cached_property
    def severity_code(self) -> np.ndarray:
        """(patients, days) index into SEVERITY_LEVELS; -1 where counts are
        missing (a failed integration, or after death)."""
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
            cast(Any, codes), categories=pd.Index(list(SEVERITY_LEVELS))
        )
        alive = self.alive
        frame["alive"] = alive.reshape(-1).astype(np.int8)
        for product, units in self.outcomes.units_per_day.items():
            frame[f"{product}_units"] = units.reshape(-1)
        frame = frame[~self.after_death.reshape(-1)].reset_index(drop=True)
        columns = ["patient", "day", *COUNT_READOUTS, "severity", "alive"]
        rest = [c for c in frame.columns if c not in columns]
        return frame[columns + rest]

    @cached_property
    def patients(self) -> pd.DataFrame:
        """One row per patient: drawn parameter values and clinical events."""
        frame = pd.DataFrame({"patient": np.arange(self.n_patients)})
        if self.draw is not None and self.diagnosis_day is not None:
            frame["draw"] = self.draw  # the patient's key: its draw index
            frame["diagnosis_day"] = self.diagnosis_day  # in its own history
        for name in self.varying:
            frame[name] = self.parameters[name]
        readouts = {name: self.readout(name) for name in self.readout_names}
        events = patient_events(self.days, readouts, self.severity_code, self.alive)
        for name, values in events.items():
            frame[name] = values
        o = self.outcomes
        frame["death_day"] = o.death_day
        frame["death_cause"] = o.death_cause
        for product, units in o.units.items():
            frame[f"{product}_units"] = units
        frame["first_transfusion_day"] = o.first_transfusion_day
        frame["first_bleeding_day"] = o.first_bleeding_day
        r = self.responses
        for landmark, column in RESPONSE_COLUMNS.items():
            frame[column] = r.at[landmark]
        frame["first_response_day"] = r.first_response_day
        frame["relapse_day"] = r.relapse_day
        frame["weight"] = np.broadcast_to(self.parameters["patient_weight_kg"], self.n_patients)
        frame["age"] = np.broadcast_to(self.parameters["patient_age_years"], self.n_patients)
        frame["salvage"] = self.salvage.kind
        frame["salvage_day"] = self.salvage.day
        frame["anc_engraftment_day"] = anc_engraftment_day(
            self.days, self.readout("anc"), self.alive, self.parameters, self.transplant_given
        )
        frame["graft_failure"] = graft_failure(
            self.parameters, o.death_day, float(self.days[-1]), self.transplant_given
        )
        frame["status"] = [STATUS_MESSAGES.get(int(s), f"error {s}") for s in self.status]
        return frame

    @cached_property
    def summary_rows(self) -> pd.DataFrame:
        """One row per patient: everything :func:`summarise` reads (whether
        its integration succeeded, its worst severity while alive, its counts
        on the last day and nadirs, death, bleeding, transfusions, response,
        transplant, steps). A cohort's summary is a function of these rows
        alone, so the summary of a run in chunks is that of the rows of its
        chunks put together."""
        ok = self.succeeded
        alive = self.alive
        rows = pd.DataFrame({"succeeded": ok})
        rows["worst_severity"] = np.where(alive, self.severity_code, -1).max(axis=1)
        rows["alive_at_end"] = alive[:, -1]
        for k, name in enumerate(self.readout_names):
            rows[f"final:{name}"] = self.readouts[:, -1, k]
        for name in NADIR_READOUTS:
            values = np.where(alive, self.readout(name), np.inf).min(axis=1)
            rows[f"nadir:{name}"] = np.where(np.isinf(values), np.nan, values)
        o = self.outcomes
        rows["death_day"] = o.death_day
        rows["death_cause"] = o.death_cause
        rows["first_bleeding_day"] = o.first_bleeding_day
        for product, units in o.units.items():
            rows[f"units:{product}"] = units
        r = self.responses
        for landmark in RESPONSE_LANDMARKS:
            rows[f"response:{landmark}"] = r.at[landmark]
        rows["first_response_day"] = r.first_response_day
        rows["relapse_day"] = r.relapse_day
        rows["treatment_start"] = r.treatment_start
        patients = self.patients
        rows["first_severe_day"] = patients["first_severe_day"].to_numpy(dtype=float)
        rows["transplant_given"] = self.transplant_given
        rows["salvage"] = self.salvage.kind
        rows["graft_failure"] = patients["graft_failure"].to_numpy()
        rows["anc_engraftment_day"] = patients["anc_engraftment_day"].to_numpy(dtype=float)
        rows["steps"] = self.steps
        return rows

    @cached_property
    def summary(self) -> dict[str, Any]:
        """Cohort figures (:func:`summarise` of :attr:`summary_rows`)."""
        summary = summarise(self.summary_rows, self.summary_settings())
        if self.selection is not None:
            summary["baseline_selection"] = self.selection
        return summary

    def summary_settings(self) -> dict[str, Any]:
        """What the run was, as the summary's head states it."""
        return {
            "scenario": self.scenario,
            "patients": self.n_patients,
            "typical_patient": self.typical,
            "days": self.days,
            "seed": self.seed,
            "readout_names": self.readout_names,
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
            draw=None if self.draw is None else self.draw[idx],
            diagnosis_day=None if self.diagnosis_day is None else self.diagnosis_day[idx],
            selection=self.selection,
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


NADIR_READOUTS = ("hb", "anc", "platelets", "retic")


def summarise(rows: pd.DataFrame, settings: dict[str, Any]) -> dict[str, Any]:
    """Cohort figures, fractions in 0..1 (DESIGN section 5), over the
    patients whose integration succeeded (ran to the end or to death;
    ``solver.failed_patients`` counts the rest), from one row per patient
    (:attr:`Result.summary_rows`) and the run's settings
    (:meth:`Result.summary_settings`). Counts are read while alive: ``final``
    over the patients alive at the end, nadirs before death; ``survival`` is
    Kaplan-Meier, censored at the end of the run (null past it)."""
    scenario: Scenario = settings["scenario"]
    days = np.asarray(settings["days"], dtype=float)
    ok = rows["succeeded"].to_numpy(dtype=bool)
    mine = rows[ok]
    worst = mine["worst_severity"].to_numpy()
    at_end = mine["alive_at_end"].to_numpy(dtype=bool)

    def median(values: np.ndarray) -> float | None:
        values = values[np.isfinite(values)]
        return float(np.median(values)) if len(values) else None

    def fraction(hit: np.ndarray) -> float | None:
        return float(np.mean(hit)) if len(hit) else None

    death_day = mine["death_day"].to_numpy(dtype=float)
    death_cause = mine["death_cause"].to_numpy(dtype=object)
    died = np.isfinite(death_day)
    end = float(days[-1])
    landmarks = {k: d for k, d in LANDMARKS.items() if d <= end + 1e-9}
    survival: dict[str, Any] = {k: None for k in LANDMARKS}
    if len(death_day):
        at = np.array(list(landmarks.values()))
        estimate, low, high = kaplan_meier(death_day, end, at)
        for j, k in enumerate(landmarks):
            survival[k] = {
                "estimate": float(estimate[j]),
                "ci95": [float(low[j]), float(high[j])],
            }
    months = np.maximum(np.where(died, death_day, end), 1e-9) / (365.25 / 12)
    products = [c.split(":", 1)[1] for c in rows.columns if c.startswith("units:")]
    return {
        "marrowsim_version": __version__,
        "scenario": scenario.name,
        "patients": int(settings["patients"]),
        "typical_patient": bool(settings["typical_patient"]),
        "days": end,
        "every": float(scenario.every),
        "seed": settings["seed"],
        "enrolment": scenario.enrolment,
        "parameters": dict(scenario.parameters),  # the scenario's and --set values
        "severity": {
            "non_severe_or_worse": fraction(worst >= 1),
            "severe_or_worse": fraction(worst >= 2),
            "very_severe": fraction(worst >= 3),
            "median_first_severe_day": median(mine["first_severe_day"].to_numpy(dtype=float)),
        },
        "survival": survival,
        "deaths": {
            "any": fraction(died),
            **{cause: fraction(death_cause == cause) for cause in DEATH_CAUSES},
            "median_death_day_of_the_dead": median(death_day),
        },
        "bleeding": {
            "first_episode": fraction(np.isfinite(mine["first_bleeding_day"].to_numpy(dtype=float)))
        },
        "response": _response_summary(mine),
        "transplant": _transplant_summary(mine),
        "salvage": _salvage_summary(mine),
        "transfusions": {
            f"median_{product}_units_per_month": median(
                mine[f"units:{product}"].to_numpy(dtype=float) / months
            )
            for product in products
        },
        "final": {
            name: median(mine[f"final:{name}"].to_numpy(dtype=float)[at_end])
            for name in settings["readout_names"]
        },
        "nadir": {
            name: median(mine[f"nadir:{name}"].to_numpy(dtype=float)) for name in NADIR_READOUTS
        },
        "solver": {
            "failed_patients": int(np.sum(~ok)),
            "median_steps": median(rows["steps"].to_numpy(dtype=float)),
        },
    }


def _response_summary(rows: pd.DataFrame) -> dict[str, Any]:
    """Response fractions at each landmark over the treated patients who
    reach it (the dead count as not responding), and relapse among those
    who ever responded."""
    out: dict[str, Any] = {}
    for landmark in RESPONSE_LANDMARKS:
        labels = rows[f"response:{landmark}"].to_numpy(dtype=object)
        reached = labels[np.array([label is not None for label in labels], dtype=bool)]
        n = len(reached)
        out[landmark] = {
            "patients": n,
            "complete": float(np.mean(reached == "complete")) if n else None,
            "partial": float(np.mean(reached == "partial")) if n else None,
            "overall": float(np.mean(reached != "none")) if n else None,
        }
    first_response = rows["first_response_day"].to_numpy(dtype=float)
    responded = np.isfinite(first_response)
    relapsed = np.isfinite(rows["relapse_day"].to_numpy(dtype=float))
    out["responders"] = int(responded.sum())
    out["relapse_of_responders"] = (
        float(relapsed.sum() / responded.sum()) if responded.any() else None
    )
    first = (first_response - rows["treatment_start"].to_numpy(dtype=float))[responded]
    out["median_days_to_first_response"] = float(np.median(first)) if len(first) else None
    return out


def _salvage_summary(rows: pd.DataFrame) -> dict[str, Any] | None:
    """Fractions of the patients switched after non-response at the
    assessment, to a transplant and to a second course; None if nobody was."""
    kind = rows["salvage"]
    if not kind.notna().any():
        return None
    return {name: float((kind == name).mean()) for name in SALVAGE_KINDS.values()}


def _transplant_summary(rows: pd.DataFrame) -> dict[str, Any] | None:
    """Among the transplanted patients: graft failure fractions and the
    median neutrophil engraftment day (after the infusion); None if none."""
    given = rows["transplant_given"].to_numpy(dtype=bool)
    if not given.any():
        return None
    frame = rows[given]
    failure = frame["graft_failure"]
    engraftment = frame["anc_engraftment_day"].to_numpy(dtype=float)
    engrafted = engraftment[np.isfinite(engraftment)]
    return {
        "patients": int(given.sum()),
        "graft_failure": float(failure.notna().mean()),
        "primary_graft_failure": float((failure == "primary").mean()),
        "secondary_graft_failure": float((failure == "secondary").mean()),
        "anc_engrafted": float(np.isfinite(engraftment).mean()),
        "median_anc_engraftment_day": float(np.median(engrafted)) if len(engrafted) else None,
    }
