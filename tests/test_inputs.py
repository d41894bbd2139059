"""Issue 9: every bad input is one clear line and exit 2; nothing is written.

Each example of the hostile-user probe, through the CLI (in process, with
typer's runner semantics via ``main``) and the API.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import marrowsim
from marrowsim.cli import main
from marrowsim.errors import InputError


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as done:
        code = int(done.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_refused(capsys, tmp_path: Path, args: list[str], *needles: str) -> str:
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, *args, "--out", str(out))
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert len(lines[0]) < 300, lines[0]
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    return lines[0]


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# 1. tracebacks


def test_output_grid_too_fine(capsys, tmp_path):
    assert_refused(capsys, tmp_path, ["run", "healthy", "--days", "10", "--every", "1e-9"],
                   "every", "output rows", "at most")  # fmt: skip
    scenario = write(tmp_path, "days: 10\nevery: 1.0e-308\n")
    assert_refused(capsys, tmp_path, ["run", scenario], "every", "output rows")


def test_yaml_nested_500_deep(capsys, tmp_path):
    scenario = write(tmp_path, "a: " + "[" * 500 + "]" * 500 + "\n")
    assert_refused(capsys, tmp_path, ["run", scenario], "line 1", "nested deeper than")


def test_yaml_alias_bomb(capsys, tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for k, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[k]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    scenario = write(tmp_path, "\n".join(lines) + "\n")
    assert_refused(capsys, tmp_path, ["run", scenario], "aliases", "line 1, column 4")


def test_lone_surrogate(capsys, tmp_path):
    scenario = write(tmp_path, 'name: x\ndescription: "\\ud800"\ndays: 5\n')
    assert_refused(capsys, tmp_path, ["run", scenario], "surrogate", "line 2")
    with pytest.raises(InputError, match="description: '\\\\ud800' holds a lone surrogate"):
        marrowsim.simulate({"description": "\ud800", "days": 5})


def test_out_name_too_long(capsys, tmp_path):
    code, _, err = run_cli(
        capsys, "run", "healthy", "--days", "5", "--out", str(tmp_path / ("x" * 300))
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--out" in err and "300 bytes" in err and "at most 255" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"workers": 1.5}, "workers: expected a whole number >= 1, got 1.5 (a float)"),
        ({"workers": True}, "workers: expected a whole number >= 1, got a boolean"),
        (
            {"initial": {"t_effector": "many"}},
            "initial.t_effector: expected a number, got text 'many'",
        ),
        ({"initial": {"t_effector": True}}, "initial.t_effector: expected a number, got a boolean"),
        ({"initial": ["hsc"]}, "initial: expected a mapping of state names to numbers"),
        ({"patients": 10**12}, "patients: 1000000000000 must be a whole number >= 1 and <="),
        ({"patients": 2.0}, "patients: expected a whole number >= 1, got 2.0"),
        ({"seed": -1}, "seed: -1 must be a whole number >= 0"),
        ({"set": {"every": True}}, "every: expected a number, got a boolean"),
        ({"set": [1]}, "set: expected a mapping"),
        ({"days": "ten"}, "days: expected a number, got text 'ten'"),
        ({"every": math.nan}, "every: nan must be a finite number"),
        ({"save_states": "yes"}, "save_states: expected True or False"),
        ({"solver": "fast"}, "solver: expected a marrowsim.Solver"),
        ({"progress": 3}, "progress: expected a function or None"),
    ],
)
def test_api_keywords(keywords, message):
    with pytest.raises(InputError) as error:
        marrowsim.simulate("healthy", **{"days": 5, **keywords})
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_solver_settings_are_numbers():
    with pytest.raises(InputError, match=r"solver\.rtol: expected a number, got text"):
        marrowsim.Solver(rtol="tight")  # type: ignore[arg-type]


# 2. never answers


def test_a_trillion_patients_is_refused_at_once(capsys, tmp_path):
    assert_refused(capsys, tmp_path, ["run", "--patients", "1e12"], "--patients", "<= 1,000,000")


def test_a_megabyte_name_is_refused(capsys, tmp_path):
    scenario = write(tmp_path, "name: " + "n" * 900_000 + "\ndays: 5\n")
    assert_refused(capsys, tmp_path, ["run", scenario], "name: 'nnnn", "at most 200")
    with pytest.raises(InputError, match="at most 200 allowed"):
        marrowsim.simulate({"name": "n" * 10**6, "days": 5})


# 3. invalid input accepted


@pytest.mark.parametrize("key", ["days", "every"])
@pytest.mark.parametrize("value", ["yes", "no", "true", "on"])
def test_yaml_booleans_are_not_numbers(capsys, tmp_path, key, value):
    other = "every: 1" if key == "days" else "days: 5"
    scenario = write(tmp_path, f"{key}: {value}\n{other}\n")
    assert_refused(capsys, tmp_path, ["run", scenario], f"{key}: expected a number, got a boolean")


@pytest.mark.parametrize("value", ['""', "[]", "0", "no"])
def test_falsy_parameters_are_not_a_mapping(capsys, tmp_path, value):
    scenario = write(tmp_path, f"days: 5\nparameters: {value}\n")
    assert_refused(capsys, tmp_path, ["run", scenario], "parameters: expected a mapping")


def test_unknown_keys_are_refused_even_when_empty(capsys, tmp_path):
    scenario = write(tmp_path, "days: 5\nfoo: {}\n")
    assert_refused(capsys, tmp_path, ["run", scenario], "unknown scenario key 'foo'")
    scenario = write(tmp_path, "days: 5\nimmune: {}\nparameters: {}\n")
    code, _, err = run_cli(capsys, "run", scenario, "--out", str(tmp_path / "ok"))
    assert code == 0, err  # a known section may be empty


def test_duplicate_keys_are_refused(capsys, tmp_path):
    scenario = write(tmp_path, "days: -1\ndays: 30\n")
    assert_refused(capsys, tmp_path, ["run", scenario], "duplicate key 'days'", "line 2")
    scenario = write(tmp_path, "days: 5\nimmune:\n  strength: 1\n  strength: 2\n")
    assert_refused(capsys, tmp_path, ["run", scenario], "duplicate key 'strength'", "line 4")


@pytest.mark.parametrize("out", ["", " ", "."])
def test_out_must_be_a_folder_of_its_own(capsys, tmp_path, monkeypatch, out):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "run", "healthy", "--days", "5", "--out", out)
    assert code == 2 and "--out" in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_out_holding_other_files_is_not_replaced(capsys, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, err = run_cli(capsys, "run", "healthy", "--days", "5", "--out", str(out))
    assert code == 2 and "holds files marrowsim did not write ('notes.txt')" in err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


# 4. one clear line


def test_yaml_syntax_error_is_one_line_with_position(capsys, tmp_path):
    scenario = write(tmp_path, "days: 5\nimmune:\n  strength: [1,\n")
    assert_refused(capsys, tmp_path, ["run", scenario], "not valid YAML at line 4, column 1")
    scenario = write(tmp_path, "days: 5\n  bad: indent\n")
    assert_refused(capsys, tmp_path, ["run", scenario], "not valid YAML at line 2")


def test_unknown_key_without_close_match_lists_no_names(capsys, tmp_path):
    line = assert_refused(capsys, tmp_path, ["run", "--set", "zzzqqqxxx=1"], "zzzqqqxxx")
    assert "hsc_division_rate" not in line and len(line) < 200
    line = assert_refused(capsys, tmp_path, ["run", "--set", "immune.strenght=1"], "did you mean")
    assert "immune.strength" in line


def test_a_large_bad_value_is_shortened(capsys, tmp_path):
    line = assert_refused(capsys, tmp_path, ["run", "--days", "x" * 100_000], "--days", "...")
    assert len(line) < 120
    scenario = write(tmp_path, "days: 5\nparameters:\n  hsc_pool_size: " + "y" * 100_000 + "\n")
    line = assert_refused(capsys, tmp_path, ["run", scenario], "parameters.hsc_pool_size")
    assert len(line) < 200


# valid inputs still run


def test_scientific_notation_in_files_is_a_number(tmp_path):
    result = marrowsim.simulate({"days": 5, "hsc": {"pool_size": 2e4}})
    assert result.scenario.parameters["hsc_pool_size"] == 20000
    scenario = write(tmp_path, "days: 5\nhsc:\n  pool_size: 2e4\n")
    assert marrowsim.load_scenario(scenario).parameters["hsc_pool_size"] == 20000
