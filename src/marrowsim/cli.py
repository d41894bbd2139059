"""Command line: parse -> validate -> API -> write.

Every user error (unknown scenario or key, bad number, missing file, unwritable
folder) ends with one line on stderr naming the field, the value and what is
allowed, and exit status 2; nothing is half-written. SIGINT (Ctrl-C) and
SIGTERM end a command with the line ``aborted`` and status 130 or 143, and
leave ``--out`` as it was.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from marrowsim._version import __version__
from marrowsim.errors import InputError
from marrowsim.io import inputs

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="marrowsim: simulate the bone marrow and aplastic anemia (research and teaching only).",
)
scenarios_app = typer.Typer(
    help="List the built-in scenarios, or show one as YAML.", rich_markup_mode=None
)
app.add_typer(scenarios_app, name="scenarios")
trials_app = typer.Typer(
    help="List the built-in trials, or show one as YAML.", rich_markup_mode=None
)
app.add_typer(trials_app, name="trials")

DEFAULT_SCENARIO = "immune-aa-ist"


def _number(
    option: str,
    text: str | None,
    *,
    whole: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
) -> Any:
    if text is None:
        return None
    shown = inputs.shown(text)
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{option}: {shown} is not a number") from None
    if whole:
        if not value.is_integer():
            raise InputError(f"{option}: {shown} must be a whole number")
        value = int(value)
    if minimum is not None and not value >= minimum:
        raise InputError(f"{option}: {shown} must be >= {minimum:g}")
    if maximum is not None and not value <= maximum:
        raise InputError(f"{option}: {shown} must be <= {maximum:,}")
    if positive and not (0 < value < float("inf")):
        raise InputError(f"{option}: {shown} must be a finite number > 0")
    return value


def _known_key(key: str) -> None:
    """Raise the scenario loader's error for an unknown ``--set`` key."""
    from marrowsim.io.scenario import apply_set

    apply_set({}, key, 0.0)


def _sets(items: list[str]) -> dict[str, Any]:
    from marrowsim.io.scenario import TEXT_FIELDS, parse_value

    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise InputError(
                f"--set: {inputs.shown(item)} must look like KEY=VALUE (e.g. immune.strength=0.5)"
            )
        key = inputs.key("--set", key.strip())
        value = parse_value(text)
        # text only where a key takes text (enrolment, name, description); the
        # scenario loader checks the key first, then the value
        if key not in TEXT_FIELDS and (
            not isinstance(value, int | float) or isinstance(value, bool)
        ):
            _known_key(key)
            raise InputError(f"--set {inputs.plain(key)}: {inputs.shown(text)} is not a number")
        out[key] = value
    return out


# a larger cohort is run in chunks (the outputs are the same, the memory bounded)
AUTO_CHUNK_PATIENTS = 20_000
DEFAULT_RUN_CHUNK = 1000


@app.command()
def run(
    scenario: Annotated[
        str, typer.Argument(help="built-in scenario name or YAML file")
    ] = DEFAULT_SCENARIO,
    days: Annotated[str | None, typer.Option(help="days to simulate")] = None,
    patients: Annotated[
        str | None, typer.Option(help="virtual patients to draw (default: the typical patient)")
    ] = None,
    seed: Annotated[str, typer.Option(help="seed of the virtual cohort")] = "0",
    every: Annotated[str | None, typer.Option(help="output interval in days")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override one scenario key: KEY=VALUE")
    ] = None,
    dosing: Annotated[
        str | None,
        typer.Option(
            "--dosing",
            help="NONMEM-style dosing table (CSV: ID, TIME, EVID, AMT, DRUG or CMT, II, ADDL)"
            " giving the scenario's regimens (as --set regimens_from=FILE)",
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="timecourse format: csv or parquet")] = "csv",
    out: Annotated[str, typer.Option(help="output folder (replaced whole)")] = "out/run",
    workers: Annotated[
        str | None,
        typer.Option(help="threads (default: all cores); with --chunk, Dask worker processes"),
    ] = None,
    chunk: Annotated[
        str | None,
        typer.Option(
            help="run the cohort in chunks of N patients through the trials' executor"
            " (--workers processes, --scheduler, --resume; memory bounded by the"
            " figure's four counts, never the whole timecourse); the same outputs;"
            f" above {AUTO_CHUNK_PATIENTS:,} patients a run goes in chunks of"
            f" {DEFAULT_RUN_CHUNK} here by itself"
        ),
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="with --chunk: a Dask scheduler to join (tcp://HOST:PORT)")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="with --chunk: continue an interrupted run")
    ] = False,
) -> None:
    """Simulate a scenario and write timecourse, patients, summary and figure."""
    from marrowsim.io.results import FORMATS, check_writable, pause_for_tests
    from marrowsim.simulation import simulate

    if fmt not in FORMATS:
        raise InputError(f"--format: {inputs.shown(fmt)} is not one of {', '.join(FORMATS)}")
    n_days = _number("--days", days, positive=True)
    n_patients = _number("--patients", patients, whole=True, minimum=1, maximum=inputs.MAX_PATIENTS)
    n_seed = _number("--seed", seed, whole=True, minimum=0, maximum=2**128)
    n_every = _number("--every", every, positive=True)
    n_workers = _number("--workers", workers, whole=True, minimum=1, maximum=4096)
    n_chunk = _number("--chunk", chunk, whole=True, minimum=1, maximum=100_000)
    overrides = _sets(set_ or [])
    if dosing is not None:
        overrides["regimens_from"] = inputs.path_text("--dosing", dosing)
    threads = None
    if n_chunk is None and n_patients is not None and n_patients > AUTO_CHUNK_PATIENTS:
        # the same outputs in bounded memory, here: --workers keeps its meaning
        # (engine threads) unless --chunk asks for the executor by name
        n_chunk, threads, n_workers = DEFAULT_RUN_CHUNK, n_workers, None
    if n_chunk is None and (scheduler is not None or resume):
        raise InputError(
            f"{'--scheduler' if scheduler is not None else '--resume'}: needs --chunk"
            " (a run in chunks)"
        )
    if n_chunk is not None:
        if n_patients is None:
            raise InputError("--chunk: needs --patients (the typical patient is one patient)")
        from marrowsim.chunked import run_chunked

        if scheduler is not None and n_workers is not None:
            raise InputError("--workers: give --workers or --scheduler, not both")
        bar, progress = _progress_bar()
        with bar:
            view = run_chunked(
                scenario,
                out,
                patients=n_patients,
                seed=n_seed,
                days=n_days,
                every=n_every,
                set=overrides,
                fmt=fmt,
                chunk=n_chunk,
                workers=n_workers or 1,
                scheduler=scheduler,
                resume=resume,
                progress=progress,
                threads=threads,
            )
        _print_summary(view, out)
        return
    folder = check_writable(out)
    pause_for_tests("simulate")

    progress_bar = None
    callback = None
    if n_patients is not None and n_patients > 1000:
        from rich.progress import Progress

        progress_bar = Progress(transient=True)
        task = progress_bar.add_task("simulating", total=n_patients)

        def callback(done: int, total: int) -> None:
            progress_bar.update(task, completed=done)

        progress_bar.start()
    try:
        result = simulate(
            scenario,
            patients=n_patients,
            seed=n_seed,
            days=n_days,
            every=n_every,
            set=overrides,
            workers=n_workers,
            progress=callback,
        )
    finally:
        if progress_bar is not None:
            progress_bar.stop()
    result.write(folder, fmt)
    _print_summary(result, out)


def _print_summary(result: Any, out: str) -> None:
    from rich.console import Console

    console = Console(highlight=False, markup=False)
    s = result.summary
    console.print(f"{s['scenario']}: {result.scenario.description}")
    if result.scenario.parameters:
        settings = ", ".join(f"{k}={v:g}" for k, v in result.scenario.parameters.items())
        console.print(f"parameters set by the scenario or --set: {settings}")
    if result.typical:
        p = result.patients.iloc[0]
        first = result.readouts[0, 0]
        last = result.readouts[0, -1]
        names = result.readout_names
        console.print(f"typical patient, {s['days']:g} days")
        last_day = f"day {s['days']:g}"
        console.print(f"  {'':<20}{'day 0':>9}{'nadir':>10}{'(on day)':>10}{last_day:>10}")
        for name, unit in (
            ("hb", "g/dL"),
            ("anc", "10^9/L"),
            ("platelets", "10^9/L"),
            ("retic", "10^9/L"),
            ("cellularity", "%"),
        ):
            k = names.index(name)
            label = f"{name} ({unit})"
            on_day = f"({p[name + '_nadir_day']:g})"
            console.print(
                f"  {label:<20}{first[k]:>9.3g}{p[name + '_nadir']:>10.3g}{on_day:>10}{last[k]:>10.3g}"
            )
        onset = p["first_severe_day"]
        console.print(
            f"  worst severity: {p['worst_severity']}"
            + ("" if onset != onset else f"; severe criteria first met on day {onset:g}")
        )
        if result.diagnosis_day is not None:
            console.print(
                f"  diagnosed on day {result.diagnosis_day[0]:.1f} of its history; day 0 is"
                f" {result.scenario.enrolment_delay_days:g} days later"
            )
        units = [f"{p[f'{k}_units']:g} {k} units" for k in ("rbc", "platelet") if p[f"{k}_units"]]
        if units:
            console.print(
                f"  transfused: {', '.join(units)}; first on day {p['first_transfusion_day']:.1f}"
            )
        if p["first_bleeding_day"] == p["first_bleeding_day"]:  # not NaN
            console.print(f"  a bleeding episode on day {p['first_bleeding_day']:.1f}")
        landmarks = [(m, p.get(f"response_{m}m")) for m in (3, 6, 12)]
        if any(isinstance(label, str) for _, label in landmarks):
            console.print(
                "  NIH response: "
                + "; ".join(
                    f"{m} months {label}" for m, label in landmarks if isinstance(label, str)
                )
            )
        if p["death_cause"] is not None:
            console.print(f"  died of {p['death_cause']} on day {p['death_day']:.1f}")
        else:
            console.print(f"  alive on day {s['days']:g}")
    else:
        sev = s["severity"]
        who = "1 virtual patient" if s["patients"] == 1 else f"{s['patients']} virtual patients"
        console.print(f"{who} (seed {s['seed']}), {s['days']:g} days")
        console.print(
            f"  ever non-severe or worse {sev['non_severe_or_worse']:.1%}, severe or worse {sev['severe_or_worse']:.1%},"
            f" very severe {sev['very_severe']:.1%}"
        )
        _print_survival(console, result)
        if s["solver"]["failed_patients"]:
            console.print(f"  {s['solver']['failed_patients']} patients failed to integrate")
    console.print(f"wrote {out.rstrip('/')}/")


def _print_survival(console: Any, result: Any) -> None:
    """Who died of what and when, and Kaplan-Meier survival at the landmarks."""
    s = result.summary
    from marrowsim.clinic.definitions import DEATH_CAUSES

    deaths = s["deaths"]
    if result.diagnosis_day is not None:
        delay = result.scenario.enrolment_delay_days
        console.print(
            "  enrolled at diagnosis (day 0 = each patient's diagnosis)"
            if not delay
            else f"  enrolled {delay:g} days after diagnosis (day 0 = the enrolment)"
        )
    if result.selection is not None:
        chosen = result.selection
        console.print(
            f"  selected to match {chosen['distribution']} (counts before treatment):"
            f" {1 / chosen['kept_fraction']:.1f} plausible patients enrolled per patient kept;"
            + ";".join(
                f" {name} {cell['selected']:.0%} (published {cell['published']:.0%})"
                for name, cell in chosen["cells"].items()
            )
        )
    if not deaths["any"]:
        console.print(f"  no deaths by day {s['days']:g}")
    else:
        causes = ", ".join(
            f"{cause} {deaths[cause]:.1%}" for cause in DEATH_CAUSES if deaths[cause]
        )
        console.print(
            f"  died by day {s['days']:g}: {deaths['any']:.1%} ({causes}); median day of death"
            f" among the dead {deaths['median_death_day_of_the_dead']:.0f}"
        )
    landmarks = [
        f"{name.replace('_', ' ')} {v['estimate']:.1%} ({v['ci95'][0]:.1%}-{v['ci95'][1]:.1%})"
        for name, v in s["survival"].items()
        if v is not None
    ]
    if landmarks:
        console.print(f"  survival (Kaplan-Meier, 95% CI): {'; '.join(landmarks)}")
    _print_response(console, s["response"])
    if s["bleeding"]["first_episode"]:
        console.print(
            f"  a bleeding episode (WHO grade >= 2): {s['bleeding']['first_episode']:.1%}"
        )
    rbc = s["transfusions"]["median_rbc_units_per_month"]
    platelets = s["transfusions"]["median_platelet_units_per_month"]
    if rbc or platelets:
        console.print(
            f"  median transfusions per month alive: {rbc:.1f} red-cell, {platelets:.1f} platelet units"
        )
    graft = s["transplant"]
    if graft:
        engraftment = graft["median_anc_engraftment_day"]
        console.print(
            f"  transplant: neutrophils engrafted in {graft['anc_engrafted']:.1%}"
            + (f" (median day {engraftment:g} after the infusion)" if engraftment else "")
            + f"; graft failure {graft['graft_failure']:.1%}"
            f" (primary {graft['primary_graft_failure']:.1%})"
        )


def _print_response(console: Any, response: dict[str, Any]) -> None:
    """NIH response at each landmark reached, relapse and time to response."""
    reached = [
        f"{name.replace('_', ' ')} {v['overall']:.0%} ({v['complete']:.0%} complete)"
        for name, v in response.items()
        if isinstance(v, dict) and v["patients"]
    ]
    if not reached:
        return
    console.print(f"  NIH response from the treatment start: {'; '.join(reached)}")
    if response["responders"]:
        console.print(
            f"  responders {response['responders']}: median {response['median_days_to_first_response']:.0f}"
            f" days to the first response; {response['relapse_of_responders']:.0%} relapse"
        )


@scenarios_app.callback(invoke_without_command=True)
def scenarios(ctx: typer.Context) -> None:
    """List the built-in scenarios with one line each."""
    if ctx.invoked_subcommand is not None:
        return
    from marrowsim.io.scenario import builtin_names, load_scenario

    for name in builtin_names():
        marker = " (default)" if name == DEFAULT_SCENARIO else ""
        typer.echo(f"{name:<18}{load_scenario(name).description}{marker}")


@scenarios_app.command("show")
def scenarios_show(name: Annotated[str, typer.Argument(help="built-in scenario name")]) -> None:
    """Print a built-in scenario's YAML, to copy and edit."""
    from marrowsim.io.scenario import builtin_text

    typer.echo(builtin_text(name), nl=False)


@trials_app.callback(invoke_without_command=True)
def trials(ctx: typer.Context) -> None:
    """List the built-in virtual trials with one line each."""
    if ctx.invoked_subcommand is not None:
        return
    from marrowsim.trials import builtin_names, load_trial

    for name in builtin_names():
        first = load_trial(name).description.split(". ")[0]
        typer.echo(f"{name:<22}{first}")


@trials_app.command("show")
def trials_show(name: Annotated[str, typer.Argument(help="built-in trial name")]) -> None:
    """Print a built-in trial's YAML, to copy and edit."""
    from marrowsim.trials import builtin_text

    typer.echo(builtin_text(name), nl=False)


@app.command()
def trial(
    name: Annotated[str, typer.Argument(help="built-in trial name or YAML file")],
    patients_per_arm: Annotated[
        str | None, typer.Option(help="patients per arm (per ratio unit); default: the file's")
    ] = None,
    seed: Annotated[str | None, typer.Option(help="trial seed (default: the file's)")] = None,
    chunk: Annotated[str, typer.Option(help="patients per task")] = "250",
    workers: Annotated[
        str, typer.Option(help="Dask worker processes on this machine (1: run here, no Dask)")
    ] = "1",
    scheduler: Annotated[
        str | None, typer.Option(help="join a running Dask scheduler, e.g. tcp://HOST:8786")
    ] = None,
    resume: Annotated[bool, typer.Option(help="continue an interrupted run into --out")] = False,
    power: Annotated[
        str, typer.Option(help="replicate the whole trial K times and report its power")
    ] = "0",
    timecourse: Annotated[
        bool, typer.Option(help="also write every patient's daily timecourse (Parquet, by chunk)")
    ] = False,
    out: Annotated[str, typer.Option(help="output folder (replaced whole)")] = "out/trial",
) -> None:
    """Run a virtual clinical trial: report.md, arms.csv, patients.parquet, figures."""
    from marrowsim.io.results import check_writable
    from marrowsim.trials import TRIAL_OUTPUTS, load_trial, run_trial

    n_per_arm = _number(
        "--patients-per-arm", patients_per_arm, whole=True, minimum=1, maximum=500_000
    )
    n_seed = _number("--seed", seed, whole=True, minimum=0, maximum=2**63)
    n_chunk = _number("--chunk", chunk, whole=True, minimum=1, maximum=100_000)
    n_workers = _number("--workers", workers, whole=True, minimum=1, maximum=512)
    n_power = _number("--power", power, whole=True, minimum=0, maximum=10_000)
    if scheduler is not None and n_workers != 1:
        raise InputError("--workers: give --workers or --scheduler, not both")
    spec = load_trial(name, patients_per_arm=n_per_arm, seed=n_seed)
    check_writable(out, extra=TRIAL_OUTPUTS)
    bar, progress = _progress_bar()
    with bar:
        summary = run_trial(
            spec,
            out,
            chunk=int(n_chunk),
            workers=int(n_workers),
            scheduler=scheduler,
            resume=resume,
            power=int(n_power),
            timecourse=timecourse,
            progress=progress,
        )
    _print_trial(summary, out)


def _progress_bar() -> tuple[Any, Callable[[str, int, int], None]]:
    """A progress bar on stderr per phase (screening, patients): done,
    rate and time left; and the callback the chunked executor calls."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def progress(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(phase, total=total, rate="")
        task = tasks[phase]
        elapsed = bar.tasks[task].elapsed or 0.0
        rate = f"{done / elapsed:.0f}/s" if elapsed > 0 and phase == "patients" else ""
        bar.update(task, completed=done, total=total, rate=rate)

    return bar, progress


def _print_trial(summary: dict[str, Any], out: str) -> None:
    typer.echo(f"trial {summary['trial']} (seed {summary['seed']})")
    if "power" in summary:
        for pair, block in summary["power"].items():
            for endpoint, v in block.items():
                low, high = v["ci95"]
                typer.echo(
                    f"  power {pair}, {endpoint}: {v['power']:.0%} ({low:.0%}-{high:.0%})"
                    f" over {summary['replicates']} replicates"
                )
    else:
        typer.echo(
            f"  {summary['screened']:,} screened, {summary['enrolled']:,} enrolled: "
            + ", ".join(f"{k} {v}" for k, v in summary["arm_patients"].items())
        )
        for arm, block in summary["arms"].items():
            parts = []
            for endpoint, v in block["endpoints"].items():
                if v["estimate"] is not None:
                    parts.append(f"{endpoint} {v['estimate']:.0%}")
            typer.echo(f"  {arm}: " + ", ".join(parts))
        for pair, block in summary["comparisons"].items():
            for endpoint, v in block.items():
                if v["difference"] is None:
                    continue
                low, high = v["difference_ci95"]
                interval = f" ({low:+.0%} to {high:+.0%})" if low is not None else ""
                p = v["p_value"]
                typer.echo(
                    f"  {pair}, {endpoint}: {v['difference']:+.0%}{interval}"
                    + (f", p = {p:.3g} ({v['test']})" if p is not None else "")
                )
    typer.echo(f"outputs in {out}/ (report.md)")


@app.command()
def parameters() -> None:
    """List the parameter table: name, value, unit, bounds, variability, source."""
    from marrowsim.parameters import load_table

    rows = [("name", "value", "unit", "bounds", "variability", "source")]
    for p in load_table().parameters:
        variability = p.variability.describe() if p.variability else "-"
        bounds = f"[{p.bounds[0]:g}, {p.bounds[1]:g}]"
        rows.append((p.name, f"{p.value:.6g}", p.unit, bounds, variability, p.source))
    widths = [max(len(row[k]) for row in rows) for k in range(5)]
    for row in rows:
        typer.echo(
            "  ".join(cell.ljust(w) for cell, w in zip(row[:5], widths, strict=True))
            + "  "
            + row[5]
        )


@app.command()
def validate(
    quick: Annotated[
        bool, typer.Option("--quick", help="small cohorts (wide intervals), for the tests")
    ] = False,
    seed: Annotated[str, typer.Option(help="seed of every virtual cohort")] = "0",
    out: Annotated[str, typer.Option(help="folder for validation.md and validation.json")] = "docs",
    targets: Annotated[
        str | None,
        typer.Option(help="targets YAML file (default: the built-in copy of targets.yaml)"),
    ] = None,
) -> None:
    """Simulate every published target and report each as passed or missed."""
    from marrowsim.validation import check_folder, load_targets, validate, write_report

    n_seed = _number("--seed", seed, whole=True, minimum=0, maximum=2**32 - 1)
    check_folder(out, "--out")
    if targets is not None:
        load_targets(targets, "--targets")  # a bad file fails before any simulation
    try:
        report = validate(quick=quick, seed=n_seed, targets=targets)
    except InputError as error:  # name the option, not the API's keyword
        text = str(error)
        raise InputError(
            "--targets" + text[len("targets") :] if text.startswith("targets:") else text
        ) from None
    write_report(report, out, "--out")
    _print_validation(report, out)


def _print_validation(report: dict[str, Any], out: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from marrowsim.validation import describe

    console = Console(highlight=False, markup=False)
    table = Table(title=f"validation ({report['mode']} run, seed {report['seed']})")
    for column in ("target", "status", "simulated", "calibration"):
        table.add_column(column)
    for row in report["rows"]:
        value = row["simulated"]
        if isinstance(value, dict) and value:  # its first figure, the one the target names
            first = next(iter(value))
            value = {first: value[first]}
        simulated = describe(value)
        table.add_row(
            row["id"],
            row["status"],
            simulated if len(simulated) <= 60 else simulated[:57] + "...",
            "yes" if row["calibration"] else "",
        )
    console.print(table)
    counts = report["counts"]
    console.print(
        f"{len(report['rows'])} targets: {counts['pass']} pass, {counts['miss']} missed,"
        f" {counts['not simulated']} not simulated (counted as missed)"
    )
    console.print(f"wrote {out.rstrip('/')}/validation.md and validation.json")


@app.command("export-sbml")
def export_sbml(
    scenario: Annotated[
        str, typer.Argument(help="built-in scenario name or YAML file")
    ] = DEFAULT_SCENARIO,
    output: Annotated[str, typer.Option("--output", "-o", help="SBML file to write")] = "model.xml",
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override one scenario key: KEY=VALUE")
    ] = None,
    patient: Annotated[
        str | None, typer.Option(help="virtual patient index (default: the typical patient)")
    ] = None,
    seed: Annotated[str, typer.Option(help="seed of the virtual cohort")] = "0",
) -> None:
    """Export the scenario's model as SBML Level 3 (for libRoadRunner, Tellurium, COPASI)."""
    from marrowsim.io.results import write_text_atomically
    from marrowsim.io.sbml import export_scenario

    index = _number("--patient", patient, whole=True, minimum=0)
    n_seed = _number("--seed", seed, whole=True, minimum=0)
    path = Path(inputs.path_text("--output", output))
    text = export_scenario(scenario, overrides=_sets(set_ or []), patient=index, seed=n_seed)
    write_text_atomically(path, text)
    typer.echo(f"wrote {output}")


@app.command()
def equations() -> None:
    """Print the model's equations (Markdown), traced from the mechanisms."""
    from marrowsim.model import default_model

    typer.echo(default_model().equations_markdown(), nl=False)


@app.command()
def version() -> None:
    """Print the marrowsim version."""
    typer.echo(__version__)


class Stopped(BaseException):
    """SIGINT or SIGTERM arrived (a BaseException, so no ``except Exception``
    on the way swallows it; ``finally`` blocks still clean up)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop(signum: int, frame: Any) -> None:
    # one stop is enough: a second signal must not interrupt the clean-up
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Stopped(signum)


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Stopped` (in the main thread only;
    elsewhere Python cannot install handlers and the defaults stay)."""
    try:
        previous = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one message and exit status 2; SIGINT
    and SIGTERM end with "aborted" and 130 or 143 (128 + the signal)."""
    try:
        _main(argv)
    finally:
        if argv is None:  # the console script: the process ends here
            _skip_final_collection()
    if argv is None:
        sys.exit(0)  # end it, as click's standalone mode does, never run on frozen


def _skip_final_collection() -> None:
    """Move every object to the garbage collector's permanent generation, so
    the interpreter's last collections at exit do not walk the objects of
    every imported module (pandas, numba, matplotlib): about 0.3 s of a
    one-patient run. Everything is written and closed by now; the process's
    memory goes back to the system as it ends."""
    import gc

    gc.freeze()


def _main(argv: list[str] | None) -> None:
    code: Any = 0
    try:
        with _stop_on_signals():
            code = app(args=argv, standalone_mode=False)
    except Stopped as stop:
        typer.echo("aborted", err=True)
        sys.exit(128 + stop.signum)
    except KeyboardInterrupt:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except InputError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(2)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as error:
        # usage errors of the (typer-bundled) click: unknown option, missing value
        if hasattr(error, "format_message") and hasattr(error, "exit_code"):
            typer.echo(f"error: {error.format_message()}", err=True)
            sys.exit(2)
        raise
    if isinstance(code, int) and code:  # typer returns (not raises) an exit status
        if code == 130:  # typer's answer to a KeyboardInterrupt
            typer.echo("aborted", err=True)
        sys.exit(code)


if __name__ == "__main__":
    main()
