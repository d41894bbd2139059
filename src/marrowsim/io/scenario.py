"""Scenario files: plain YAML, validated with pydantic.

A scenario names the typical patient (parameter values that differ from the
table) and the run (days, output interval). Parameters are set either under
``parameters:`` by their table name, or grouped by section: ``immune:
{strength: 0.5}`` sets ``immune_strength``. ``--set KEY=VALUE`` on the command
line edits one key with the same dotted paths (``--set immune.strength=0.5``,
``--set parameters.hsc_pool_size=20000``, ``--set days=365``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from marrowsim.errors import InputError
from marrowsim.parameters import load_table, unknown_name_message

RUN_FIELDS = ("name", "description", "days", "every", "parameters")
# a number, not a YAML boolean such as `yes` (which would pass as 1.0)
StrictNumber = Annotated[float, BeforeValidator(lambda v: _not_bool(v))]
MAX_DAYS = 36500


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
    parameters: dict[str, StrictNumber] = Field(default_factory=dict)

    def typical_values(self) -> dict[str, float]:
        """Table values with this scenario's overrides (each checked against its bounds)."""
        return load_table().with_values(self.parameters, field_prefix="parameters.").values()

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(), sort_keys=False)


def builtin_names() -> list[str]:
    folder = resources.files("marrowsim.scenarios")
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def builtin_text(name: str) -> str:
    if name not in builtin_names():
        raise InputError(unknown_name_message("scenario", name, builtin_names()))
    return resources.files("marrowsim.scenarios").joinpath(f"{name}.yaml").read_text()


def _raw(source: str | Path) -> tuple[dict[str, Any], str]:
    text_origin = str(source)
    if isinstance(source, Path) or text_origin.endswith((".yaml", ".yml")) or "/" in text_origin:
        path = Path(source)
        if not path.is_file():
            raise InputError(f"scenario file {text_origin!r} does not exist (or is not a file)")
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise InputError(
                f"scenario file {text_origin!r} cannot be read: {error.strerror}"
            ) from None
        except UnicodeDecodeError:
            raise InputError(f"scenario file {text_origin!r} is not UTF-8 text") from None
    else:
        text = builtin_text(text_origin)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InputError(f"scenario {text_origin!r} is not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise InputError(f"scenario {text_origin!r} must be a YAML mapping of keys to values")
    return raw, text_origin


def parse_value(text: str) -> Any:
    """A ``--set`` value: a number (``1e4`` included, which YAML 1.1 reads as
    a string), else YAML scalar syntax."""
    try:
        return float(text) if "." in text or "e" in text.lower() else int(text)
    except ValueError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_set(raw: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """Set one dotted key (``days``, ``immune.strength``, ``parameters.x``)."""
    raw = copy.deepcopy(raw)
    parts = key.split(".")
    if not all(parts):
        raise InputError(f"--set {key!r}: a key is a dotted path such as immune.strength or days")
    if len(parts) == 1:
        if parts[0] in RUN_FIELDS and parts[0] != "parameters":
            raw[parts[0]] = value
            return raw
        if parts[0] in load_table():
            raw.setdefault("parameters", {})[parts[0]] = value
            return raw
        allowed = [f for f in RUN_FIELDS if f != "parameters"]
        raise InputError(
            unknown_name_message("scenario key", key, allowed + list(load_table().names))
        )
    if len(parts) == 2:
        section, name = parts
        target = name if section == "parameters" else f"{section}_{name}"
        if target not in load_table():
            raise InputError(unknown_name_message("scenario key", key, _dotted_parameter_names()))
        raw.setdefault("parameters", {})[target] = value
        return raw
    raise InputError(f"--set {key!r}: keys have at most two parts (section.name)")


def _dotted_parameter_names() -> list[str]:
    return [f"parameters.{n}" for n in load_table().names]


def _normalise(raw: dict[str, Any], origin: str) -> dict[str, Any]:
    """Fold ``section: {key: value}`` groups into ``parameters`` and check names."""
    out: dict[str, Any] = {}
    explicit = raw.get("parameters") or {}
    if not isinstance(explicit, dict):
        raise InputError(f"{origin}: parameters must be a mapping of parameter names to numbers")
    parameters: dict[str, Any] = {}
    table = load_table()
    for key, value in raw.items():
        if key in RUN_FIELDS:
            if key != "parameters":
                out[key] = value
            continue
        if isinstance(value, dict):
            for name, v in value.items():
                target = f"{key}_{name}"
                if target not in table:
                    raise InputError(
                        f"{origin}: {unknown_name_message('scenario key', f'{key}.{name}', _dotted_parameter_names())}"
                    )
                parameters[target] = v
            continue
        if any(name.startswith(f"{key}_") for name in table.names):
            raise InputError(
                f"{origin}: scenario key {key!r} must be a mapping of names to numbers,"
                f" e.g. {key}: {{name: value}}; got {value!r}"
            )
        raise InputError(
            f"{origin}: {unknown_name_message('scenario key', str(key), list(RUN_FIELDS))}"
        )
    parameters.update(explicit)  # explicit names (and --set) win over sections
    for name in parameters:
        if name not in table:
            raise InputError(
                f"{origin}: {unknown_name_message('parameter', str(name), table.names)}"
            )
    out["parameters"] = parameters
    return out


def load_scenario(
    source: str | Path | Mapping[str, Any] | Scenario = "immune-aa",
    overrides: Mapping[str, Any] | Sequence[tuple[str, Any]] = (),
) -> Scenario:
    """Load a built-in name, a YAML file or a mapping, apply ``--set`` overrides,
    validate, and check every parameter against its bounds."""
    if isinstance(source, Scenario):
        raw, origin = source.model_dump(), source.name
    elif isinstance(source, Mapping):
        raw, origin = dict(source), str(source.get("name", "scenario"))
    else:
        raw, origin = _raw(source)
    items = overrides.items() if isinstance(overrides, Mapping) else overrides
    for key, value in items:
        raw = apply_set(raw, key, value)
    raw = _normalise(raw, origin)
    raw.setdefault("name", origin)
    try:
        scenario = Scenario(**raw)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(x) for x in first["loc"])
        raise InputError(
            f"{origin}: {field}: {first['msg']} (got {first.get('input')!r})"
        ) from None
    scenario.typical_values()  # bounds check with field names
    return scenario
