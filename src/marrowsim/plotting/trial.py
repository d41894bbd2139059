"""A trial's figures: Kaplan-Meier curves per arm with their 95% bands, and a
forest plot of each endpoint's difference between arms. Reads results only."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from marrowsim.trials.analysis import time_to_event
from marrowsim.trials.spec import Endpoint, Trial


def plot_trial_survival(trial: Trial, frame: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from lifelines import KaplanMeierFitter

    survival = Endpoint("overall_survival", "overall_survival", trial.follow_up_days)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for arm in trial.arms:
        rows = frame[frame["arm"] == arm.name]
        time, event = time_to_event(survival, rows, trial.follow_up_days)
        fitter = KaplanMeierFitter(label=f"{arm.name} (n={len(rows)})").fit(time, event == 1)
        fitter.plot_survival_function(ax=ax, ci_show=True)
    ax.set_xlabel("days from enrolment (start of treatment)")
    ax.set_ylabel("overall survival")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{trial.name}: overall survival (Kaplan-Meier, 95% band)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_forest(trial: Trial, analysis: Mapping[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for pair, block in analysis["comparisons"].items():
        for ep in trial.endpoints:
            v = block[ep.name]
            rows.append((f"{ep.text()}\n{pair}", v["difference"], *v["difference_ci95"]))
    fig, ax = plt.subplots(figsize=(7, 0.7 * len(rows) + 1.2))
    for k, (_, diff, low, high) in enumerate(reversed(rows)):
        if diff is None:
            continue
        ax.plot([diff * 100], [k], "o", color="black")
        if low is not None and high is not None:
            ax.plot([low * 100, high * 100], [k, k], "-", color="black")
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(np.arange(len(rows)))
    ax.set_yticklabels([r[0] for r in reversed(rows)], fontsize=8)
    ax.set_xlabel("difference, arm minus reference (percentage points, 95% interval)")
    ax.set_title(f"{trial.name}: endpoint differences")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
