"""Scenario files: plain YAML, validated with pydantic.

A scenario names the typical patient (parameter values that differ from the
table) and the run (days, output interval). Parameters are set either under
``parameters:`` by their table name, or grouped by section: ``immune:
{strength: 0.5}`` sets ``immune_strength``. ``--set KEY=VALUE`` on the command
line edits one key with the same dotted paths (``--set immune.strength=0.5``,
``--set parameters.hsc_pool_size=20000``, ``--set days=365``).

Drug courses can also be written as regimens (``regimens:``, a list of
courses with units, or ``regimens_from:``, a NONMEM-style dosing table; see
:mod:`marrowsim.treatments`); they are folded into the parameters too. The
order, later winning: the table, parameter sections, regimens, then
``parameters:`` and ``--set``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from marrowsim.cohort import baseline
from marrowsim.errors import InputError
from marrowsim.io import inputs
from marrowsim.parameters import load_table
from marrowsim.treatments import dosing, regimens

RUN_FIELDS = (
    "name",
    "description",
    "days",
    "every",
    "enrolment",
    "enrolment_horizon_days",
    "enrolment_delay_days",
    "baseline_counts",
    "parameters",
)
# treatment sections, folded into parameters (marrowsim.treatments)
TREATMENT_FIELDS = ("regimens", "regimens_from")
# the keys that take text (every other scenario key is a number)
TEXT_FIELDS = ("name", "description", "enrolment", "regimens_from", "genotype", "baseline_counts")
# when day 0 of the outputs is: the start of each patient's simulated history,
# or its diagnosis (severe criteria first met), as a trial counts from enrolment
ENROLMENT = ("start", "diagnosis")
PARAMETERS_HINT = "`marrowsim parameters` lists the parameter names"
# a number, not a YAML boolean such as `yes` (which would pass as 1.0)
StrictNumber = Annotated[float, BeforeValidator(lambda v: _not_bool(v))]
MAX_DAYS = 36500
# ``genotype: healthy | fanconi | telomere`` sets the cohort's fractions of
# Fanconi and telomere-disease patients (genotype.fanconi_fraction,
# genotype.telomere_fraction); a mapping sets the fractions
GENOTYPE_FIELD = "genotype"
GENOTYPE_FRACTIONS = {
    "healthy": {"genotype_fanconi_fraction": 0.0, "genotype_telomere_fraction": 0.0},
    "fanconi": {"genotype_fanconi_fraction": 1.0, "genotype_telomere_fraction": 0.0},
    "telomere": {"genotype_fanconi_fraction": 0.0, "genotype_telomere_fraction": 1.0},
}


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    return value


class Scenario(BaseModel):
    """A validated scenario: run settings and typical-patient parameter values."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str = ""
    days: float = Field(default=730, gt=0, le=MAX_DAYS)
    every: float = Field(default=1, gt=0)
    enrolment: Literal["start", "diagnosis"] = "start"
    # a drawn patient not diagnosed within this many days is not enrolled
    enrolment_horizon_days: float = Field(default=1825, gt=0, le=MAX_DAYS)
    # days from diagnosis to enrolment (day 0: the start of treatment), the
    # disease running its course untreated in between
    enrolment_delay_days: float = Field(default=0, ge=0, le=MAX_DAYS)
    # a published distribution of counts before treatment that the enrolled
    # population is selected to match (marrowsim.cohort.baseline); None: the
    # plausible patients as drawn
    baseline_counts: str | None = None
    parameters: dict[str, StrictNumber] = Field(default_factory=dict)

    def typical_values(self) -> dict[str, float]:
        """Table values with this scenario's overrides (each checked against its bounds)."""
        return load_table().with_values(self.parameters, field_prefix="parameters.").values()

    def to_yaml(self) -> str:
        fields = self.model_dump()
        if fields["baseline_counts"] is None:
            del fields["baseline_counts"]  # the plausible patients as drawn
        return yaml.safe_dump(fields, sort_keys=False)


def builtin_names() -> list[str]:
    folder = resources.files("marrowsim.scenarios")
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def builtin_text(name: str) -> str:
    if name not in builtin_names():
        raise InputError(
            inputs.unknown_name(
                "scenario", name, builtin_names(), "`marrowsim scenarios` lists them"
            )
        )
    return resources.files("marrowsim.scenarios").joinpath(f"{name}.yaml").read_text()


def is_file(source: str | Path) -> bool:
    """A scenario or trial given as a file (a path, or a name ending .yaml), not a built-in name."""
    text = str(source)
    return isinstance(source, Path) or text.endswith((".yaml", ".yml")) or "/" in text


def _raw(source: str | Path) -> tuple[Any, str]:
    text_origin = str(source)
    origin = inputs.shown(text_origin)
    if is_file(source):
        text = inputs.read_text_file("scenario", Path(source))
    else:
        text = builtin_text(text_origin)
    return inputs.load_yaml(text, f"scenario {origin}"), text_origin


def parse_value(text: str) -> Any:
    """A ``--set`` value: a number (``1e4`` included), else YAML scalar syntax
    (read strictly: no aliases, no duplicate keys)."""
    for convert in (int, float):
        try:
            return convert(text)
        except (ValueError, OverflowError):
            pass
    if len(text) > inputs.MAX_KEY_CHARS:
        return text
    try:
        return inputs.load_yaml(text, "--set value")
    except InputError:
        return text


def _group_names(table_names: Sequence[str]) -> list[str]:
    """The section names a scenario may group parameters under (``immune``)."""
    return sorted({name.split("_")[0] for name in table_names})


def _is_group(key: str, table_names: Sequence[str]) -> bool:
    return any(name.startswith(f"{key}_") for name in table_names)


def apply_set(raw: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """Set one dotted key (``days``, ``immune.strength``, ``parameters.x``)."""
    inputs.key("--set", key)
    raw = copy.deepcopy(raw)
    parts = key.split(".")
    label = inputs.shown(key)
    if not all(parts):
        raise InputError(f"--set {label}: a key is a dotted path such as immune.strength or days")
    table = load_table()
    if len(parts) == 1:
        if parts[0] in RUN_FIELDS and parts[0] != "parameters":
            raw[parts[0]] = value
            return raw
        if parts[0] == "regimens_from":
            # a path on the command line is relative to the working folder
            if isinstance(value, str) and value.strip():
                inputs.path_text("--set regimens_from", value)
                value = os.path.abspath(value)
            raw["regimens_from"] = value
            return raw
        if parts[0] in table:
            return _set_parameter(raw, parts[0], value)
        if parts[0] == GENOTYPE_FIELD:
            raw[GENOTYPE_FIELD] = value
            return raw
        allowed = [f for f in RUN_FIELDS if f != "parameters"] + ["regimens_from", GENOTYPE_FIELD]
        raise InputError(
            inputs.unknown_name("scenario key", key, allowed + list(table.names), PARAMETERS_HINT)
        )
    if len(parts) == 2:
        section, name = parts
        target = name if section == "parameters" else f"{section}_{name}"
        if target not in table:
            sectioned = [n.replace("_", ".", 1) for n in table.names if "_" in n]
            allowed = sectioned + _dotted_parameter_names()
            raise InputError(inputs.unknown_name("scenario key", key, allowed, PARAMETERS_HINT))
        return _set_parameter(raw, target, value)
    raise InputError(f"--set {label}: keys have at most two parts (section.name)")


def _set_parameter(raw: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    explicit = inputs.mapping(
        "parameters", raw.get("parameters"), what="parameter names to numbers"
    )
    explicit[name] = value
    raw["parameters"] = explicit
    return raw


def _dotted_parameter_names() -> list[str]:
    return [f"parameters.{n}" for n in load_table().names]


def check_scenario(raw: Any, folder: Path | None = None) -> dict[str, Any]:
    """Validate raw scenario keys (from a file, a mapping, ``--set``) strictly:
    every key known at every level, numbers that are numbers, mappings where
    mappings belong, text of bounded length. Returns the ``Scenario`` fields,
    with ``section: {key: value}`` groups and regimens folded into
    ``parameters``. ``folder``: where ``regimens_from`` paths are found (the
    scenario file's folder; the working folder if None)."""
    raw = inputs.mapping("scenario", raw, what="scenario keys to values", allow_null=False)
    table = load_table()
    out: dict[str, Any] = {}
    grouped: dict[str, float] = {}
    explicit: dict[str, float] = {}
    treatments: dict[str, Any] = {}
    for key, value in raw.items():
        inputs.key("scenario", key)
        if key in TREATMENT_FIELDS:
            treatments[key] = value  # checked once enrolment is known
        elif key == "name":
            out["name"] = inputs.text("name", value, max_chars=inputs.MAX_NAME_CHARS, min_chars=1)
        elif key == "description":
            out["description"] = inputs.text(
                "description", value, max_chars=inputs.MAX_TEXT_CHARS, lines=True
            )
        elif key in ("days", "every", "enrolment_horizon_days"):
            out[key] = inputs.number(key, value, gt=0, le=MAX_DAYS, unit="days")
        elif key == "enrolment_delay_days":
            out[key] = inputs.number(key, value, ge=0, le=MAX_DAYS, unit="days")
        elif key == "enrolment":
            if value not in ENROLMENT:
                raise InputError(
                    f"enrolment: {inputs.shown(value)} is not allowed; "
                    f"use {' or '.join(ENROLMENT)} (day 0 = the start, or each patient's diagnosis)"
                )
            out[key] = value
        elif key == "baseline_counts":
            if value is not None and value != "none":
                out[key] = baseline.distribution(value).name
        elif key == "parameters":
            entries = inputs.mapping("parameters", value, what="parameter names to numbers")
            for name, v in entries.items():
                inputs.key("parameters", name)
                if name not in table:
                    raise InputError(
                        "parameters: "
                        + inputs.unknown_name("parameter", name, table.names, PARAMETERS_HINT)
                    )
                explicit[name] = inputs.number(f"parameters.{name}", v)
        elif key == GENOTYPE_FIELD and not isinstance(value, Mapping):
            if not isinstance(value, str) or value not in GENOTYPE_FRACTIONS:
                raise InputError(
                    f"genotype: {inputs.shown(value)} is not a genotype; allowed:"
                    f" {', '.join(GENOTYPE_FRACTIONS)} (or genotype.fanconi_fraction,"
                    " genotype.telomere_fraction = the fraction of a cohort with that"
                    " genotype, 0..1)"
                )
            grouped.update(GENOTYPE_FRACTIONS[value])
        elif key in inputs.sections():
            out[key] = inputs.sections()[key](key, value)
        elif _is_group(key, table.names):
            entries = inputs.mapping(
                key, value, what=f"names to numbers, e.g. {key}: {{name: value}}"
            )
            members = [n[len(key) + 1 :] for n in table.names if n.startswith(f"{key}_")]
            for name, v in entries.items():
                inputs.key(key, name)
                if name not in members:
                    raise InputError(
                        inputs.unknown_name(
                            "scenario key",
                            f"{key}.{name}",
                            [f"{key}.{m}" for m in members],
                            PARAMETERS_HINT,
                        )
                    )
                grouped[f"{key}_{name}"] = inputs.number(f"{key}.{name}", v)
        else:
            fields = list(RUN_FIELDS) + list(TREATMENT_FIELDS) + list(inputs.sections())
            allowed = fields + _group_names(table.names)
            # the enrolment_* fields are named once, as enrolment_*, to keep it one short line
            shown = [f for f in fields if not f.startswith("enrolment_")]
            keys = ", ".join(shown).replace("enrolment", "enrolment, enrolment_*")
            hint = f"keys are {keys} or a parameter section such as immune; {PARAMETERS_HINT}"
            raise InputError(inputs.unknown_name("scenario key", key, allowed, hint))
    delay = float(out.get("enrolment_delay_days", 0.0))
    if delay > 0 and out.get("enrolment", "start") != "diagnosis":
        raise InputError(
            f"enrolment_delay_days: {delay:g} needs enrolment: diagnosis (it is the time from"
            " diagnosis to day 0)"
        )
    if out.get("baseline_counts") and out.get("enrolment", "start") != "diagnosis":
        raise InputError(
            f"baseline_counts: {out['baseline_counts']} needs enrolment: diagnosis (it selects"
            " the patients by their counts when they are enrolled)"
        )
    courses = _courses(treatments, out.get("enrolment", "start"), folder, delay)
    # later wins: sections, then regimens, then explicit names (and --set)
    out["parameters"] = {**grouped, **regimens.regimen_parameters(courses), **explicit}
    return out


def _courses(
    treatments: Mapping[str, Any], enrolment: str, folder: Path | None, delay: float = 0.0
) -> list[regimens.Course]:
    courses = regimens.check_regimens("regimens", treatments.get("regimens"), enrolment, delay)
    if treatments.get("regimens_from") is not None:
        courses += _dosing_table(treatments["regimens_from"], folder)
    return courses


def _dosing_table(value: Any, folder: Path | None) -> list[regimens.Course]:
    """``regimens_from: dosing.csv`` or ``{file: dosing.csv, compartments: {1: hatg}}``."""
    field = "regimens_from"
    compartments: dict[int, str] = {}
    if isinstance(value, Mapping):
        entries = inputs.mapping(field, value, what="file and compartments")
        for key in entries:
            inputs.key(field, key)
            if key not in ("file", "compartments"):
                raise InputError(
                    f"{field}: " + inputs.unknown_name("key", key, ["file", "compartments"])
                )
        if "file" not in entries:
            raise InputError(f"{field}: file is missing; write {{file: dosing.csv}}")
        maps = inputs.mapping(
            f"{field}.compartments", entries.get("compartments"), what="CMT numbers to drugs"
        )
        for number, drug in maps.items():
            where = f"{field}.compartments.{inputs.shown(number)}"
            cmt = inputs.whole(where, number, ge=1, le=10**6)
            compartments[cmt] = regimens.find_drug(where, drug).name
        value = entries["file"]
        field = f"{field}.file"
    name = inputs.text(field, value, max_chars=inputs.MAX_PATH_BYTES, min_chars=1)
    inputs.path_text(field, name)
    path = Path(name)
    if not path.is_absolute():
        path = (folder or Path.cwd()) / path
    return dosing.read_dosing(
        path, compartments=compartments, origin=f"{field} {inputs.shown(name)}"
    )


def load_scenario(
    source: str | Path | Mapping[str, Any] | Scenario = "immune-aa",
    overrides: Mapping[str, Any] | Sequence[tuple[str, Any]] = (),
) -> Scenario:
    """Load a built-in name, a YAML file or a mapping, apply ``--set`` overrides,
    validate, and check every parameter against its bounds."""
    raw: Any
    folder = None
    if isinstance(source, Scenario):
        raw, origin = source.model_dump(), source.name
    elif isinstance(source, Mapping):
        raw = dict(source)
        name = raw.get("name")
        origin = name if isinstance(name, str) else "scenario"
    elif isinstance(source, str | Path):
        if isinstance(source, str):
            inputs.text("scenario", source, max_chars=inputs.MAX_PATH_BYTES, min_chars=1)
        raw, origin = _raw(source)
        if is_file(source):
            folder = Path(source).resolve().parent
    else:
        raise InputError(
            f"scenario: expected a name, a YAML file or a mapping, got {inputs.kind(source)}"
        )
    label = f"scenario {inputs.shown(origin)}"
    if not isinstance(raw, dict):
        raise InputError(f"{label} must be a YAML mapping of keys to values")
    if isinstance(overrides, Mapping):
        items = list(overrides.items())
    elif isinstance(overrides, Sequence) and not isinstance(overrides, str):
        items = list(overrides)
    else:
        raise InputError(
            f"set: expected a mapping of scenario keys to values, got {inputs.kind(overrides)}"
        )
    try:
        for item in items:
            if not isinstance(item, tuple) or len(item) != 2:
                raise InputError(f"set: expected (key, value) pairs, got {inputs.kind(item)}")
            raw = apply_set(raw, item[0], item[1])
        fields = check_scenario(raw, folder)
    except InputError as error:
        raise InputError(f"{label}: {error}") from None
    fields.setdefault("name", origin if isinstance(origin, str) and origin else "scenario")
    if len(fields["name"]) > inputs.MAX_NAME_CHARS:
        fields["name"] = fields["name"][: inputs.MAX_NAME_CHARS]
    try:
        scenario = Scenario(**fields)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(x) for x in first["loc"])
        raise InputError(
            f"{label}: {field}: {first['msg']} (got {inputs.shown(first.get('input'))})"
        ) from None
    scenario.typical_values()  # bounds check with field names
    return scenario
