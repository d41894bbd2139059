"""Per-patient clinical events read off a simulated course."""

from __future__ import annotations

import numpy as np

from marrowsim.clinic.severity import SEVERITY_LEVELS

# the readouts whose nadirs (value and day) each patient's row reports
NADIR_READOUTS = ("hb", "anc", "platelets", "retic", "cellularity")


def first_day(mask: np.ndarray, days: np.ndarray) -> np.ndarray:
    """First output day on which ``mask`` (patients, days) holds, else NaN."""
    hit = mask.any(axis=1)
    first = np.argmax(mask, axis=1)
    return np.where(hit, days[first], np.nan)


def patient_events(
    days: np.ndarray,
    readouts: dict[str, np.ndarray],
    severity_code: np.ndarray,
    alive: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Events per patient: onset days of each severity, worst severity, nadirs.

    ``readouts[name]``, ``severity_code`` and ``alive`` have shape (patients,
    days); events are read on the days the patient is alive (all if
    ``alive`` is None). A patient whose integration failed (counts missing
    while alive) gets no events: empty (NaN or None), never "none".
    """
    if alive is None:
        alive = np.ones(severity_code.shape, dtype=bool)
    failed = ((severity_code < 0) & alive).any(axis=1)
    severity_code = np.where(alive, severity_code, -1)
    # only the readouts whose nadirs are read (a trial chunk's are 1000 x 731 each)
    readouts = {name: np.where(alive, readouts[name], np.nan) for name in NADIR_READOUTS}
    worst = severity_code.max(axis=1)
    labels = np.asarray(SEVERITY_LEVELS, dtype=object)[np.maximum(worst, 0)]
    labels[failed] = None
    events: dict[str, np.ndarray] = {
        "first_non_severe_day": first_day(severity_code >= 1, days),
        "first_severe_day": first_day(severity_code >= 2, days),
        "first_very_severe_day": first_day(severity_code >= 3, days),
        "worst_severity": labels,
    }
    for name in NADIR_READOUTS:
        values = readouts[name]
        finite = np.where(np.isnan(values), np.inf, values)
        lowest = finite.min(axis=1, keepdims=True)
        # the first day at the minimum, round-off ties included (flat courses)
        nadir = np.argmax(finite <= lowest + 1e-9 * np.abs(lowest), axis=1)
        events[f"{name}_nadir"] = values[np.arange(values.shape[0]), nadir]
        events[f"{name}_nadir_day"] = days[nadir].astype(float)
    for values in events.values():
        if values.dtype.kind == "f":
            values[failed] = np.nan
    return events
