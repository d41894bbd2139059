"""Figures from results; plotting never runs a simulation."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from marrowsim.result import Result

# (readout, label, normal range, severe threshold) for the four panels
PANELS = (
    ("hb", "Hemoglobin (g/dL)", (12.0, 17.5), None),
    ("anc", "ANC (10^9/L)", (1.8, 7.7), 0.5),
    ("platelets", "Platelets (10^9/L)", (150.0, 400.0), 20.0),
    ("retic", "Reticulocytes (10^9/L)", (25.0, 100.0), 60.0),
)


def plot_timecourse(result: Result, path: Path) -> None:
    """Hb, ANC, platelets and reticulocytes over time, with normal ranges
    (shaded) and severe-AA thresholds (dashed). A cohort is drawn as its median
    and 5-95% band."""
    # a Figure drawn by the Agg canvas directly: no pyplot (its import and
    # figure manager cost about 0.3 s of a one-patient run), same pixels
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 7))
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2, sharex=True)
    days = result.days
    for ax, (name, label, normal, severe) in zip(axes.flat, PANELS, strict=True):
        values = result.readout(name)
        ax.axhspan(*normal, color="tab:green", alpha=0.12, label="normal range")
        if severe is not None:
            ax.axhline(
                severe, color="tab:red", linestyle="--", linewidth=1, label="severe AA threshold"
            )
        if result.n_patients == 1:
            ax.plot(days, values[0], color="tab:blue", linewidth=1.8, label="patient")
        else:
            percentile = np.percentile if np.isfinite(values).all() else np.nanpercentile
            low, mid, high = percentile(values, [5, 50, 95], axis=0)
            ax.fill_between(days, low, high, color="tab:blue", alpha=0.25, label="5-95%")
            ax.plot(days, mid, color="tab:blue", linewidth=1.8, label="median")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("day")
    axes[0, 0].legend(loc="lower left", fontsize=8)
    who = "typical patient" if result.typical else f"{result.n_patients} virtual patients"
    fig.suptitle(f"marrowsim: {result.scenario.name} ({who})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_survival(result: Result, path: Path) -> None:
    """The Kaplan-Meier survival curve of a cohort with its 95% band (lifelines'
    estimate; censored at the end of the run), deaths by cause below it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from marrowsim.clinic.survival import kaplan_meier

    death_day = result.outcomes.death_day[result.succeeded]
    end = float(result.days[-1])
    days = result.days
    estimate, low, high = kaplan_meier(death_day, end, days)
    fig = Figure(figsize=(8, 5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.fill_between(days, low, high, step="post", color="tab:blue", alpha=0.25, label="95% CI")
    ax.step(days, estimate, where="post", color="tab:blue", linewidth=1.8, label="Kaplan-Meier")
    causes = result.outcomes.death_cause[result.succeeded]
    counts = ", ".join(
        f"{cause} {int(np.sum(causes == cause))}"
        for cause in ("infection", "bleeding", "anaemia")
        if np.any(causes == cause)
    )
    enrolled = result.diagnosis_day is not None
    after = " from enrolment" if result.scenario.enrolment_delay_days else " from diagnosis"
    ax.set_xlabel("day" + (after if enrolled else ""))
    ax.set_ylabel("fraction alive")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(days[0], days[-1])
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    who = "typical patient" if result.typical else f"{result.n_patients} virtual patients"
    title = f"marrowsim: {result.scenario.name} ({who}) survival"
    ax.set_title(title + (f"\ndeaths: {counts}" if counts else "\nno deaths"), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_response(result: Result, path: Path) -> None:
    """NIH response of a treated cohort: the fraction responding each day from
    the treatment start (complete, and partial or better; of all the patients
    treated by that day, so the dead count as not responding), and the fractions
    at the 3, 6 and 12-month landmarks as stacked bars (the dead count as not
    responding)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from marrowsim.clinic.response import RESPONSE_LANDMARKS

    responses = result.responses
    ok = result.succeeded & np.isfinite(responses.treatment_start)
    daily = responses.daily[ok]
    # over every patient treated by that day: the dead count as not responding
    started_by = result.days[None, :] >= responses.treatment_start[ok][:, None]
    treated = started_by
    started = np.maximum(started_by.sum(axis=0), 1)
    fig = Figure(figsize=(10, 4.5))
    FigureCanvasAgg(fig)
    curve, bars = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    days = result.days
    overall = np.where(treated.any(axis=0), (daily >= 1).sum(axis=0) / started, np.nan)
    complete = np.where(treated.any(axis=0), (daily == 2).sum(axis=0) / started, np.nan)
    curve.plot(days, overall, color="tab:blue", linewidth=1.8, label="partial or complete")
    curve.plot(days, complete, color="tab:green", linewidth=1.8, label="complete")
    curve.set_xlabel("day")
    curve.set_ylabel("fraction of the treated responding")
    curve.set_ylim(0, 1.02)
    curve.grid(alpha=0.3)
    curve.legend(loc="upper left", fontsize=8)
    summary = result.summary["response"]
    names = [name for name in RESPONSE_LANDMARKS if summary[name]["patients"]]
    complete_at = [summary[name]["complete"] for name in names]
    partial_at = [summary[name]["partial"] for name in names]
    labels = [name.replace("_", " ") for name in names]
    bars.bar(labels, complete_at, color="tab:green", label="complete")
    bars.bar(labels, partial_at, bottom=complete_at, color="tab:blue", label="partial")
    bars.set_ylim(0, 1.02)
    bars.set_ylabel("fraction at the landmark")
    bars.grid(alpha=0.3, axis="y")
    bars.legend(loc="upper left", fontsize=8)
    who = "typical patient" if result.typical else f"{result.n_patients} virtual patients"
    fig.suptitle(f"marrowsim: {result.scenario.name} ({who}): NIH response")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
