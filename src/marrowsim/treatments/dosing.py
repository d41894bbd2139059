"""NONMEM-style dosing tables: the records pharmacometricians keep, read as
regimens.

A CSV file with one row per dosing record::

    ID,TIME,EVID,AMT,CMT,II,ADDL,DRUG
    1,0,1,40,1,1,3,horse_atg
    1,0,1,5,2,0.5,729,cyclosporine

Columns (names in any case; other columns such as DV, MDV or WT are ignored):

- ``ID``: the subject. Every ID must give the same regimen, which is then
  given to every simulated patient: virtual patients are drawn, not listed,
  so records cannot be matched to patients.
- ``TIME``: the time of the (first) dose, in days from day 0 of the outputs
  (each patient's diagnosis in a scenario with ``enrolment: diagnosis``);
  a header ``TIME[h]`` gives it in hours, ``TIME[d]`` in days.
- ``EVID``: 1 = a dose; 0 = an observation, skipped; anything else (reset,
  other events) is refused.
- ``AMT``: the amount of one dose, in the drug's dose unit times a day
  (mg/kg for a mg/kg/day drug).
- ``II``: the interval between doses, in TIME's unit (``II[h]``/``II[d]``
  to say otherwise); with ``ADDL``, the count of additional doses.
- ``DRUG``: the drug (``horse_atg``, ``hatg``, ``cyclosporine``, ...). Without
  it, ``CMT`` names it (as text), or the scenario maps compartment numbers
  to drugs: ``regimens_from: {file: dosing.csv, compartments: {1: horse_atg}}``.
- ``SS``, ``RATE``: only 0 (steady-state and rate records are not read).

Each drug's records must be one regular course: the same AMT every II (from
all rows and their ADDL doses together), which becomes the daily dose
``AMT x 1 day / II``, the start day and the duration ``doses x II``. A drug
that is given once a day in the model (ATG) needs II = 1 day; cyclosporine's
II sets its dosing interval. Irregular records (changing amounts, gaps,
tapers written dose by dose) are refused, naming the row: reading them as a
piecewise schedule is a later feature.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from marrowsim.errors import InputError
from marrowsim.io import inputs
from marrowsim.treatments.regimens import DRUGS, Course, check_bounds, drug_names, find_drug

MAX_DOSING_BYTES = 10_000_000
MAX_DOSES = 200_000  # doses in the whole table, ADDL included
REQUIRED = ("ID", "TIME", "EVID", "AMT")
_HEADER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:[\[(]\s*([A-Za-z]+)\s*[\])])?\s*$")
_TIME_UNITS = {"d": 1.0, "day": 1.0, "days": 1.0, "h": 1 / 24, "hr": 1 / 24, "hours": 1 / 24}
_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")
_TOLERANCE = 1e-6  # days: doses within this of the regular grid are on it


def _read(path: Path, origin: str) -> Any:
    import pandas as pd

    try:
        if not path.is_file():
            raise InputError(f"{origin}: the dosing table does not exist (or is not a file)")
        if path.stat().st_size > MAX_DOSING_BYTES:
            raise InputError(f"{origin}: larger than {MAX_DOSING_BYTES:,} bytes")
        with warnings.catch_warnings():
            # a row longer than the header: refused, not read as an index
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                skipinitialspace=True,
                encoding="utf-8-sig",  # a spreadsheet's byte-order mark is not a column
                index_col=False,
                skip_blank_lines=False,  # so that row numbers are file lines
            )
    except InputError:
        raise
    except OSError as error:
        raise InputError(f"{origin}: cannot be read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise InputError(f"{origin}: is not UTF-8 text") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{origin}: the dosing table is empty; give a header row") from None
    except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError) as error:
        reason = " ".join(str(error).split())[:120]
        raise InputError(f"{origin}: not a readable CSV table: {reason}") from None


def _columns(frame: Any, origin: str) -> dict[str, tuple[str, float | None]]:
    """Column name in the file -> (upper-case name, factor to days or None)."""
    out: dict[str, tuple[str, float | None]] = {}
    seen: set[str] = set()
    for column in frame.columns:
        match = _HEADER.match(str(column))
        if not match:
            continue  # an unrelated column, ignored
        name, unit = match.group(1).upper(), match.group(2)
        factor = None
        if unit is not None:
            factor = _TIME_UNITS.get(unit.lower())
            if name not in ("TIME", "II") or factor is None:
                raise InputError(
                    f"{origin}: column {inputs.shown(str(column))}: only TIME and II take a unit,"
                    " [d] or [h]"
                )
        if name in seen:
            raise InputError(f"{origin}: column {name} is given twice")
        seen.add(name)
        out[str(column)] = (name, factor)
    missing = [c for c in REQUIRED if c not in seen]
    if missing:
        raise InputError(
            f"{origin}: column {', '.join(missing)} is missing;"
            f" a dosing table has {', '.join(REQUIRED)} (and CMT or DRUG, II, ADDL)"
        )
    return out


def _value(origin: str, line: int, column: str, text: str, *, whole: bool = False) -> float:
    where = f"{origin} line {line}, {column}"
    text = text.strip()
    if text in ("", "."):
        return 0.0  # NONMEM reads an empty field or '.' as 0
    if not _NUMBER.match(text):
        raise InputError(f"{where}: {inputs.shown(text)} is not a number")
    value = float(text)
    if not math.isfinite(value):
        raise InputError(f"{where}: {inputs.shown(text)} must be a finite number")
    if whole and value != int(value):
        raise InputError(f"{where}: {inputs.shown(text)} must be a whole number")
    return value


def read_dosing(
    path: str | Path,
    *,
    compartments: Mapping[int, str] | None = None,
    origin: str | None = None,
) -> list[Course]:
    """The courses of a dosing table (one per drug, the same for every ID)."""
    path = Path(path)
    origin = origin or inputs.shown(str(path))
    frame = _read(path, origin)
    columns = _columns(frame, origin)
    units = {name: factor for name, factor in columns.values()}
    time_factor = units.get("TIME") or 1.0
    ii_factor = units.get("II") or time_factor
    names = {name: column for column, (name, _) in columns.items()}
    maps = {int(k): v for k, v in (compartments or {}).items()}
    doses: dict[str, dict[str, list[tuple[float, float, int]]]] = {}  # id -> drug -> doses
    total = 0
    for index, row in enumerate(frame.itertuples(index=False, name=None)):
        line = index + 2  # the header is line 1
        if not any(str(cell).strip() for cell in row):
            continue  # a blank line
        cells = {name: str(row[frame.columns.get_loc(column)]) for name, column in names.items()}

        def number(
            column: str, whole: bool = False, cells: dict[str, str] = cells, line: int = line
        ) -> float:
            return _value(origin, line, column, cells.get(column, ""), whole=whole)

        evid = number("EVID", whole=True)
        if evid == 0:
            continue
        if evid != 1:
            raise InputError(
                f"{origin} line {line}, EVID: {evid:g} is not read; only 1 (a dose) and"
                " 0 (an observation, skipped)"
            )
        for column in ("SS", "RATE"):
            if number(column) != 0:
                raise InputError(
                    f"{origin} line {line}, {column}: only 0 is read"
                    " (steady-state and rate records are a later feature)"
                )
        subject = cells["ID"].strip()
        if not subject:
            raise InputError(f"{origin} line {line}, ID: empty")
        drug = _drug(origin, line, cells, maps)
        time = number("TIME") * time_factor
        if time < 0:
            raise InputError(f"{origin} line {line}, TIME: {time:g} days is before day 0")
        amount = number("AMT")
        if amount < 0:
            raise InputError(f"{origin} line {line}, AMT: {amount:g} is negative")
        interval = number("II") * ii_factor
        extra = int(number("ADDL", whole=True))
        if extra < 0 or interval < 0:
            raise InputError(f"{origin} line {line}, ADDL/II: must not be negative")
        if extra > 0 and interval <= 0:
            raise InputError(f"{origin} line {line}, II: ADDL {extra} more doses need an II > 0")
        total += extra + 1
        if total > MAX_DOSES:
            raise InputError(
                f"{origin} line {line}, ADDL: more than {MAX_DOSES:,} doses in the table"
            )
        given = doses.setdefault(subject, {}).setdefault(drug, [])
        given += [(time + k * interval, amount, line) for k in range(extra + 1)]
        if interval > 0:
            given.append((math.nan, interval, line))  # the written II, for a single dose
    if not doses:
        raise InputError(f"{origin}: no dose records (EVID 1)")
    per_subject = {
        subject: {drug: _course(origin, drug, records) for drug, records in drugs.items()}
        for subject, drugs in doses.items()
    }
    (first, courses), *others = per_subject.items()
    for subject, other in others:
        if other.keys() != courses.keys() or any(
            _same(other[d]) != _same(courses[d]) for d in courses
        ):
            raise InputError(
                f"{origin}: ID {inputs.shown(subject)} is given a different regimen from ID"
                f" {inputs.shown(first)}; every ID must have the same records (virtual patients"
                " are drawn, not listed, so per-patient dosing cannot be matched to them)"
            )
    return list(courses.values())


def _same(course: Course) -> tuple[Any, ...]:
    return (course.drug, course.dose, course.start_day, course.duration_days, course.interval_h)


def _drug(origin: str, line: int, cells: Mapping[str, str], maps: Mapping[int, str]) -> str:
    if "DRUG" in cells:
        return find_drug(f"{origin} line {line}, DRUG", cells["DRUG"].strip()).name
    cmt = cells.get("CMT", "").strip()
    if not cmt:
        raise InputError(
            f"{origin} line {line}: no DRUG or CMT column names the drug; add a DRUG column"
            f" ({', '.join(DRUGS)})"
        )
    if cmt.lower() in drug_names():
        return DRUGS[drug_names()[cmt.lower()]].name
    try:
        value = float(cmt)
    except ValueError:
        return find_drug(f"{origin} line {line}, CMT", cmt).name
    if not math.isfinite(value) or value != int(value):
        raise InputError(f"{origin} line {line}, CMT: {inputs.shown(cmt)} is not a compartment")
    number = int(value)
    if number not in maps:
        raise InputError(
            f"{origin} line {line}, CMT: compartment {number} names no drug; add a DRUG column"
            " or map it: regimens_from: {file: ..., compartments: {" + str(number) + ": ...}}"
        )
    return find_drug(f"regimens_from.compartments.{number}", maps[number]).name


def _course(origin: str, drug_name: str, records: list[tuple[float, float, int]]) -> Course:
    """One regular course from a drug's doses (time, amount, line)."""
    drug = DRUGS[drug_name]
    if not drug.dosing_table:
        raise InputError(
            f"{origin} line {records[0][2]}: a {drug.name} course is not read from a dosing"
            " table; write it in the scenario's regimens: section"
        )
    written = {amount for time, amount, _ in records if math.isnan(time)}
    given = sorted((r for r in records if not math.isnan(r[0])), key=lambda r: r[0])
    start, amount, line = given[0]
    for _, other, other_line in given:
        if other != amount:
            raise InputError(
                f"{origin} line {other_line}, AMT: {other:g} differs from {amount:g}"
                f" (line {line}); only a regular {drug_name} course (the same AMT every II)"
                " is read, irregular records are a later feature"
            )
    if len(given) > 1:
        interval = given[1][0] - given[0][0]
    elif written:
        interval = min(written)
    else:
        interval = 1.0  # a single dose with no II: one day's dose
    if interval <= 0:
        raise InputError(
            f"{origin} line {given[1][2]}, TIME: two {drug_name} doses at day {start:g};"
            " only one dose per II is read"
        )
    for k, (time, _, row) in enumerate(given):
        if abs(time - (start + k * interval)) > _TOLERANCE:
            raise InputError(
                f"{origin} line {row}, TIME: a {drug_name} dose at day {time:g} breaks the"
                f" regular interval of {interval:g} days from day {start:g}; irregular records"
                " are a later feature"
            )
    hours = interval * 24
    if drug.interval_h is None and abs(hours - 24) > 1e-6:
        raise InputError(
            f"{origin} line {line}, II: {drug_name} is given once a day in the model;"
            f" II must be 1 day (24 h), not {hours:g} h"
        )
    course = Course(
        drug.name,
        dose=amount / interval,
        start_day=start,
        duration_days=len(given) * interval,
        interval_h=round(hours, 9) if drug.interval_h else None,
        origin=f"{origin} line {line}",
        fields={
            "dose": f"{origin} line {line}, AMT",
            "start": f"{origin} line {line}, TIME",
            "course": f"{origin} line {line}, ADDL",
            "interval_h": f"{origin} line {line}, II",
        },
    )
    check_bounds(course)
    return course
