"""Regenerate default_model_baseline.json (run from the project root):

    .venv/bin/python tests/data/make_default_model_baseline.py

The baseline pins the default model's numbers bitwise, so an engine change
that should not change them (events, step control, code generation) is
checked against it. Regenerate it only when the model changes on purpose, with
the code from before an engine change, and say so in the commit.
"""

from __future__ import annotations

import json
from pathlib import Path

import marrowsim

SETTINGS = {"scenario": "immune-aa", "patients": 3, "seed": 4, "days": 400, "every": 50}
# the integrator's settings, stated so that the baseline pins the engine and
# the model, not the defaults (the defaults were looser from 0.x on: rtol 1e-5)
SOLVER = {"rtol": 1e-6, "atol": 1e-8}


def main() -> None:
    result = marrowsim.simulate(
        SETTINGS["scenario"],
        patients=SETTINGS["patients"],
        seed=SETTINGS["seed"],
        days=SETTINGS["days"],
        every=SETTINGS["every"],
        solver=marrowsim.Solver(**SOLVER),
    )
    stored = dict(SETTINGS)
    stored["solver"] = SOLVER
    stored["readout_names"] = list(result.readout_names)
    stored["readouts"] = result.readouts.tolist()
    stored["steps"] = result.steps.tolist()
    stored["rejected"] = result.rejected.tolist()
    stored["events"] = [list(row) for row in result.event_log]
    path = Path(__file__).with_name("default_model_baseline.json")
    path.write_text(json.dumps(stored))


if __name__ == "__main__":
    main()
