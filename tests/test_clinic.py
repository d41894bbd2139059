"""Severity (Camitta) and NIH response classifiers, at their thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from marrowsim.clinic import nih_response, severity


@pytest.mark.parametrize(
    ("hb", "anc", "platelets", "retic", "cellularity", "expected"),
    [
        (14.5, 4.0, 250, 45, 55, "none"),
        (9.0, 1.0, 80, 45, 30, "non_severe"),  # two cytopenias, hypocellular
        (9.0, 1.0, 80, 45, 45, "none"),  # not hypocellular
        (9.0, 0.4, 15, 70, 20, "severe"),  # ANC and platelets
        (9.0, 0.4, 60, 50, 20, "severe"),  # ANC and reticulocytes
        (9.0, 0.4, 15, 70, 30, "non_severe"),  # severe counts, cellularity 30%
        (9.0, 0.6, 25, 50, 20, "non_severe"),  # only one severe count criterion
        (9.0, 0.19, 15, 50, 10, "very_severe"),
        (9.0, 0.2, 15, 50, 10, "severe"),  # ANC < 0.2 is strict
    ],
)
def test_camitta_severity(hb, anc, platelets, retic, cellularity, expected):
    assert severity(hb, anc, platelets, retic, cellularity) == expected


@pytest.mark.parametrize(
    ("hb", "anc", "platelets", "retic", "expected"),
    [
        (10.0, 1.0, 100, 40, "complete"),
        (9.9, 1.0, 100, 40, "partial"),
        (8.0, 0.6, 30, 40, "partial"),  # one severe count criterion left
        (8.0, 0.4, 30, 40, "none"),  # ANC and reticulocytes still severe
        (8.0, 0.4, 10, 80, "none"),
    ],
)
def test_nih_response(hb, anc, platelets, retic, expected):
    assert nih_response(hb, anc, platelets, retic) == expected


def test_classifiers_work_elementwise():
    hb = np.array([14.5, 9.0])
    labels = severity(
        hb, np.array([4.0, 0.1]), np.array([250, 5]), np.array([45, 5]), np.array([55, 5])
    )
    assert list(labels) == ["none", "very_severe"]
