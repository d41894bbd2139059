"""Virtual trials: the trial file, allocation, execution (chunks, workers,
resume, a real Dask scheduler), the analysis and the outputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.stats import norm

from conftest import cli_process
from marrowsim import simulate
from marrowsim.errors import InputError
from marrowsim.trials import load_trial, run_trial
from marrowsim.trials.allocation import allocate, strata
from marrowsim.trials.analysis import analyse

ROOT = Path(__file__).resolve().parents[1]
# a small, quick trial: two arms of the immune-aa-ist population, 4 months
SMALL = {
    "name": "small",
    "seed": 3,
    "population": {
        "scenario": "immune-aa-ist",
        "inclusion": {"age": {"min": 10, "max": 70}, "severity": ["severe", "very_severe"]},
    },
    "arms": {
        "horse": {"scenario": "immune-aa-ist"},
        "rabbit": {"scenario": "immune-aa-ratg"},
    },
    "allocation": {"ratio": "1:1", "block_size": 4, "stratify": {"age": [40]}},
    "patients_per_arm": 8,
    "follow_up_days": 120,
    "every": 2,
    "endpoints": {
        "response_3m": {"type": "response", "at": "3_months"},
        "survival": {"type": "overall_survival", "at_days": 120},
        "time_to_response": {"type": "time_to_response", "at_days": 100},
    },
}
COMPARED = (
    "summary.json",
    "arms.csv",
    "comparisons.csv",
    "report.md",
    "patients.parquet",
    "bands.parquet",
)


_cli = cli_process


def _files(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in COMPARED}


@pytest.fixture(scope="module")
def small_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import yaml

    path = tmp_path_factory.mktemp("trial") / "small.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    return path


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory, small_file: Path) -> Path:
    out = tmp_path_factory.mktemp("ref") / "out"
    run_trial(load_trial(small_file), out, chunk=5)
    return out


# -- the trial file ------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"arms": {"horse": {"scenario": "immune-aa-ist", "dose": 3}, "rabbit": {}}},
            "arms.horse: unknown arm key 'dose'",
        ),
        (
            {"allocation": {"ratio": "1:x"}},
            "allocation.ratio: '1:x' is not a ratio of 2 whole numbers",
        ),
        ({"allocation": {"ratio": "1:1:1"}}, "allocation.ratio: '1:1:1'"),
        (
            {"population": {"scenario": "immune-aa-ist", "inclusion": {"height": [1, 2]}}},
            "population.inclusion: unknown covariate 'height'",
        ),
        ({"patients_per_arm": 0}, "patients_per_arm: 0 must be a whole number >= 1"),
        (
            {"endpoints": {"r": {"type": "response", "at": "9_months"}}},
            "endpoints.r.at: unknown landmark '9_months'",
        ),
        ({"analysis": {"reference": "placebo"}}, "analysis.reference: unknown arm 'placebo'"),
        (
            {"endpoints": {"r": {"type": "response", "at": [1]}}},
            "endpoints.r.at: unknown landmark",
        ),
        ({"allocation": {"ratio": 121}}, "YAML reads an unquoted 2:1 as one (base 60): quote it"),
        (
            {"allocation": {"stratify": {"age": [50, 40]}}},
            "allocation.stratify.age: cut points [50.0, 40.0] must be increasing",
        ),
    ],
)
def test_bad_trial_is_refused_naming_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(InputError) as error:
        load_trial({**SMALL, **change})
    assert message in str(error.value)


def test_bad_trial_file_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    import yaml

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**SMALL, "allocation": {"ratio": "two to one"}}))
    out = tmp_path / "out"
    done = _cli("trial", str(bad), "--out", str(out))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "allocation.ratio: 'two to one'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists() and not list(tmp_path.glob(".out*"))
    done = _cli("trial", "scheinberg-2011", "--patients-per-arm", "0", "--out", str(out))
    assert done.returncode == 2 and "--patients-per-arm" in done.stderr
    done = _cli("trial", "no-such-trial", "--out", str(out))
    assert done.returncode == 2 and "unknown trial 'no-such-trial'" in done.stderr


def test_builtin_trials_list_and_show() -> None:
    listed = _cli("trials")
    assert listed.returncode == 0
    assert "scheinberg-2011" in listed.stdout and "eltrombopag-add-on" in listed.stdout
    shown = _cli("trials", "show", "eltrombopag-add-on")
    assert shown.returncode == 0 and "immune-aa-ist-epag" in shown.stdout
    for name in ("scheinberg-2011", "eltrombopag-add-on"):
        load_trial(name)


# -- allocation ----------------------------------------------------------------


def test_allocation_balances_each_stratum_in_blocks_and_follows_the_seed() -> None:
    trial = load_trial(
        {**SMALL, "allocation": {"ratio": "2:1", "block_size": 6, "stratify": {"age": [40]}}}
    )
    rng = np.random.default_rng(1)
    covariates = pd.DataFrame({"age": rng.uniform(10, 70, 600)})
    labels = strata(trial, covariates)
    arms = allocate(trial, labels)
    for label in set(labels):
        mine = arms[labels == label]
        complete = len(mine) // 6 * 6
        for start in range(0, complete, 6):  # every complete block holds 4 of arm 0, 2 of arm 1
            assert np.bincount(mine[start : start + 6], minlength=2).tolist() == [4, 2]
    assert np.array_equal(arms, allocate(trial, labels))
    other = load_trial({**SMALL, "seed": 4, "allocation": trial.raw["allocation"]})
    assert not np.array_equal(arms, allocate(other, labels))


# -- execution -------------------------------------------------------------------


def test_trial_arms_match_single_scenario_runs_of_the_same_patients(reference_run: Path) -> None:
    patients = pd.read_parquet(reference_run / "patients.parquet")
    assert len(patients) == 16 and patients["arm"].value_counts().to_dict() == {
        "horse": 8,
        "rabbit": 8,
    }
    assert (patients["baseline_age"].between(10, 70)).all()
    assert patients["baseline_severity"].isin(["severe", "very_severe"]).all()
    for arm, scenario in (("horse", "immune-aa-ist"), ("rabbit", "immune-aa-ratg")):
        mine = patients[patients["arm"] == arm]
        alone = simulate(
            scenario, draws=mine["draw"].to_numpy(), seed=3, days=120, every=2
        ).patients
        for column in (
            "death_day",
            "response_3m",
            "first_response_day",
            "nadir_anc",
            "hatg_dose_mg_per_kg_day",
        ):
            if column in alone:
                left = mine[column].astype(object).where(mine[column].notna(), None).tolist()
                right = alone[column].astype(object).where(alone[column].notna(), None).tolist()
                assert left == right, column


def test_chunk_size_and_workers_change_no_output(
    tmp_path: Path, small_file: Path, reference_run: Path
) -> None:
    out = tmp_path / "chunk3"
    run_trial(load_trial(small_file), out, chunk=3)
    assert _files(out) == _files(reference_run)
    out = tmp_path / "dask"
    run_trial(load_trial(small_file), out, chunk=4, workers=2)
    assert _files(out) == _files(reference_run)


def _killed_at(small_file: Path, out: Path, hook: str) -> None:
    """Run the trial and SIGKILL it once the test hook pauses at ``hook``."""
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "marrowsim.cli",
            "trial",
            str(small_file),
            "--chunk",
            "5",
            "--out",
            str(out),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MARROWSIM_TEST_HOOKS": f"{hook}=60"},
    ) as process:
        assert process.stderr is not None
        shown = hook.replace("#", " ")
        for line in process.stderr:
            if f"test-hook: {shown}" in line:
                break
        process.send_signal(signal.SIGKILL)
        process.wait()


def test_a_killed_trial_resumes_to_the_same_outputs(
    tmp_path: Path, small_file: Path, reference_run: Path
) -> None:
    out = tmp_path / "out"
    _killed_at(small_file, out, "chunk#2")
    assert not out.exists()
    work = tmp_path / ".out.trial-work"
    assert len(list(work.glob("run-*/arm-*/chunk-*.parquet"))) == 2
    done = _cli("trial", str(small_file), "--chunk", "5", "--resume", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert _files(out) == _files(reference_run)
    assert not work.exists()
    # a resume of a different run is refused
    _killed_at(small_file, out, "chunk#1")
    done = _cli("trial", str(small_file), "--chunk", "4", "--resume", "--out", str(out))
    assert done.returncode == 2 and "--resume" in done.stderr and "chunk" in done.stderr


def test_a_real_dask_scheduler_runs_the_same_trial(
    tmp_path: Path, small_file: Path, reference_run: Path
) -> None:
    bin_folder = Path(sys.executable).parent
    scheduler_file = tmp_path / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    scheduler = subprocess.Popen(
        [
            str(bin_folder / "dask"),
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(scheduler_file),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    worker = None
    try:
        for _ in range(300):
            if scheduler_file.is_file() and scheduler_file.stat().st_size:
                break
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        worker = subprocess.Popen(
            [
                str(bin_folder / "dask"),
                "worker",
                address,
                "--nthreads",
                "1",
                "--nworkers",
                "1",
                "--no-dashboard",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        out = tmp_path / "out"
        done = _cli(
            "trial", str(small_file), "--chunk", "6", "--scheduler", address, "--out", str(out)
        )
        assert done.returncode == 0, done.stderr
        assert _files(out) == _files(reference_run)
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


def test_outputs_are_complete_and_sane(reference_run: Path) -> None:
    summary = json.loads((reference_run / "summary.json").read_text())
    assert summary["enrolled"] == 16 and summary["screened"] >= 16
    for arm in ("horse", "rabbit"):
        for endpoint, value in summary["arms"][arm]["endpoints"].items():
            low, high = value["ci95"]
            assert 0 <= value["estimate"] <= 1, endpoint
            if low is not None:
                assert low <= value["estimate"] + 1e-12 and value["estimate"] <= high + 1e-12
    comparison = summary["comparisons"]["rabbit vs horse"]
    assert set(comparison) == {"response_3m", "survival", "time_to_response"}
    assert comparison["survival"]["test"] == "log-rank"
    bands = pd.read_parquet(reference_run / "bands.parquet")
    assert set(bands["arm"]) == {"horse", "rabbit"} and "anc" in set(bands["readout"])
    q = bands[["q05", "q25", "q50", "q75", "q95"]].dropna().to_numpy()
    assert (np.diff(q, axis=1) >= -1e-9).all()
    assert (
        len(bands[(bands["arm"] == "horse") & (bands["readout"] == "hb")]) == 61
    )  # days 0, 2, .. 120
    report = (reference_run / "report.md").read_text()
    assert "research and teaching" in report and "| response_3m | rabbit vs horse |" in report
    for name in ("survival.png", "forest.png"):
        assert (reference_run / name).stat().st_size > 1000


def test_timecourse_on_request_is_partitioned_by_chunk(tmp_path: Path, small_file: Path) -> None:
    out = tmp_path / "out"
    run_trial(load_trial(small_file), out, chunk=8, timecourse=True)
    parts = sorted((out / "timecourse").glob("*.parquet"))
    assert [p.name for p in parts] == ["arm-0-chunk-0000000.parquet", "arm-1-chunk-0000000.parquet"]
    frame = pd.concat([pd.read_parquet(p) for p in parts])
    assert set(frame["arm"]) == {"horse", "rabbit"} and frame["patient"].nunique() == 16


# -- analysis and power -------------------------------------------------------------


def _fixed_rate_frame(rng: np.random.Generator, rates: tuple[float, float], n: int) -> pd.DataFrame:
    arms = np.repeat(["horse", "rabbit"], n)
    responded = rng.random(2 * n) < np.repeat(rates, n)
    return pd.DataFrame(
        {
            "arm": arms,
            "death_day": np.nan,
            "response_3m": np.where(responded, "partial", "none"),
            "response_6m": None,
            "response_12m": None,
            "first_response_day": np.where(responded, 60.0, np.nan),
            "relapse_day": np.nan,
        }
    )


def test_power_agrees_with_the_closed_form_two_proportion_power() -> None:
    """The analysis a power run repeats, fed trials whose responses come from
    fixed per-arm rates, is significant as often as the normal-approximation
    power of the pooled two-proportion z test says."""
    trial = load_trial(
        {**SMALL, "endpoints": {"response_3m": {"type": "response", "at": "3_months"}}}
    )
    p1, p0, n, replicates = 0.65, 0.45, 60, 600
    rng = np.random.default_rng(20261202)
    hits = 0
    for _ in range(replicates):
        result = analyse(trial, _fixed_rate_frame(rng, (p1, p0), n))
        hits += result["comparisons"]["rabbit vs horse"]["response_3m"]["significant"]
    pooled = (p1 + p0) / 2
    z = norm.ppf(0.975)
    spread = np.sqrt(p1 * (1 - p1) / n + p0 * (1 - p0) / n)
    closed = norm.cdf((abs(p1 - p0) - z * np.sqrt(2 * pooled * (1 - pooled) / n)) / spread)
    monte_carlo_se = np.sqrt(closed * (1 - closed) / replicates)
    assert (
        abs(hits / replicates - closed) < 3.5 * monte_carlo_se + 0.02
    )  # the normal approximation's own error


def test_power_mode_replicates_the_trial(tmp_path: Path, small_file: Path) -> None:
    out = tmp_path / "power"
    done = _cli(
        "trial",
        str(small_file),
        "--patients-per-arm",
        "4",
        "--power",
        "2",
        "--chunk",
        "8",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out / "power.csv")
    assert set(table["endpoint"]) == {"response_3m", "survival", "time_to_response"}
    assert (table["replicates"] == 2).all() and table["power"].between(0, 1).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["replicates"] == 2 and "rabbit vs horse" in summary["power"]


@pytest.mark.slow
def test_scheinberg_2011_trial_shows_horse_better_than_rabbit_atg(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _cli("trial", "scheinberg-2011", "--patients-per-arm", "300", "--out", str(out))
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["arm_patients"] == {"horse-atg": 300, "rabbit-atg": 300}
    response = summary["comparisons"]["rabbit-atg vs horse-atg"]["response_6m"]
    low, high = response["difference_ci95"]
    assert response["difference"] < 0 and high < 0 and low < response["difference"]
    assert response["p_value"] < 0.05
    survival = summary["comparisons"]["rabbit-atg vs horse-atg"]["survival_3y"]
    assert survival["test"] == "log-rank" and 0 <= survival["p_value"] <= 1
    assert "rabbit-atg vs horse-atg, response_6m" in done.stdout


# -- what a review found -------------------------------------------------------------


def _frame(arm: str, death: list[float], relapse: list[float], first: list[float]) -> pd.DataFrame:
    n = len(death)
    return pd.DataFrame(
        {
            "arm": [arm] * n,
            "death_day": death,
            "response_3m": [None] * n,
            "response_6m": [None] * n,
            "response_12m": [None] * n,
            "first_response_day": first,
            "relapse_day": relapse,
        }
    )


def test_event_free_survival_censors_a_death_that_is_not_one_of_its_events() -> None:
    from marrowsim.trials.analysis import arm_estimate
    from marrowsim.trials.spec import Endpoint

    nan = float("nan")
    # three die early without relapsing; the fourth responds and relapses on day 200
    frame = _frame("horse", [10, 20, 30, nan], [nan, nan, nan, 200], [nan, nan, nan, 100])
    relapse_only = Endpoint("efs", "event_free_survival", 365.0, events=("relapse",))
    assert arm_estimate(relapse_only, frame, 365.0)["estimate"] == 0.0  # 1 at risk, 1 event
    with_death = Endpoint("efs", "event_free_survival", 365.0, events=("death", "relapse"))
    assert arm_estimate(with_death, frame, 365.0)["estimate"] == 0.0
    assert arm_estimate(with_death, frame.iloc[:3], 365.0)["estimate"] == 0.0
    assert arm_estimate(relapse_only, frame.iloc[:3], 365.0)["events"] == 0


def test_time_to_event_tests_stop_at_the_endpoints_day() -> None:
    trial = load_trial(
        {
            **SMALL,
            "follow_up_days": 1000,
            "endpoints": {"survival_1y": {"type": "overall_survival", "at_days": 365}},
        }
    )
    # everybody alive at day 365; the arms differ only after it
    frame = pd.concat(
        [
            _frame("horse", [500.0] * 20, [np.nan] * 20, [np.nan] * 20),
            _frame("rabbit", [600.0] * 20, [np.nan] * 20, [np.nan] * 20),
        ],
        ignore_index=True,
    )
    result = analyse(trial, frame)["comparisons"]["rabbit vs horse"]["survival_1y"]
    assert result["difference"] == 0.0
    assert result["p_value"] is None and result["hazard_ratio"] is None
    frame.loc[frame["arm"] == "rabbit", "death_day"] = 100.0  # now they differ by day 365
    result = analyse(trial, frame)["comparisons"]["rabbit vs horse"]["survival_1y"]
    assert result["p_value"] < 1e-6 and result["hazard_ratio"] > 1


def test_the_populations_settings_hold_in_every_arm() -> None:
    setting = {"cyclosporine.target_trough_ng_per_ml": 300}
    trial = load_trial(
        {
            **SMALL,
            "population": {**SMALL["population"], "set": setting},
            "arms": {
                "horse": {"scenario": "immune-aa-ist"},
                "rabbit": {
                    "scenario": "immune-aa-ratg",
                    "set": {"cyclosporine.target_trough_ng_per_ml": 350},
                },
            },
        }
    )
    assert trial.arms[0].set == setting
    assert trial.arms[1].set == {"cyclosporine.target_trough_ng_per_ml": 350}  # its own on top


def test_an_arm_left_empty_by_the_blocks_is_refused() -> None:
    labels = np.array(["all", "all"], dtype=object)
    for seed in range(100):
        spec = load_trial(
            {**SMALL, "patients_per_arm": 1, "seed": seed, "allocation": {"block_size": 4}}
        )
        try:
            allocate(spec, labels)
        except InputError as error:
            assert "leaves arm" in str(error) and "patients_per_arm: 1" in str(error)
            break
    else:
        pytest.fail("no seed left an arm empty with 2 patients in blocks of 4")


def test_no_response_gives_an_interval_above_zero_and_nobody_gives_none() -> None:
    from marrowsim.trials.analysis import arm_estimate
    from marrowsim.trials.spec import Endpoint

    ep = Endpoint("ttr", "time_to_response", 100.0)
    frame = _frame("horse", [np.nan] * 10, [np.nan] * 10, [np.nan] * 10)
    value = arm_estimate(ep, frame, 120.0)
    assert value["estimate"] == 0.0 and 0.2 < value["ci95"][1] < 0.35  # exact bound 0.31
    assert arm_estimate(ep, frame.iloc[:0], 120.0)["estimate"] is None


def test_resume_notices_an_edited_scenario_file(tmp_path: Path) -> None:
    import yaml

    from marrowsim.io.scenario import builtin_text
    from marrowsim.trials.executor import manifest_of

    scenario = tmp_path / "arm.yaml"
    scenario.write_text(builtin_text("immune-aa-ratg"))
    spec = {
        **SMALL,
        "arms": {"horse": {"scenario": "immune-aa-ist"}, "rabbit": {"scenario": str(scenario)}},
    }
    before = manifest_of(load_trial(spec), 5, False, 0)
    raw = yaml.safe_load(scenario.read_text())
    raw["cyclosporine"]["target_trough_ng_per_ml"] = 300
    scenario.write_text(yaml.safe_dump(raw))
    assert manifest_of(load_trial(spec), 5, False, 0) != before


@pytest.mark.parametrize(
    "arm_set", [{"immune.strength": 1.5}, {"immune.trigger_day": 90}], ids=["strength", "onset"]
)
def test_an_arm_that_changes_the_history_before_enrolment_is_refused(
    tmp_path: Path, arm_set: dict[str, object]
) -> None:
    # the arms start from the screen's states at enrolment: an arm whose own
    # history would differ cannot be started there
    spec = {
        **SMALL,
        "patients_per_arm": 2,
        "follow_up_days": 10,
        "endpoints": {"survival": {"type": "overall_survival", "at_days": 10}},
        "arms": {
            "horse": {"scenario": "immune-aa-ist"},
            "changed": {"scenario": "immune-aa-ist", "set": arm_set},
        },
    }
    with pytest.raises(InputError, match=r"arms\.changed: scenario 'immune-aa-ist' changes"):
        run_trial(load_trial(spec), tmp_path / "out", chunk=2)
    assert not (tmp_path / "out").exists()


def test_a_course_started_from_its_screened_state_is_the_course_run_whole() -> None:
    from marrowsim.simulation import Enrolled

    screened = simulate(
        "immune-aa-ist", draws=range(10), screen=True, seed=1, days=1, every=1, save_states=True
    )
    assert screened.draw is not None and screened.diagnosis_day is not None
    assert screened.states is not None
    draws, day, states = screened.draw[:4], screened.diagnosis_day[:4], screened.states[:4, 0]
    whole = simulate("immune-aa-ratg", draws=draws, seed=1, days=60, every=3)
    started = simulate(
        "immune-aa-ratg", draws=draws, seed=1, days=60, every=3, enrolled=Enrolled(day, states)
    )
    assert np.array_equal(whole.readouts, started.readouts, equal_nan=True)
    assert whole.event_log == started.event_log
    assert np.array_equal(whole.diagnosis_day, started.diagnosis_day)
    with pytest.raises(InputError, match=r"enrolled.states: shape \(4, 3\)"):
        simulate("immune-aa-ratg", draws=draws, enrolled=Enrolled(day, states[:, :3]))
    with pytest.raises(InputError, match="enrolled: scenario 'immune-aa' does not enrol"):
        simulate("immune-aa", draws=draws, enrolled=Enrolled(day, states))
    with pytest.raises(InputError, match="enrolled: needs draws"):
        simulate("immune-aa-ratg", patients=4, enrolled=Enrolled(day, states))


@settings(max_examples=60, deadline=None)
@given(
    values=hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=9),
        elements=st.one_of(st.floats(0, 1e6, width=32), st.just(float("nan"))),
    )
)
def test_band_quantiles_are_numpys_nanquantile_bit_for_bit(values):
    import warnings

    from marrowsim.trials import QUANTILES, column_quantiles

    levels = np.asarray(QUANTILES)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column
        expected = np.nanquantile(values.astype(float), levels, axis=0)
        got = column_quantiles(values, levels)
    assert np.array_equal(got, expected, equal_nan=True)
