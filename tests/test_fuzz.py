"""The project's own fuzz suite (issue 9): hostile scenario files, ``--set``
values, command-line options and API keywords.

Every example must end in exit 2 with one line under 300 characters (and
nothing written) or a valid run; never a traceback. Examples are derandomized
with a fixed budget so CI is stable. To cover a new input surface (a regimen
section, a trial file), add a strategy with ``@surface("name")``: it returns a
:class:`Case` for the CLI or an :class:`ApiCase` for ``marrowsim.simulate``.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import marrowsim
from marrowsim.cli import main
from marrowsim.errors import InputError
from marrowsim.parameters import load_table

EXAMPLES = int(os.environ.get("MARROWSIM_FUZZ_EXAMPLES", "120"))
OUTPUTS = {"timecourse.csv", "patients.csv", "summary.json", "timecourse.png"}


@dataclass
class Case:
    """A CLI run in a fresh folder: ``args`` after ``marrowsim``; ``files``
    written there first (name -> text). ``--out out`` is added unless given."""

    args: list[str]
    files: dict[str, str] = field(default_factory=dict)
    must_fail: bool = False  # known-bad input: a run that succeeds is a defect


@dataclass
class ApiCase:
    scenario: Any
    keywords: dict[str, Any]


SURFACES: dict[str, Callable[[], st.SearchStrategy[Case | ApiCase]]] = {}


def surface(name: str):
    def register(make: Callable[[], st.SearchStrategy[Case | ApiCase]]):
        SURFACES[name] = make
        return make

    return register


# -- building blocks ----------------------------------------------------------

TABLE = load_table()
SECTIONS = sorted({n.split("_")[0] for n in TABLE.names})
RUN_KEYS = ["name", "description", "days", "every", "parameters"]

hostile_text = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=200, max_size=400),
    st.sampled_from(["", " ", "\ud800", "a\x00b", "$\\frac{", "[bold]", "1e400", "-0", "nan",
                     "inf", "yes", "no", "null", "~", "1_000", "0x1F", "1e-400", "9" * 5000]),
)  # fmt: skip
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(min_value=0.5, max_value=20),
    st.sampled_from([0, -1, 1e-308, 5e-324, 1e308, 10**400, 36500, 36501]),
)
scalars = st.one_of(numbers, st.booleans(), st.none(), hostile_text)


def containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    )


values = st.recursive(scalars, containers, max_leaves=8)


def near(name: str) -> st.SearchStrategy[str]:
    """The name, or one typo away from it."""
    return st.one_of(
        st.just(name),
        st.integers(0, max(0, len(name) - 1)).map(lambda i: name[:i] + name[i + 1 :]),
        st.integers(0, len(name)).map(lambda i: name[:i] + "x" + name[i:]),
    )


parameter_names = st.sampled_from(TABLE.names)
section_members = st.sampled_from(TABLE.names).map(lambda n: n.split("_", 1))
keys = st.one_of(st.sampled_from(RUN_KEYS + SECTIONS).flatmap(near), st.text(max_size=12))


@st.composite
def scenario_mapping(draw) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["run", "section", "parameters", "random"]))
        if kind == "run":
            key = draw(st.sampled_from(RUN_KEYS[:4]))
            out[key] = draw(st.one_of(st.floats(0.5, 20), values))
        elif kind == "section":
            section, member = draw(section_members)
            out.setdefault(section, {})
            if isinstance(out[section], dict):
                name = draw(near(member))
                p = TABLE[f"{section}_{member}"]
                out[section][name] = draw(st.one_of(st.floats(*p.bounds), values))
        elif kind == "parameters":
            name = draw(parameter_names)
            p = TABLE[name]
            out["parameters"] = {draw(near(name)): draw(st.one_of(st.floats(*p.bounds), values))}
        else:
            out[draw(keys)] = draw(values)
    if "days" not in out:
        out["days"] = 3
    return out


def as_yaml(raw: Any) -> str:
    return yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)


hostile_yaml_snippets = st.sampled_from([
    "days: 3\ndays: 4\n",
    "a: &x [1, 2]\nb: *x\ndays: 3\n",
    "days: " + "[" * 300 + "]" * 300 + "\n",
    'days: 3\nname: "\\ud800"\n',
    'days: 3\nname: "\\x00\\x1b[31m"\n',
    "days: 3\n\tname: tab\n",
    "days: [1,\n",
    "days: 3\nparameters: ''\n",
    "days: 3\nimmune: {}\nfoo: {}\n",
    "? [a, b]\n: 1\ndays: 3\n",
    "days: !!python/object:os.system 1\n",
    "--- 1\n--- 2\n",
    "days: 3\nevery: 1.0e-308\n",
    "days: .inf\n",
    "",
])  # fmt: skip


# -- surfaces -------------------------------------------------------------------


def boolean_as_number(raw: dict[Any, Any]) -> bool:
    """Whether a run setting or a parameter value is a boolean (never valid)."""
    numbers = [raw.get("days"), raw.get("every")]
    for key, value in raw.items():
        if (key == "parameters" or key in SECTIONS) and isinstance(value, dict):
            numbers += list(value.values())
    return any(isinstance(v, bool) for v in numbers)


@surface("scenario-file")
def scenario_files() -> st.SearchStrategy[Case]:
    args = ["run", "s.yaml"]
    return st.one_of(
        scenario_mapping().map(
            lambda raw: Case(args, {"s.yaml": as_yaml(raw)}, boolean_as_number(raw))
        ),
        hostile_yaml_snippets.map(lambda t: Case(args, {"s.yaml": t}, must_fail=True)),
        st.tuples(scenario_mapping().map(as_yaml), hostile_yaml_snippets.filter(bool)).map(
            lambda parts: Case(args, {"s.yaml": "".join(parts)}, must_fail=True)
        ),
        st.text(max_size=60).map(lambda t: Case(args, {"s.yaml": t})),
    )


@surface("set")
def set_values() -> st.SearchStrategy[Case]:
    key = st.one_of(
        section_members.map(lambda sm: f"{sm[0]}.{sm[1]}"),
        parameter_names,
        parameter_names.map(lambda n: f"parameters.{n}"),
        st.sampled_from(["days", "every", "name", "a.b.c", ".", "parameters"]),
        keys,
    )
    value = st.one_of(hostile_text, numbers.map(str), st.floats(0, 2).map(repr))
    item = st.one_of(st.tuples(key, value).map(lambda kv: f"{kv[0]}={kv[1]}"), hostile_text)
    return st.lists(item, min_size=1, max_size=3).map(
        lambda items: Case(
            ["run", "healthy", "--days", "3"] + [a for i in items for a in ("--set", i)]
        )
    )


@surface("options")
def options() -> st.SearchStrategy[Case]:
    option_values = {
        "--days": st.one_of(hostile_text, st.floats(0.5, 10).map(repr), numbers.map(str)),
        "--every": st.one_of(hostile_text, st.floats(0.5, 5).map(repr), numbers.map(str)),
        "--patients": st.one_of(hostile_text, st.integers(1, 3).map(str), numbers.map(str)),
        "--seed": st.one_of(hostile_text, st.integers(0, 5).map(str), numbers.map(str)),
        "--workers": st.one_of(hostile_text, st.integers(1, 2).map(str), numbers.map(str)),
        "--format": st.one_of(hostile_text, st.sampled_from(["csv", "parquet"])),
        "--out": st.one_of(
            st.sampled_from(["", ".", "..", "x" * 256, "a\x00b", "out/", "ok"]),
            st.text(alphabet=st.characters(exclude_characters="/"), max_size=300),
        ),
    }
    chosen = st.lists(st.sampled_from(sorted(option_values)), min_size=1, max_size=4, unique=True)

    @st.composite
    def build(draw) -> Case:
        args = ["run", "healthy"]
        names = draw(chosen)
        if "--days" not in names:
            args += ["--days", "3"]
        for name in names:
            args += [name, draw(option_values[name])]
        return Case(args)

    return build()


@surface("api")
def api_keywords() -> st.SearchStrategy[ApiCase]:
    keyword_values = {
        "patients": st.one_of(st.none(), st.integers(1, 2), values),
        "seed": st.one_of(st.integers(0, 3), values),
        "days": st.one_of(st.floats(0.5, 5), values),
        "every": st.one_of(st.floats(0.5, 5), values),
        "set": st.one_of(
            st.dictionaries(
                st.one_of(keys, parameter_names), st.one_of(numbers, values), max_size=2
            ),
            values,
        ),
        "initial": st.one_of(
            st.dictionaries(st.sampled_from(["hsc_1", "t_effector", "nope"]), values, max_size=2),
            values,
        ),
        "workers": st.one_of(st.none(), st.integers(1, 2), values),
        "chunk_size": st.one_of(st.integers(1, 3), values),
        "save_states": st.one_of(st.booleans(), values),
    }
    scenario = st.one_of(st.sampled_from(["healthy", "immune-aa"]), scenario_mapping(), values)

    @st.composite
    def build(draw) -> ApiCase:
        names = draw(st.lists(st.sampled_from(sorted(keyword_values)), max_size=4, unique=True))
        keywords = {name: draw(keyword_values[name]) for name in names}
        keywords.setdefault("days", 3)
        return ApiCase(draw(scenario), keywords)

    return build()


DRUGS = ["horse_atg", "hatg", "rabbit_atg", "ratg", "cyclosporine", "csa"]
REGIMEN_KEYS = ["drug", "dose", "start_day", "start", "duration_days", "taper_days",
                "target_trough"]  # fmt: skip
amounts = st.one_of(
    st.floats(0, 80).map(lambda v: f"{v:g} mg/kg/day"),
    st.sampled_from(["40 mg", "1e400 mg/kg/day", "-1 mg/kg/day", "mg/kg/day", "40", "250 ng/mL",
                     "10 mg/day", "nan mg/kg/day", "1_0 mg/kg/d", "4 0 mg/kg/day"]),
    st.fixed_dictionaries({"value": values, "unit": st.one_of(hostile_text, values)}),
    values,
)  # fmt: skip


@st.composite
def regimen(draw) -> Any:
    entry: dict[Any, Any] = {"drug": draw(st.one_of(st.sampled_from(DRUGS).flatmap(near), values))}
    for key in draw(st.lists(st.sampled_from(REGIMEN_KEYS).flatmap(near), max_size=5)):
        if key in ("dose", "target_trough"):
            entry[key] = draw(amounts)
        elif key == "start":
            entry[key] = draw(
                st.one_of(
                    st.dictionaries(st.sampled_from(["day", "after_diagnosis_days", "x"]),
                                    st.one_of(st.floats(0, 10), values), max_size=2),
                    values,
                )
            )  # fmt: skip
        else:
            entry[key] = draw(st.one_of(st.floats(0, 400), values))
    return draw(st.one_of(st.just(entry), values))


dosing_cells = st.one_of(
    st.integers(-2, 30).map(str),
    st.sampled_from(["", ".", "0.5", "1e400", "nan", "hatg", "csa", "aspirin", '"', "1,2"]),
    hostile_text,
)
DOSING_COLUMNS = ["ID", "TIME", "TIME[h]", "EVID", "AMT", "CMT", "II", "ADDL", "DRUG", "SS", "DV"]


@st.composite
def dosing_table(draw) -> str:
    header = draw(st.lists(st.sampled_from(DOSING_COLUMNS).flatmap(near), min_size=1, max_size=8))
    rows = draw(st.lists(st.lists(dosing_cells, min_size=len(header), max_size=len(header) + 1),
                         max_size=4))  # fmt: skip
    return "\n".join(",".join(cells) for cells in [header, *rows]) + "\n"


@surface("regimens")
def regimens() -> st.SearchStrategy[Case]:
    scenario = st.builds(
        lambda entries, enrolment, days: {"days": days, "enrolment": enrolment,
                                          "regimens": entries},
        st.one_of(st.lists(regimen(), max_size=3), values),
        st.sampled_from(["start", "diagnosis"]),
        st.sampled_from([3, 3.5]),
    )  # fmt: skip
    return st.one_of(
        scenario.map(lambda raw: Case(["run", "s.yaml"], {"s.yaml": as_yaml(raw)})),
        dosing_table().map(
            lambda text: Case(["run", "healthy", "--days", "3", "--dosing", "d.csv"],
                              {"d.csv": text})
        ),
        st.tuples(dosing_table(), st.one_of(st.just("d.csv"), values)).map(
            lambda parts: Case(
                ["run", "s.yaml"],
                {"d.csv": parts[0], "s.yaml": as_yaml({"days": 3, "regimens_from": parts[1]})},
            )
        ),
    )  # fmt: skip


# -- the checks -----------------------------------------------------------------


def run_cli_case(case: Case) -> None:
    with tempfile.TemporaryDirectory() as folder:
        here = Path(folder)
        for name, text in case.files.items():
            (here / name).write_text(text, encoding="utf-8", errors="surrogatepass")
        args = list(case.args)
        if "--out" not in args:
            args += ["--out", "out"]
        stdout, stderr = io.StringIO(), io.StringIO()
        previous = os.getcwd()
        os.chdir(here)
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                try:
                    main(args)
                    code = 0
                except SystemExit as done:
                    code = done.code if isinstance(done.code, int) else 1
        finally:
            os.chdir(previous)
        err = stderr.getvalue()
        assert "Traceback" not in err, err
        left = sorted(p.name for p in here.iterdir() if p.name not in case.files)
        event(f"exit {code}")
        if code == 2:
            lines = err.strip().splitlines()
            assert len(lines) == 1, err
            assert lines[0].startswith("error: ") and len(lines[0]) < 300, lines[0]
            assert left == [], (left, lines[0])  # nothing written
        else:
            assert code == 0, (code, err)
            assert not case.must_fail, f"known-bad input accepted: {case.files}"
            out = args[args.index("--out") + 1]
            written = {p.name for p in (here / out).iterdir()}
            assert written >= {"patients.csv", "summary.json", "timecourse.png"}, written
            assert not [name for name in left if name.startswith(".")], left


def run_api_case(case: ApiCase) -> None:
    try:
        result = marrowsim.simulate(case.scenario, **case.keywords)
    except InputError as error:
        event("InputError")
        message = str(error)
        assert "\n" not in message and len(message) < 300, message
        return
    event("ran")
    readouts = result.readouts[result.status == 0]
    assert not (readouts < 0).any()
    assert math.isfinite(float(result.days[-1]))


@pytest.mark.parametrize("name", sorted(SURFACES))
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_hostile_input_is_refused_in_one_line_or_runs(name, data):
    case = data.draw(SURFACES[name](), label=name)
    if isinstance(case, ApiCase):
        run_api_case(case)
    else:
        run_cli_case(case)
