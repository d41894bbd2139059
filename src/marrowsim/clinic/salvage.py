"""Salvage switches per patient, read from the event log: who was switched
after non-response at the assessment (``mechanisms.salvage``), to what, and
on which day (from day 0 of the outputs)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from marrowsim.mechanisms.salvage import SECOND_COURSE_EVENT, TRANSPLANT_EVENT

KINDS = {TRANSPLANT_EVENT: "transplant", SECOND_COURSE_EVENT: "second_course"}


@dataclass(frozen=True)
class Salvaged:
    """Shapes (patients,): ``kind`` ("transplant", "second_course" or None)
    and ``day`` (NaN where not switched)."""

    kind: np.ndarray
    day: np.ndarray

    @property
    def transplant(self) -> np.ndarray:
        """(patients,) True where switched to the salvage transplant."""
        return self.kind == KINDS[TRANSPLANT_EVENT]


def salvaged(n_patients: int, event_log: Iterable[tuple[int, float, str]]) -> Salvaged:
    """The switches of ``n_patients`` from their ``(patient, day, event)`` log
    (a patient is switched at most once: the assessment is one moment)."""
    kind = np.full(n_patients, None, dtype=object)
    day = np.full(n_patients, np.nan)
    for patient, when, event in event_log:
        if event in KINDS:
            kind[patient] = KINDS[event]
            day[patient] = when
    return Salvaged(kind, day)
