"""Severity of aplastic anemia and response to treatment, as clinicians read them.

Thresholds follow ``../shared/targets/targets.yaml`` (``criteria``):

* severe AA (Camitta 1975 as used by NIH, Desmond et al. Semin Hematol 2014):
  marrow cellularity < 25% and at least two of ANC < 0.5, platelets < 20,
  absolute reticulocytes < 60 (10^9/L);
* very severe AA (Bacigalupo modification): severe with ANC < 0.2;
* non-severe AA: hypocellular marrow (below the lower normal limit, 40%) with at
  least two cytopenias of Hb < 10 g/dL, ANC < 1.5, platelets < 50 (the British
  guideline's diagnostic thresholds; Killick et al., Br J Haematol 2016), not
  meeting the severe criteria;
* NIH response (Townsley et al., NEJM 2017, Table 2): complete = ANC >= 1.0 and
  Hb >= 10 and platelets >= 100; partial = blood counts no longer meeting the
  severe count criteria; none otherwise.
"""

from __future__ import annotations

import numpy as np

from marrowsim.clinic.definitions import (
    COMPLETE_ANC_AT_LEAST,
    COMPLETE_HB_AT_LEAST,
    COMPLETE_PLATELETS_AT_LEAST,
    HYPOCELLULAR_BELOW,
    NON_SEVERE_ANC_BELOW,
    NON_SEVERE_HB_BELOW,
    NON_SEVERE_PLATELETS_BELOW,
    SEVERE_ANC_BELOW,
    SEVERE_CELLULARITY_BELOW,
    SEVERE_PLATELETS_BELOW,
    SEVERE_RETIC_BELOW,
    SEVERITY_LEVELS,
    VERY_SEVERE_ANC_BELOW,
)


def severe_count_criteria(anc: np.ndarray, platelets: np.ndarray, retic: np.ndarray) -> np.ndarray:
    """Number of severe peripheral-blood criteria met (0..3)."""
    return (
        (np.asarray(anc) < SEVERE_ANC_BELOW).astype(int)
        + (np.asarray(platelets) < SEVERE_PLATELETS_BELOW)
        + (np.asarray(retic) < SEVERE_RETIC_BELOW)
    )


def severity_code(
    hb: np.ndarray,
    anc: np.ndarray,
    platelets: np.ndarray,
    retic: np.ndarray,
    cellularity: np.ndarray,
) -> np.ndarray:
    """Severity as an integer index into ``SEVERITY_LEVELS`` (elementwise);
    -1 where a count is missing (NaN: a failed integration)."""
    hb, anc, platelets, retic, cellularity = (
        np.asarray(x, dtype=float) for x in (hb, anc, platelets, retic, cellularity)
    )
    severe = (cellularity < SEVERE_CELLULARITY_BELOW) & (
        severe_count_criteria(anc, platelets, retic) >= 2
    )
    very_severe = severe & (anc < VERY_SEVERE_ANC_BELOW)
    cytopenias = (
        (hb < NON_SEVERE_HB_BELOW).astype(int)
        + (anc < NON_SEVERE_ANC_BELOW)
        + (platelets < NON_SEVERE_PLATELETS_BELOW)
    )
    non_severe = (cellularity < HYPOCELLULAR_BELOW) & (cytopenias >= 2)
    code = np.zeros(np.broadcast(hb, anc).shape, dtype=np.int8)
    code[non_severe] = 1
    code[severe] = 2
    code[very_severe] = 3
    missing = (
        np.isnan(hb) | np.isnan(anc) | np.isnan(platelets) | np.isnan(retic) | np.isnan(cellularity)
    )
    code[missing] = -1
    return code


def severity(
    hb: np.ndarray,
    anc: np.ndarray,
    platelets: np.ndarray,
    retic: np.ndarray,
    cellularity: np.ndarray,
) -> np.ndarray:
    """Severity labels (``none``, ``non_severe``, ``severe``, ``very_severe``;
    None where a count is missing)."""
    code = severity_code(hb, anc, platelets, retic, cellularity)
    labels = np.asarray(SEVERITY_LEVELS, dtype=object)[np.maximum(code, 0).ravel()].reshape(
        code.shape
    )
    labels[code < 0] = None
    return labels


RESPONSE_LEVELS = ("none", "partial", "complete")


def nih_response_code(
    hb: np.ndarray, anc: np.ndarray, platelets: np.ndarray, retic: np.ndarray
) -> np.ndarray:
    """NIH haematological response as an index into ``RESPONSE_LEVELS``."""
    hb, anc, platelets, retic = (np.asarray(x, dtype=float) for x in (hb, anc, platelets, retic))
    complete = (
        (anc >= COMPLETE_ANC_AT_LEAST)
        & (hb >= COMPLETE_HB_AT_LEAST)
        & (platelets >= COMPLETE_PLATELETS_AT_LEAST)
    )
    partial = severe_count_criteria(anc, platelets, retic) < 2
    code = np.zeros(np.broadcast(hb, anc).shape, dtype=np.int8)
    code[partial] = 1
    code[complete] = 2
    return code


def nih_response(
    hb: np.ndarray, anc: np.ndarray, platelets: np.ndarray, retic: np.ndarray
) -> np.ndarray:
    """NIH response labels (``none``, ``partial``, ``complete``)."""
    return np.asarray(RESPONSE_LEVELS, dtype=object)[nih_response_code(hb, anc, platelets, retic)]
