"""Response to treatment, read as trials read it.

NIH haematological response (Townsley et al., NEJM 2017;376:1540, Table 2;
``severity.nih_response_code``): complete = ANC >= 1.0, Hb >= 10 and
platelets >= 100; partial = blood counts no longer meeting the severe count
criteria; none otherwise. A response also needs transfusion independence
(Camitta, Semin Hematol 2000;37:69): a count raised by donor cells is not the
patient's own, so a day within ``TRANSFUSION_FREE_DAYS`` of a red-cell or
platelet transfusion reads as no response.

Read per patient from its treatment start (the earliest start of a treatment
it is given; ``definitions.TREATMENTS``):

* ``response_<3m|6m|12m>``: the response on the output day at or just before
  each landmark (``RESPONSE_LANDMARKS`` days after the start); a patient dead
  by then has none (intention to treat); None past the end of the run or
  without treatment;
* ``first_response_day``: the first day with a partial or complete response;
* ``relapse_day``: the first day after a response on which it is lost again
  (counts back within the severe criteria, or a transfusion needed).

A patient switched to salvage (a transplant or a second course after
non-response at the assessment: ``mechanisms.salvage``) is a first-line
failure: no day after the switch reads as a response.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from marrowsim.clinic.definitions import TREATMENTS
from marrowsim.clinic.severity import RESPONSE_LEVELS, nih_response_code

RESPONSE_LANDMARKS = {"3_months": 91.0, "6_months": 182.0, "12_months": 365.0}
RESPONSE_COLUMNS = {
    "3_months": "response_3m",
    "6_months": "response_6m",
    "12_months": "response_12m",
}
# transfusion independence for 8 weeks (as eltrombopag trials count it:
# Olnes et al., NEJM 2012;367:11)
TRANSFUSION_FREE_DAYS = 56.0


@dataclass(frozen=True)
class Responses:
    """Shapes (patients,) except ``daily`` (patients, days: the response code
    0 none, 1 partial, 2 complete; -1 dead or not yet treated)."""

    treatment_start: np.ndarray
    daily: np.ndarray
    at: dict[str, np.ndarray]  # landmark -> labels (object: None where not reached)
    first_response_day: np.ndarray
    relapse_day: np.ndarray


def treatment_start(parameters: Mapping[str, np.ndarray], n_patients: int) -> np.ndarray:
    """Each patient's earliest start of a treatment it is given (NaN: none)."""
    start = np.full(n_patients, np.inf)
    for dose, day in TREATMENTS.values():
        if dose not in parameters:
            continue
        given = np.broadcast_to(np.asarray(parameters[dose], dtype=float), (n_patients,)) > 0
        first = np.broadcast_to(np.asarray(parameters[day], dtype=float), (n_patients,))
        start = np.where(given, np.minimum(start, first), start)
    return np.where(np.isinf(start), np.nan, start)


def responses(
    days: np.ndarray,
    readouts: Mapping[str, np.ndarray],
    alive: np.ndarray,
    transfused: np.ndarray,
    start: np.ndarray,
    switched_day: np.ndarray | None = None,
) -> Responses:
    """Responses from the readouts ``hb``, ``anc``, ``platelets``, ``retic``
    (patients, days), ``alive`` and ``transfused`` (patients, days: units
    given since the previous output day) and each patient's treatment
    ``start`` (NaN: untreated). ``switched_day`` (patients,; NaN: never) is
    the day a non-responder was switched to a salvage transplant or second
    course (``mechanisms.salvage``): the first-line treatment has failed, so
    every later day reads as no response (counts a transplant or a second
    course raises are not a response to the first line)."""
    days = np.asarray(days, dtype=float)
    n = alive.shape[0]
    code = nih_response_code(
        readouts["hb"], readouts["anc"], readouts["platelets"], readouts["retic"]
    ).astype(np.int8)
    # transfusions in the window (day - TRANSFUSION_FREE_DAYS, day]
    given = np.concatenate([np.zeros((n, 1)), np.cumsum(transfused > 0, axis=1)], axis=1)
    window_start = np.searchsorted(days, days - TRANSFUSION_FREE_DAYS, side="right")
    recent = given[:, 1:] - given[:, window_start] > 0
    code[recent] = 0
    # a response comes after the start (False where start is NaN); a day
    # whose counts are missing (a failed integration) reads as nothing
    treated = days[None, :] > start[:, None]
    counted = np.isfinite(
        np.asarray(readouts["hb"], dtype=float)
        + np.asarray(readouts["anc"], dtype=float)
        + np.asarray(readouts["platelets"], dtype=float)
        + np.asarray(readouts["retic"], dtype=float)
    )
    if switched_day is not None:
        code[(days[None, :] > np.asarray(switched_day, dtype=float)[:, None]) & (code > 0)] = 0
    code[~(alive & treated & counted)] = -1
    labels = np.asarray(RESPONSE_LEVELS, dtype=object)
    at: dict[str, np.ndarray] = {}
    for name, offset in RESPONSE_LANDMARKS.items():
        values = np.full(n, None, dtype=object)
        when = start + offset
        reached = np.isfinite(when) & (when <= days[-1] + 1e-9)
        k = np.clip(np.searchsorted(days, when + 1e-9, side="right") - 1, 0, len(days) - 1)
        picked = code[np.arange(n), k]
        values[reached] = labels[np.maximum(picked[reached], 0)]
        # dead by then: no response; counts missing (failed): not read
        missing = reached & alive[np.arange(n), k] & ~counted[np.arange(n), k]
        values[missing] = None
        at[name] = values
    responding = code >= 1
    hit = responding.any(axis=1)
    first_index = np.argmax(responding, axis=1)
    first = np.where(hit, days[first_index], np.nan)
    after = (days[None, :] > first[:, None]) & (code == 0)
    lost = after.any(axis=1)
    relapse = np.where(lost, days[np.argmax(after, axis=1)], np.nan)
    return Responses(start, code, at, first, relapse)
