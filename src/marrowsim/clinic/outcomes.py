"""Per-patient outcomes read off the event log: death (day and cause) and the
transfusions given (per output day, in total, the first)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from marrowsim.clinic.definitions import (
    BLEEDING_EPISODE_EVENT,
    DEATH_CAUSES,
    TRANSFUSIONS,
    death_event,
)

_CAUSE_OF = {death_event(cause): cause for cause in DEATH_CAUSES}


@dataclass(frozen=True)
class Outcomes:
    """Shapes: (patients,) unless said. ``death_day`` is NaN and
    ``death_cause`` None for a patient alive at the end; ``units_per_day`` maps
    a product (``rbc``, ``platelet``) to (patients, days): the units given in
    (previous output day, this day], day 0 included in the first."""

    death_day: np.ndarray
    death_cause: np.ndarray
    units: dict[str, np.ndarray]
    units_per_day: dict[str, np.ndarray]
    first_transfusion_day: np.ndarray
    first_bleeding_day: np.ndarray  # a first bleeding episode (WHO grade >= 2)

    def alive(self, days: np.ndarray) -> np.ndarray:
        """(patients, days): alive on each output day (before its death)."""
        death = np.where(np.isnan(self.death_day), np.inf, self.death_day)
        return np.asarray(days)[None, :] < death[:, None]


def outcomes(
    n_patients: int,
    days: np.ndarray,
    event_log: Iterable[tuple[int, float, str]],
    parameters: Mapping[str, np.ndarray],
) -> Outcomes:
    """Outcomes of ``n_patients`` from their ``event_log`` (patient, day, name);
    units per transfusion episode come from ``parameters`` (one per patient)."""
    death_day = np.full(n_patients, np.nan)
    death_cause = np.full(n_patients, None, dtype=object)
    first = np.full(n_patients, np.nan)
    bleeding = np.full(n_patients, np.nan)
    per_day = {product: np.zeros((n_patients, len(days))) for product, _ in TRANSFUSIONS.values()}
    units_of = {  # units per episode of each transfusion event, per patient
        name: np.broadcast_to(np.asarray(parameters[units], dtype=float), (n_patients,))
        for name, (_, units) in TRANSFUSIONS.items()
    }
    for patient, day, name in event_log:
        if name in _CAUSE_OF:
            death_day[patient] = day
            death_cause[patient] = _CAUSE_OF[name]
        elif name == BLEEDING_EPISODE_EVENT:
            bleeding[patient] = day
        elif name in TRANSFUSIONS:
            product = TRANSFUSIONS[name][0]
            k = min(int(np.searchsorted(days, day, side="left")), len(days) - 1)
            per_day[product][patient, k] += units_of[name][patient]
            if not day >= first[patient]:  # also where first is NaN
                first[patient] = day
    return Outcomes(
        death_day,
        death_cause,
        {product: values.sum(axis=1) for product, values in per_day.items()},
        per_day,
        first,
        bleeding,
    )
