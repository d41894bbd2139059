"""Clinical readouts: severity, response, and per-patient events."""

from marrowsim.clinic.severity import (
    RESPONSE_LEVELS,
    SEVERITY_LEVELS,
    nih_response,
    nih_response_code,
    severity,
    severity_code,
)

__all__ = [
    "RESPONSE_LEVELS",
    "SEVERITY_LEVELS",
    "nih_response",
    "nih_response_code",
    "severity",
    "severity_code",
]
