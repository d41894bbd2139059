"""``report.md``: a trial's design, enrolment, per-arm endpoints with their
intervals, comparisons and figures, readable on its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from marrowsim.trials.spec import Trial

DISCLAIMER = (
    "A virtual trial of a mechanistic model, for research and teaching; never a basis"
    " for treating a patient."
)


def _value(x: Any, percent: bool = False) -> str:
    if x is None or (isinstance(x, float) and x != x):
        return "-"
    if percent:
        return f"{100 * float(x):.1f}%"
    return f"{float(x):.3g}"


def _interval(low: Any, high: Any, percent: bool = False) -> str:
    if low is None or high is None or low != low or high != high:
        return "-"
    return f"{_value(low, percent)} to {_value(high, percent)}"


def _p(p: Any) -> str:
    if p is None or p != p:
        return "-"
    return "< 0.0001" if p < 1e-4 else f"{float(p):.4f}"


def _design_lines(trial: Trial, summary: Mapping[str, Any]) -> list[str]:
    design = summary["design"]
    lines = [
        f"# Virtual trial: {trial.name}",
        "",
        f"_{DISCLAIMER}_ marrowsim {summary['marrowsim_version']}, seed {trial.seed}.",
        "",
    ]
    if trial.description:
        lines += [trial.description, ""]
    lines += [
        "## Design",
        "",
        f"- Population: `{design['population']}`"
        + (f" with {design['population_set']}" if design["population_set"] else ""),
        f"- Inclusion: {'; '.join(design['inclusion']) or 'all diagnosed'}",
        f"- Exclusion: {'; '.join(design['exclusion']) or 'none'}",
        "- Arms: "
        + "; ".join(
            f"**{name}** (`{a['scenario']}`{', ' + str(a['set']) if a['set'] else ''}, ratio {a['ratio']})"
            for name, a in design["arms"].items()
        ),
        f"- Allocation: permuted blocks of {design['block_size']}"
        + (f", stratified by {', '.join(design['stratify'])}" if design["stratify"] else "")
        + f"; {design['patients_per_arm']} patients per ratio unit",
        f"- Follow-up: {design['follow_up_days']:g} days from enrolment (the start of treatment)",
        f"- Reference arm: {design['reference']}; two-sided alpha {design['alpha']:g}",
        "",
    ]
    return lines


def report(
    trial: Trial, summary: Mapping[str, Any], arms: pd.DataFrame, comparisons: pd.DataFrame
) -> str:
    lines = _design_lines(trial, summary)
    sizes = ", ".join(f"{k} {v}" for k, v in summary["arm_patients"].items())
    lines += [
        "## Enrolment",
        "",
        f"{summary['screened']:,} virtual patients screened; {summary['enrolled']:,} eligible"
        f" enrolled ({sizes}).",
        "",
        "## Endpoints by arm",
        "",
        "| endpoint | arm | patients | events | estimate | 95% interval | method |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in arms.itertuples():
        lines.append(
            f"| {row.description} | {row.arm} | {row.patients} | {row.events} |"
            f" {_value(row.estimate, True)} | {_interval(row.ci95_low, row.ci95_high, True)} |"
            f" {row.method} |"
        )
    lines += [
        "",
        "## Comparisons",
        "",
        "| endpoint | comparison | difference | 95% interval | ratio (OR or HR) | 95% interval | p | test |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in comparisons.itertuples():
        odds = pd.notna(row.odds_ratio)
        ratio, kind = (row.odds_ratio, "OR") if odds else (row.hazard_ratio, "HR")
        lines.append(
            f"| {row.endpoint} | {row.comparison} | {_value(row.difference, True)} |"
            f" {_interval(row.difference_ci95_low, row.difference_ci95_high, True)} |"
            f" {kind} {_value(ratio)} | {_interval(row.ratio_ci95_low, row.ratio_ci95_high)} |"
            f" {_p(row.p_value)} | {row.test} |"
        )
    lines += [
        "",
        "Differences are the arm minus the reference, in percentage points of the",
        "proportion (or survival, or cumulative response) at the endpoint's time.",
        "",
        "## Figures",
        "",
        "![Overall survival by arm](survival.png)",
        "",
        "![Endpoint differences](forest.png)",
        "",
        "Per-arm daily quantile bands (5, 25, 50, 75, 95%) of every readout are in",
        "`bands.parquet`; one row per patient (arm, covariates at enrolment, drawn",
        "parameters, events) in `patients.parquet`.",
        "",
    ]
    return "\n".join(lines)


def power_report(trial: Trial, summary: Mapping[str, Any], table: pd.DataFrame) -> str:
    lines = _design_lines(trial, summary)
    lines += [
        "## Power",
        "",
        f"The whole trial replicated {summary['replicates']} times from seeds derived from"
        f" {trial.seed} (new patients and a new allocation each time); power is the fraction"
        f" of replicates in which the comparison is significant at {trial.alpha:g}.",
        "",
        "| comparison | endpoint | significant | power | 95% interval |",
        "|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        lines.append(
            f"| {row.comparison} | {row.endpoint} | {row.significant} of {row.replicates} |"
            f" {_value(row.power, True)} | {_interval(row.ci95_low, row.ci95_high, True)} |"
        )
    return "\n".join(lines) + "\n"
