"""Issue 12, item 1: regimens as data (``regimens:``) and NONMEM-style dosing
tables (``regimens_from:``, ``--dosing``), folded into parameters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import marrowsim
from marrowsim.cli import main
from marrowsim.errors import InputError
from marrowsim.io.scenario import load_scenario
from marrowsim.parameters import load_table
from marrowsim.treatments.dosing import read_dosing
from marrowsim.treatments.regimens import DRUGS, Course, check_regimens, regimen_parameters

HATG = {"drug": "horse_atg", "dose": "40 mg/kg/day", "start_day": 0, "duration_days": 4}
CSA = {
    "drug": "cyclosporine",
    "dose": {"value": 10, "unit": "mg/kg/day"},
    "target_trough": "250 ng/mL",
    "start_day": 0,
    "duration_days": 365,
    "taper_days": 180,
}
SECTIONS = {
    "hatg": {"dose_mg_per_kg_day": 40, "start_day": 0, "days": 4},
    "cyclosporine": {
        "dose_mg_per_kg_day": 10,
        "start_day": 0,
        "full_dose_days": 185,
        "taper_days": 180,
        "target_trough_ng_per_ml": 250,
    },
}
DOSING = """ID,TIME,EVID,AMT,CMT,II,ADDL,DRUG,DV
1,0,1,40,1,1,3,horse_atg,.
1,2,0,.,.,.,.,,310
1,0,1,5,2,0.5,359,cyclosporine,.
2,0,1,40,1,1,3,hatg,.
2,0,1,5,2,0.5,359,csa,.
"""


def scenario(**keys):
    return load_scenario({"name": "t", **keys})


def refused(*needles: str, **keys) -> str:
    with pytest.raises(InputError) as error:
        scenario(**keys)
    message = str(error.value)
    assert "\n" not in message and len(message) < 300, message
    for needle in needles:
        assert needle in message, message
    return message


def write(folder: Path, text: str, name: str = "dosing.csv") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# -- regimens: ---------------------------------------------------------------


def test_a_regimen_sets_the_parameters_of_the_sections():
    assert scenario(regimens=[HATG, CSA]).parameters == scenario(**SECTIONS).parameters


def test_every_registered_drug_sets_parameters_of_the_table():
    table = load_table()
    for drug in DRUGS.values():
        full = Course(drug.name, 1.0, 0.0, 2.0, 1.0 if drug.taper else 0.0, 1.0, 12.0)
        assert set(full.parameters()) <= set(table.names), drug.name
        for unit, factor in drug.dose.units.items():
            assert unit == unit.lower() and factor > 0


def test_drug_aliases_and_units():
    one = scenario(
        regimens=[
            {**HATG, "drug": "HATG", "dose": "40mg/kg/d"},
            {**CSA, "drug": "ciclosporin", "target_trough": {"value": 250, "unit": "ug/L"}},
        ]
    )
    assert one.parameters == scenario(regimens=[HATG, CSA]).parameters
    rabbit = scenario(regimens=[{"drug": "ratg", "dose": "3.5 mg/kg/day", "duration_days": 5}])
    assert rabbit.parameters == {
        "ratg_dose_mg_per_kg_day": 3.5,
        "ratg_start_day": 0.0,
        "ratg_days": 5.0,
    }


def test_growth_factor_regimens_take_their_own_units():
    both = scenario(
        regimens=[
            {"drug": "epag", "dose": "150 mg/day", "start_day": 1, "duration_days": 180},
            {"drug": "g-csf", "dose": "5 ug/kg/day", "duration_days": 14},
        ]
    )
    assert both.parameters == {
        "eltrombopag_dose_mg_per_day": 150.0,
        "eltrombopag_start_day": 1.0,
        "eltrombopag_days": 180.0,
        "filgrastim_dose_ug_per_kg_day": 5.0,
        "filgrastim_start_day": 0.0,
        "filgrastim_days": 14.0,
    }
    refused(
        "regimens[0].dose",
        "flat oral dose",
        regimens=[{"drug": "eltrombopag", "dose": "2 mg/kg/day", "duration_days": 10}],
    )


def test_a_regimen_gives_the_same_simulation_as_the_sections():
    run = {"days": 12, "every": 2}
    by_regimen = marrowsim.simulate({"name": "t", **run, "regimens": [HATG, CSA]})
    by_sections = marrowsim.simulate({"name": "t", **run, **SECTIONS})
    assert by_regimen.scenario.parameters == by_sections.scenario.parameters
    np.testing.assert_array_equal(by_regimen.readouts, by_sections.readouts)
    assert by_regimen.event_log == by_sections.event_log


def test_start_after_diagnosis_needs_enrolment_at_diagnosis():
    course = {**HATG, "start": {"after_diagnosis_days": 7}}
    del course["start_day"]
    assert scenario(enrolment="diagnosis", regimens=[course]).parameters["hatg_start_day"] == 7
    refused("regimens[0].start.after_diagnosis_days", "enrolment: diagnosis", regimens=[course])
    course["start"] = {"day": 7}
    assert scenario(regimens=[course]).parameters["hatg_start_day"] == 7


def test_precedence_sections_then_regimens_then_parameters_and_set():
    both = scenario(hatg={"dose_mg_per_kg_day": 20, "half_life_days": 4}, regimens=[HATG])
    assert both.parameters["hatg_dose_mg_per_kg_day"] == 40  # the regimen wins over a section
    assert both.parameters["hatg_half_life_days"] == 4  # what it does not set stays
    raw = {"name": "t", "regimens": [HATG], "parameters": {"hatg_days": 3}}
    assert load_scenario(raw).parameters["hatg_days"] == 3  # parameters: win
    swept = load_scenario(raw, {"hatg.dose_mg_per_kg_day": 30})
    assert swept.parameters["hatg_dose_mg_per_kg_day"] == 30  # and --set


def test_show_prints_the_folded_parameters_as_yaml():
    import yaml

    text = scenario(regimens=[HATG, CSA]).to_yaml()
    again = load_scenario(yaml.safe_load(text))
    assert again.parameters == scenario(**SECTIONS).parameters


@pytest.mark.parametrize(
    ("regimens", "needles"),
    [
        ([{**HATG, "drug": "horse_agt"}], ["regimens[0].drug", "unknown drug", "horse_atg"]),
        ([{**HATG, "drug": 3}], ["regimens[0].drug", "expected text"]),
        ([{**HATG, "dose": "-40 mg/kg/day"}], ["regimens[0].dose", "negative"]),
        (
            [{**HATG, "dose": "40 mg"}],
            ["regimens[0].dose", "hatg dose '40 mg' is not in mg/kg/day", "per kg per day"],
        ),
        ([{**HATG}, {**CSA, "dose": "300 mg/day"}], ["regimens[1].dose", "weight"]),
        ([{**HATG, "dose": 40}], ["regimens[0].dose", "no unit", "40 mg/kg/day"]),
        ([{**HATG, "dose": "forty"}], ["regimens[0].dose", "not a number with a unit"]),
        ([{**HATG, "dose": {"value": 40}}], ["regimens[0].dose", "unit is missing"]),
        ([{**HATG, "dose": {"value": 40, "unit": "mg/kg/day", "x": 1}}], ["unknown key 'x'"]),
        ([{**HATG, "dose": "1e400 mg/kg/day"}], ["regimens[0].dose", "finite"]),
        ([{**HATG, "dose": "80 mg/kg/day"}], ["regimens[0].dose", "[0, 60]"]),
        ([{**HATG, "dosage": 1}], ["regimens[0]", "unknown regimen key 'dosage'", "dose"]),
        ([{**HATG, "taper_days": 1}], ["regimens[0].taper_days", "horse_atg takes no taper"]),
        ([{**CSA, "taper_days": 400}], ["regimens[0].taper_days", "longer than the course"]),
        ([{**HATG, "duration_days": 20}], ["regimens[0].duration_days", "longer than allowed"]),
        ([{**HATG, "duration_days": 0.5}], ["regimens[0].duration_days", "shorter than"]),
        ([{**HATG, "duration_days": 0}], ["regimens[0].duration_days", "> 0"]),
        ([{**CSA, "duration_days": 40000}], ["regimens[0].duration_days", "36500"]),
        ([{**CSA, "target_trough": "250 mg"}], ["regimens[0].target_trough", "ng/mL"]),
        ([{**HATG, "start_day": -1}], ["regimens[0].start_day", ">= 0"]),
        ([{**HATG, "start": {"day": 1}}], ["regimens[0]", "start_day or start, not both"]),
        ([{**HATG, "start_day": True}], ["regimens[0].start_day", "boolean"]),
        ([HATG, {**HATG, "drug": "hatg"}], ["regimens[1]", "second horse_atg", "regimens[0]"]),
        ([{"dose": "1 mg/kg/day"}], ["regimens[0]", "drug is missing"]),
        ([{"drug": "hatg", "dose": "1 mg/kg/day"}], ["duration_days is missing"]),
        ([3], ["regimens[0]", "expected a mapping"]),
        ({"drug": "hatg"}, ["regimens", "expected a list"]),
    ],
)
def test_bad_regimens_are_one_line(regimens, needles):
    refused(*needles, regimens=regimens)


def test_an_empty_regimens_section_is_nothing():
    assert scenario(regimens=None).parameters == {}
    assert scenario(regimens=[]).parameters == {}


@st.composite
def courses(draw) -> list[Course]:
    out = []
    for name in draw(st.lists(st.sampled_from(sorted(DRUGS)), unique=True, max_size=3)):
        drug = DRUGS[name]
        if drug.taper:
            duration = draw(st.floats(1, 3000))
            taper = draw(st.floats(0, min(duration, 3000)))
            trough = draw(st.one_of(st.none(), st.floats(0, 1000)))
        else:
            duration, taper, trough = draw(st.floats(1, 14)), 0.0, None
        dose = draw(st.floats(0, 20))
        start = draw(st.floats(0, 1000))
        out.append(Course(name, dose, start, duration, taper, trough))
    return out


@settings(max_examples=40, deadline=None)
@given(courses())
def test_any_valid_regimen_list_round_trips_to_the_same_parameters(drawn):
    raw = [course.to_raw() for course in drawn]
    again = check_regimens("regimens", raw)
    assert regimen_parameters(again) == regimen_parameters(drawn)


# -- dosing tables -----------------------------------------------------------


def test_a_dosing_table_gives_the_course(tmp_path):
    write(tmp_path, DOSING)
    path = write(tmp_path, "name: t\nregimens_from: dosing.csv\n", "s.yaml")
    parameters = load_scenario(path).parameters
    assert parameters == {
        "hatg_dose_mg_per_kg_day": 40.0,
        "hatg_start_day": 0.0,
        "hatg_days": 4.0,
        "cyclosporine_dose_mg_per_kg_day": 10.0,
        "cyclosporine_start_day": 0.0,
        "cyclosporine_full_dose_days": 180.0,
        "cyclosporine_taper_days": 0.0,
        "cyclosporine_dosing_interval_h": 12.0,
    }


def test_dose_by_dose_rows_hours_and_compartments(tmp_path):
    rows = "\n".join(f"7,{24 * (10 + k)},1,40,1,24" for k in range(4))
    path = write(tmp_path, "id,TIME[h],EVID,AMT,CMT,II\n" + rows + "\n")
    (course,) = read_dosing(path, compartments={1: "horse_atg"})
    assert course.parameters() == {
        "hatg_dose_mg_per_kg_day": 40.0,
        "hatg_start_day": 10.0,
        "hatg_days": 4.0,
    }
    scenario_file = write(
        tmp_path,
        "name: t\nregimens_from: {file: dosing.csv, compartments: {1: hatg}}\n",
        "s.yaml",
    )
    assert load_scenario(scenario_file).parameters == course.parameters()


def test_a_regimen_and_a_dosing_table_of_the_same_drug_are_refused(tmp_path):
    write(tmp_path, DOSING)
    path = write(
        tmp_path,
        "name: t\nregimens_from: dosing.csv\nregimens:\n"
        "  - {drug: hatg, dose: 40 mg/kg/day, duration_days: 4}\n",
        "s.yaml",
    )
    with pytest.raises(InputError, match="a second horse_atg course"):
        load_scenario(path)


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("ID,TIME,AMT\n1,0,40\n", ["column EVID is missing"]),
        ("", ["empty"]),
        ("ID,TIME,EVID,AMT,DRUG\n1,0,2,40,hatg\n", ["line 2, EVID", "only 1"]),
        ("ID,TIME,EVID,AMT,DRUG\n1,0,1,40,hatgg\n", ["line 2, DRUG", "unknown drug", "hatg"]),
        ("ID,TIME,EVID,AMT,DRUG\n1,x,1,40,hatg\n", ["line 2, TIME", "not a number"]),
        ("ID,TIME,EVID,AMT,DRUG\n1,0,1,-4,hatg\n", ["line 2, AMT", "negative"]),
        ("ID,TIME,EVID,AMT,DRUG\n1,-1,1,4,hatg\n", ["line 2, TIME", "before day 0"]),
        ("ID,TIME,EVID,AMT,DRUG\n1,0,1,4,hatg\n1,1,1,5,hatg\n", ["line 3, AMT", "irregular"]),
        ("\ufeffID,TIME,EVID,AMT,DRUG\n\n1,0,1,4,hatg\n\n1,1,1,5,x\n", ["line 5, DRUG"]),
        ("ID,TIME,EVID,AMT,DRUG\n1,1_0,1,4,hatg\n", ["line 2, TIME", "not a number"]),
        ("ID,TIME,EVID,AMT,DRUG\n1,0,1,4,hatg\n1,1,1,4,hatg\n1,3,1,4,hatg\n", ["line 4, TIME"]),
        ("ID,TIME,EVID,AMT,DRUG,II,ADDL\n1,0,1,4,hatg,0.5,3\n", ["II must be 1 day"]),
        ("ID,TIME,EVID,AMT,DRUG,II,ADDL\n1,0,1,40,hatg,1,29\n", ["longer than allowed"]),
        ("ID,TIME,EVID,AMT,DRUG,ADDL\n1,0,1,4,hatg,3\n", ["line 2, II", "II > 0"]),
        ("ID,TIME,EVID,AMT,DRUG,ADDL,II\n1,0,1,4,hatg,1.5,1\n", ["ADDL", "whole number"]),
        ("ID,TIME,EVID,AMT,DRUG,SS\n1,0,1,4,hatg,1\n", ["line 2, SS", "later feature"]),
        ("ID,TIME,EVID,AMT,CMT\n1,0,1,4,3\n", ["line 2, CMT", "compartment 3", "DRUG"]),
        ("ID,TIME,EVID,AMT\n1,0,1,4\n", ["line 2", "no DRUG or CMT"]),
        ("ID,TIME,EVID,AMT,DRUG\n1,0,0,4,hatg\n", ["no dose records"]),
        ("ID,TIME[m],EVID,AMT,DRUG\n1,0,1,4,hatg\n", ["only TIME and II take a unit"]),
        ("ID,TIME,EVID,AMT,DRUG\n1,0,1,4,hatg\n2,1,1,4,hatg\n", ["ID '2'", "different regimen"]),
        ("ID,TIME,EVID,AMT,DRUG\n1,0,1,4,hatg,extra\n", ["not a readable CSV"]),
        ("ID,TIME,EVID,AMT,DRUG\n1,1e999,1,4,hatg\n", ["finite"]),
        ("ID,TIME,EVID,AMT,DRUG,ADDL,II\n1,0,1,4,csa,999999999,1\n", ["more than"]),
    ],
)
def test_bad_dosing_tables_are_one_line(tmp_path, text, needles):
    write(tmp_path, text)
    path = write(tmp_path, "name: t\nregimens_from: dosing.csv\n", "s.yaml")
    with pytest.raises(InputError) as error:
        load_scenario(path)
    message = str(error.value)
    assert "\n" not in message and len(message) < 300, message
    for needle in needles:
        assert needle in message, message


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("missing.csv", "does not exist"),
        (3, "expected text"),
        ({"file": "dosing.csv", "cmt": {}}, "unknown key 'cmt'"),
        ({"compartments": {1: "hatg"}}, "file is missing"),
        ({"file": "dosing.csv", "compartments": {1: "aspirin"}}, "unknown drug"),
        ({"file": "dosing.csv", "compartments": {"a": "hatg"}}, "whole number"),
    ],
)
def test_bad_regimens_from(tmp_path, value, needle):
    write(tmp_path, DOSING)
    with pytest.raises(InputError, match=needle):
        load_scenario({"name": "t", "regimens_from": value} if value != "missing.csv" else
                      {"name": "t", "regimens_from": str(tmp_path / value)})  # fmt: skip


# -- CLI ---------------------------------------------------------------------


def run_cli(capsys, *args: str) -> tuple[int, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as done:
        code = int(done.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--dosing", "nowhere.csv"], "does not exist"),
        (["--set", "regimens_from=nowhere.csv"], "does not exist"),
        (["--dosing", ""], "--dosing"),
        (["--set", "regimens_from=3"], "expected text"),
    ],
)
def test_cli_refuses_bad_dosing_in_one_line(capsys, tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    code, err = run_cli(capsys, "run", "healthy", "--days", "5", *args, "--out", "o")
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and needle in err, err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_cli_refuses_a_bad_regimen_in_one_line(capsys, tmp_path):
    path = write(tmp_path, "name: t\nregimens:\n  - {drug: hatg, dose: 40 mg, duration_days: 4}\n",
                 "s.yaml")  # fmt: skip
    code, err = run_cli(capsys, "run", str(path), "--out", str(tmp_path / "o"))
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("error: scenario ")
    assert line.endswith(
        ": regimens[0].dose: hatg dose '40 mg' is not in mg/kg/day;"
        " ATG doses are written per kg per day"
    )


def test_cli_dosing_is_relative_to_the_working_folder(capsys, tmp_path, monkeypatch):
    write(tmp_path, DOSING)
    monkeypatch.chdir(tmp_path)
    parameters = load_scenario("healthy", {"regimens_from": "dosing.csv"}).parameters
    assert parameters["hatg_dose_mg_per_kg_day"] == 40
    # --dosing reaches the loader as regimens_from, resolved here
    from marrowsim.io.scenario import apply_set

    assert apply_set({}, "regimens_from", "dosing.csv")["regimens_from"] == str(
        tmp_path / "dosing.csv"
    )
