"""The one input layer: every value a user gives passes through here.

Scenario files, ``--set`` values, command-line options and the keywords of
:func:`marrowsim.simulate` are checked by the same functions, so a bad value
gets the same one-line message (field, value shortened, what is allowed)
whichever way it came in:

- YAML is read by :class:`StrictLoader`: duplicate keys, anchors and aliases,
  nesting deeper than :data:`MAX_DEPTH` and lone surrogates are refused, and a
  syntax error becomes one line with its line and column;
- :func:`number`, :func:`whole`, :func:`text` and :func:`mapping` are strict:
  a boolean is not a number, a string is not a number, ``0`` or ``[]`` is not
  a mapping;
- sizes that would exhaust the machine (patients, output rows, string
  lengths, file size) are refused before any work is done;
- unknown names get the closest allowed names (:func:`unknown_name`), never a
  list of dozens.

New scenario sections (regimens, care rules, trial files) register a checker
with :func:`register_section`; the scenario loader calls it with the field
path and the raw value.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import reprlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent, MappingStartEvent, SequenceStartEvent

from marrowsim.errors import InputError

# limits on what one run may ask of the machine
MAX_DEPTH = 20  # YAML nesting (a scenario needs 3)
MAX_FILE_BYTES = 1_000_000  # a scenario file
MAX_NAME_CHARS = 200  # scenario name (it is drawn in the figure title)
MAX_TEXT_CHARS = 5000  # scenario description
MAX_KEY_CHARS = 200  # a key in a scenario file or --set
MAX_PATIENTS = 1_000_000
# patients x output days: the timecourse table has one row for each
MAX_OUTPUT_ROWS = 20_000_000
# numbers kept in memory: rows x (readouts, plus states if they are saved)
MAX_OUTPUT_VALUES = 300_000_000
MAX_PATH_PART_BYTES = 255  # a file or folder name (NAME_MAX on Linux and macOS)
MAX_PATH_BYTES = 4000
SHOWN_CHARS = 40  # how much of a bad value a message echoes

_repr = reprlib.Repr()
_repr.maxstring = SHOWN_CHARS + 2
_repr.maxother = SHOWN_CHARS
_repr.maxlevel = 2
_repr.maxdict = _repr.maxlist = _repr.maxtuple = _repr.maxset = 4


def shown(value: Any) -> str:
    """``repr(value)``, cut to about :data:`SHOWN_CHARS` characters (safe for
    deep, huge or self-referencing values)."""
    try:
        text = _repr.repr(value)
    except Exception:  # a hostile __repr__
        text = f"<{type(value).__name__}>"
    if len(text) > SHOWN_CHARS + 5:
        text = text[:SHOWN_CHARS] + "..."
    return text


def kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, str):
        return f"text {shown(value)}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return shown(value)


def unknown_name(what: str, name: Any, allowed: Iterable[str], where: str = "") -> str:
    """``unknown <what> 'name'; did you mean a, b?`` with at most three close
    names; the whole list only when it is short."""
    allowed = list(allowed)
    label = shown(name) if isinstance(name, str) else f"{shown(name)} (keys are text)"
    close = (
        difflib.get_close_matches(name[:MAX_KEY_CHARS], allowed, n=3)
        if isinstance(name, str)
        else []
    )
    if close:
        hint = f"; did you mean {', '.join(close)}?"
    elif len(allowed) <= 10:
        hint = f"; allowed: {', '.join(sorted(allowed))}"
    else:
        hint = f"; {where}" if where else f"; none of the {len(allowed)} names is close"
    return f"unknown {what} {label}{hint}"


# -- YAML ---------------------------------------------------------------------


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, anchors and aliases, nesting
    deeper than :data:`MAX_DEPTH` and lone surrogates, and reads ``1e4`` as a
    number (YAML 1.1 would read it as text)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if self.check_event(AliasEvent) or getattr(event, "anchor", None) is not None:
            raise ComposerError(
                None, None, "anchors and aliases (&name, *name) are not allowed", event.start_mark
            )
        nested = self.check_event(MappingStartEvent, SequenceStartEvent)
        if nested:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark
                )
        try:
            return super().compose_node(parent, index)
        finally:
            if nested:
                self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                raise ConstructorError(
                    None, None, "a key must be text or a number", key_node.start_mark
                ) from None
            if duplicate:
                raise ConstructorError(
                    None, None, f"duplicate key {shown(key)}", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_str(self, node: Any) -> Any:
        value = super().construct_yaml_str(node)
        if isinstance(value, str) and _SURROGATE.search(value):
            raise ConstructorError(
                None, None, "text holds a lone surrogate (not a character)", node.start_mark
            )
        return value


_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
StrictLoader.add_constructor("tag:yaml.org,2002:str", StrictLoader.construct_yaml_str)
StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def load_yaml(text: str, origin: str) -> Any:
    """Parse YAML with :class:`StrictLoader`; any error is one line naming the
    line and column."""
    if len(text) > MAX_FILE_BYTES:
        raise InputError(
            f"{origin}: {len(text)} characters is too long for a scenario"
            f" (at most {MAX_FILE_BYTES})"
        )
    loader = None
    try:
        loader = StrictLoader(text)
        return loader.get_single_data()
    except yaml.reader.ReaderError as error:
        raise InputError(
            f"{origin}: not valid YAML at character {error.position + 1}:"
            f" character {error.character!r} is not allowed"
        ) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = (error.problem or error.context or "cannot be read").strip()
        problem = " ".join(problem.split())
        raise InputError(f"{origin}: not valid YAML{where}: {problem[:120]}") from None
    except yaml.YAMLError as error:
        reason = " ".join(str(error).split())[:120]
        raise InputError(f"{origin}: not valid YAML: {reason}") from None
    except RecursionError:
        raise InputError(f"{origin}: not valid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


# -- values -------------------------------------------------------------------


def number(
    field: str,
    value: Any,
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    unit: str = "",
) -> float:
    """A finite real number (not a boolean, not text) within the bounds."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InputError(f"{field}: expected a number, got {kind(value)}")
    try:
        result = float(value)
    except OverflowError:
        result = math.inf
    allowed = _range_text(gt, ge, le, unit)
    if not math.isfinite(result):
        raise InputError(f"{field}: {shown(value)} must be a finite number{allowed}")
    if (
        (gt is not None and not result > gt)
        or (ge is not None and not result >= ge)
        or (le is not None and not result <= le)
    ):
        raise InputError(f"{field}: {shown(value)} must be{allowed.removeprefix(',')}")
    return result


def _range_text(gt: float | None, ge: float | None, le: float | None, unit: str) -> str:
    parts = []
    if gt is not None:
        parts.append(f"> {gt:g}")
    if ge is not None:
        parts.append(f">= {ge:g}")
    if le is not None:
        parts.append(f"<= {le:g}")
    if not parts:
        return ""
    return ", " + " and ".join(parts) + (f" {unit}" if unit else "")


def whole(field: str, value: Any, *, ge: int = 0, le: int | None = None) -> int:
    """A whole number (``int`` or numpy integer, not a boolean or a float)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(
            f"{field}: expected a whole number >= {ge}, got {kind(value)}"
            + (" (a float)" if isinstance(value, float) else "")
        )
    result = int(value)
    if result < ge or (le is not None and result > le):
        limit = f" and <= {le:,}" if le is not None else ""
        raise InputError(f"{field}: {shown(value)} must be a whole number >= {ge}{limit}")
    return result


def text(field: str, value: Any, *, max_chars: int, min_chars: int = 0, lines: bool = False) -> str:
    """Text without surrogates or control characters (newlines and tabs only
    where ``lines``), at most ``max_chars`` long."""
    if not isinstance(value, str):
        raise InputError(f"{field}: expected text, got {kind(value)}")
    if len(value) < min_chars:
        raise InputError(f"{field}: {shown(value)} must not be empty")
    if len(value) > max_chars:
        raise InputError(
            f"{field}: {shown(value)} is {len(value):,} characters; at most {max_chars:,} allowed"
        )
    if _SURROGATE.search(value):
        raise InputError(f"{field}: {shown(value)} holds a lone surrogate (not a character)")
    bad = _CONTROL.search(value) or (None if lines else re.search("[\n\t]", value))
    if bad:
        raise InputError(f"{field}: {shown(value)} holds a control character {bad.group()!r}")
    return value


def read_text_file(what: str, path: Path) -> str:
    """A user's text file (a scenario or trial file): must exist, be at most
    ``MAX_FILE_BYTES`` and be UTF-8; errors name ``what`` and the path."""
    origin = shown(str(path))
    try:
        if not path.is_file():
            raise InputError(f"{what} file {origin} does not exist (or is not a file)")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InputError(f"{what} file {origin} is larger than {MAX_FILE_BYTES:,} bytes")
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(
            f"{what} file {origin} cannot be read: {error.strerror or error}"
        ) from None
    except UnicodeDecodeError:
        raise InputError(f"{what} file {origin} is not UTF-8 text") from None


def mapping(field: str, value: Any, *, what: str, allow_null: bool = True) -> dict[Any, Any]:
    """A mapping (``null`` reads as an empty one where ``allow_null``)."""
    if value is None and allow_null:
        return {}
    if not isinstance(value, Mapping):
        raise InputError(f"{field}: expected a mapping of {what}, got {kind(value)}")
    return dict(value)


def key(field: str, value: Any) -> str:
    """A key: text of reasonable length."""
    if not isinstance(value, str):
        raise InputError(f"{field}: key {shown(value)} must be text")
    if len(value) > MAX_KEY_CHARS:
        raise InputError(f"{field}: key {shown(value)} is longer than {MAX_KEY_CHARS} characters")
    if _SURROGATE.search(value) or _CONTROL.search(value) or re.search("[\n\t]", value):
        raise InputError(f"{field}: key {shown(value)} holds a control character or surrogate")
    return value


def plain(name: str) -> str:
    """A checked key as it reads in a message: bare if short, else shortened."""
    return name if len(name) <= SHOWN_CHARS else shown(name)


def output_rows(patients: int, days: float, every: float, values_per_row: int) -> int:
    """Output days per patient, refusing grids too large to hold."""
    ratio = days / every * (1 + 1e-12) if every > 0 else math.inf
    points = math.floor(ratio) + 2 if ratio < MAX_OUTPUT_ROWS else math.inf
    if points * patients > MAX_OUTPUT_ROWS:
        raise InputError(
            f"every: {shown(every)} over {days:g} days for {patients:,} patient(s) asks for"
            f" {_big(ratio * patients)} output rows; at most {MAX_OUTPUT_ROWS:,}"
            " (use a larger every, fewer days or fewer patients)"
        )
    if points * patients * values_per_row > MAX_OUTPUT_VALUES:
        raise InputError(
            f"save_states: {_big(points * patients)} output rows x {values_per_row} values"
            f" is more than {MAX_OUTPUT_VALUES:,} numbers (use a larger every or fewer patients)"
        )
    return int(points)


def _big(count: float) -> str:
    return f"{count:,.0f}" if count < 1e15 else f"{count:.3g}"


def check_callable(field: str, value: Any) -> Callable[..., Any] | None:
    if value is not None and not callable(value):
        raise InputError(f"{field}: expected a function or None, got {kind(value)}")
    return value


def flag(field: str, value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise InputError(f"{field}: expected True or False, got {kind(value)}")
    return bool(value)


# -- scenario sections ----------------------------------------------------------

SectionChecker = Callable[[str, Any], Any]
_SECTIONS: dict[str, SectionChecker] = {}


def register_section(name: str, checker: SectionChecker) -> None:
    """Let a scenario hold a top-level section ``name``; ``checker(field,
    raw)`` returns its validated value or raises :class:`InputError`."""
    _SECTIONS[name] = checker


def sections() -> Mapping[str, SectionChecker]:
    return _SECTIONS


# -- paths --------------------------------------------------------------------


def path_text(option: str, value: Any) -> str:
    """An output path: not empty, no NUL, each part short enough to create."""
    if not isinstance(value, str | os.PathLike):
        raise InputError(f"{option}: expected a path, got {kind(value)}")
    raw = os.fspath(value)
    if isinstance(raw, bytes):
        raw = os.fsdecode(raw)
    if not raw.strip():
        raise InputError(f"{option}: {shown(raw)} is empty; give a folder such as out/run")
    if "\x00" in raw:
        raise InputError(f"{option}: {shown(raw)} holds a NUL character")
    encoded = os.fsencode(raw) if not _SURROGATE.search(raw) else raw.encode("utf-8", "replace")
    if len(encoded) > MAX_PATH_BYTES:
        raise InputError(f"{option}: {shown(raw)} is longer than {MAX_PATH_BYTES} bytes")
    for part in encoded.split(b"/"):
        if len(part) > MAX_PATH_PART_BYTES:
            raise InputError(
                f"{option}: {shown(raw)} has a name of {len(part)} bytes;"
                f" at most {MAX_PATH_PART_BYTES} per folder or file name"
            )
    return raw
