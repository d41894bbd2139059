"""Transplant readouts per patient: neutrophil engraftment and graft failure.

Neutrophil engraftment is the first of three consecutive days with ANC above
0.5 x 10^9/L after the infusion (the EBMT/CIBMTR definition), counted in days
after the infusion (day 0 of the transplant); it is read on the output days,
so it needs daily outputs (``every: 1``) to be exact. Graft failure is the
per-patient draw of the transplant mechanism (``graft_course``), counted where
the patient is alive when the rejection begins: ``primary`` (rejected before
engraftment) or ``secondary`` (a graft lost after it had engrafted).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from marrowsim.mechanisms.salvage import is_salvage_course
from marrowsim.mechanisms.transplant import graft_course

ENGRAFTMENT_ANC_ABOVE = 0.5  # 10^9/L
ENGRAFTMENT_DAYS = 3  # consecutive days


def transplant_given(
    parameters: Mapping[str, np.ndarray], n_patients: int, switched: np.ndarray | None = None
) -> np.ndarray:
    """(patients,) True where a transplant is given: a salvage transplant
    (``mechanisms.salvage``) only to the patients ``switched`` to it ((patients,)
    bool, from the event log; None: nobody)."""

    def value(name: str) -> np.ndarray:
        default = np.zeros(n_patients)
        return np.broadcast_to(np.asarray(parameters.get(name, default), dtype=float), n_patients)

    dose = value("transplant_cd34_dose_1e6_per_kg")
    salvage = is_salvage_course(
        value("salvage_rule"),
        value("salvage_assessment_day"),
        value("transplant_start_day"),
        dose,
    )
    chosen = np.zeros(n_patients, dtype=bool) if switched is None else np.asarray(switched)
    return (dose > 0) & (~salvage | chosen)


def _course(parameters: Mapping[str, np.ndarray], n_patients: int) -> dict[str, np.ndarray]:
    values = {
        name: np.broadcast_to(np.asarray(value, dtype=float), (n_patients,))
        for name, value in parameters.items()
    }
    return {
        name: np.broadcast_to(np.asarray(value, dtype=float), (n_patients,))
        for name, value in graft_course(values).items()
    }


def anc_engraftment_day(
    days: np.ndarray,
    anc: np.ndarray,
    alive: np.ndarray,
    parameters: Mapping[str, np.ndarray],
    given: np.ndarray,
) -> np.ndarray:
    """(patients,) days after the infusion to neutrophil engraftment; NaN where
    no transplant is ``given`` ((patients,) bool: :func:`transplant_given`) or
    the ANC never engrafts while alive."""
    n = anc.shape[0]
    out = np.full(n, np.nan)
    if not given.any():
        return out
    infusion = _course(parameters, n)["infusion_day"]
    above = (anc > ENGRAFTMENT_ANC_ABOVE) & alive
    for i in np.flatnonzero(given):
        after = np.flatnonzero(days > infusion[i])
        run = 0
        for k in after:
            run = run + 1 if above[i, k] else 0
            if run == ENGRAFTMENT_DAYS:
                out[i] = days[k - ENGRAFTMENT_DAYS + 1] - infusion[i]
                break
    return out


def graft_failure(
    parameters: Mapping[str, np.ndarray],
    death_day: np.ndarray,
    end_day: float,
    given: np.ndarray,
) -> np.ndarray:
    """(patients,) ``primary``, ``secondary`` or None: the drawn graft failure
    of a patient ``given`` a transplant ((patients,) bool:
    :func:`transplant_given`) alive (and still simulated) when its rejection
    begins."""
    n = len(death_day)
    out = np.full(n, None, dtype=object)
    if not given.any():
        return out
    course = _course(parameters, n)
    rejection = course["rejection_day"]
    alive = ~(death_day <= rejection) & (rejection <= end_day)
    failed = (course["failed"] > 0) & alive & given
    out[failed & (course["primary"] > 0)] = "primary"
    out[failed & ~(course["primary"] > 0)] = "secondary"
    return out
