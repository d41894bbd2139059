"""Regimens as data: a drug course written with units, folded into parameters.

A scenario's ``regimens:`` section is a list of courses::

    regimens:
      - drug: horse_atg
        dose: 40 mg/kg/day
        start_day: 0
        duration_days: 4
      - drug: cyclosporine
        dose: 10 mg/kg/day
        target_trough: 250 ng/mL
        start_day: 0
        duration_days: 365   # the whole course, taper included
        taper_days: 180

Each course becomes the values of its drug's parameters (``hatg_dose_mg_per_kg_day``,
``hatg_start_day``, ``hatg_days``; ``cyclosporine_full_dose_days`` is the course
less its taper), so a regimen gives exactly the simulation of the equivalent
parameter sections and everything downstream is unchanged.

:data:`DRUGS` is the registry: one :class:`Drug` per drug says which names
it answers to, which parameter each field sets, and which units each field
accepts (with the factor to the parameter's unit). Adding a drug is one entry.

Start days count from day 0 of the outputs, which in a scenario with
``enrolment: diagnosis`` is each patient's diagnosis. ``start:
{after_diagnosis_days: N}`` says so explicitly and is refused in a scenario
that does not enrol at diagnosis.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from marrowsim.errors import InputError
from marrowsim.io import inputs
from marrowsim.parameters import load_table

MAX_REGIMENS = 50  # courses in one scenario (one per drug for now)
MAX_COURSE_DAYS = 36500  # the longest run

_MG_PER_KG_DAY = {"mg/kg/day": 1.0, "mg/kg/d": 1.0, "mg/kg/24h": 1.0, "mg/kg per day": 1.0}
_MG_PER_DAY = {"mg/day": 1.0, "mg/d": 1.0, "mg/24h": 1.0, "mg per day": 1.0}
_UG_PER_KG_DAY = {"ug/kg/day": 1.0, "µg/kg/day": 1.0, "μg/kg/day": 1.0, "mcg/kg/day": 1.0}
_NG_PER_ML = {"ng/ml": 1.0, "ug/l": 1.0, "µg/l": 1.0, "μg/l": 1.0, "mcg/l": 1.0}
_MILLION_CELLS_PER_KG = {
    f"{count}{cells}/kg": 1.0
    for count in ("10^6", "x10^6", "x 10^6", "1e6", "x1e6", "million")
    for cells in ("", " cells", " cd34", " cd34+", " cd34+ cells", " cd34 cells")
}


@dataclass(frozen=True)
class Quantity:
    """A regimen field with a unit: the parameter it sets, the units it
    accepts (lower case, as written after the number) and the factor that
    takes each to the parameter's unit, and a hint for a wrong unit."""

    parameter: str
    unit: str  # the unit as it is printed
    units: Mapping[str, float]
    hint: str = ""


@dataclass(frozen=True)
class Drug:
    """How one drug's regimen fields map to its mechanism's parameters."""

    name: str
    aliases: tuple[str, ...]
    label: str  # the parameter prefix, as messages name the drug
    dose: Quantity
    start: str  # parameter: first day of the course
    course: str  # parameter: days of the course (less the taper where there is one)
    taper: str | None = None  # parameter: days of the taper, inside the course
    trough: Quantity | None = None  # target trough, where the drug is titrated
    # dosing tables: the parameter that takes the dose interval (hours); a
    # drug without one is given once a day (II = 24 h)
    interval_h: str | None = None
    note: str = ""  # what the course means, for the docs
    # duration_days where a course leaves it out (None: it must be given)
    default_duration_days: float | None = None
    # further fields with a unit: field name -> quantity (e.g. a transplant's
    # conditioning dose), each optional (the table value where left out)
    quantities: Mapping[str, Quantity] = field(default_factory=dict)
    # further fields naming one of a few choices: field name -> (parameter,
    # {choice: parameter value}), each optional (the table value where left out)
    choices: Mapping[str, tuple[str, Mapping[str, float]]] = field(default_factory=dict)
    dosing_table: bool = True  # may be read from a NONMEM-style dosing table

    @property
    def keys(self) -> tuple[str, ...]:
        optional = (("taper_days",) if self.taper else ()) + (
            ("target_trough",) if self.trough else ()
        )
        return (
            "drug",
            "dose",
            "start_day",
            "start",
            "duration_days",
            *optional,
            *self.quantities,
            *self.choices,
        )


def _atg(name: str, alias: str, kind: str) -> Drug:
    return Drug(
        name=name,
        aliases=(alias,),
        label=alias,
        dose=Quantity(
            f"{alias}_dose_mg_per_kg_day",
            "mg/kg/day",
            _MG_PER_KG_DAY,
            "ATG doses are written per kg per day",
        ),
        start=f"{alias}_start_day",
        course=f"{alias}_days",
        note=f"{kind} ATG: daily infusions for duration_days",
    )


DRUGS: dict[str, Drug] = {
    d.name: d
    for d in (
        _atg("horse_atg", "hatg", "horse"),
        _atg("rabbit_atg", "ratg", "rabbit"),
        Drug(
            name="cyclosporine",
            aliases=("csa", "ciclosporin", "cyclosporin"),
            label="cyclosporine",
            dose=Quantity(
                "cyclosporine_dose_mg_per_kg_day",
                "mg/kg/day",
                _MG_PER_KG_DAY,
                "flat doses (mg/day) would need each patient's weight, which a scenario"
                " cannot apply yet; write the dose per kg per day",
            ),
            start="cyclosporine_start_day",
            course="cyclosporine_full_dose_days",
            taper="cyclosporine_taper_days",
            trough=Quantity(
                "cyclosporine_target_trough_ng_per_ml",
                "ng/mL",
                _NG_PER_ML,
                "troughs are whole-blood concentrations",
            ),
            interval_h="cyclosporine_dosing_interval_h",
            note="oral, twice daily; the full dose, then the taper to zero at the course's end",
        ),
        Drug(
            name="eltrombopag",
            aliases=("epag", "promacta", "revolade"),
            label="eltrombopag",
            dose=Quantity(
                "eltrombopag_dose_mg_per_day",
                "mg/day",
                _MG_PER_DAY,
                "eltrombopag is a flat oral dose (150 mg/day in severe AA, 75 in East Asian"
                " patients)",
            ),
            start="eltrombopag_start_day",
            course="eltrombopag_days",
            note="oral, once daily, held above a platelet ceiling at weekly visits",
        ),
        Drug(
            name="chloramphenicol",
            aliases=("chloromycetin",),
            label="chloramphenicol",
            dose=Quantity(
                "chloramphenicol_dose_mg_per_kg_day",
                "mg/kg/day",
                _MG_PER_KG_DAY,
                "chloramphenicol doses are written per kg per day (50 mg/kg/day in 4 doses)",
            ),
            start="chloramphenicol_start_day",
            course="chloramphenicol_days",
            note="oral or intravenous, in 4 divided doses (the daily-average level is modelled)",
        ),
        Drug(
            name="filgrastim",
            aliases=("g-csf", "gcsf"),
            label="filgrastim",
            dose=Quantity(
                "filgrastim_dose_ug_per_kg_day",
                "ug/kg/day",
                _UG_PER_KG_DAY,
                "filgrastim doses are written per kg per day (5 ug/kg/day)",
            ),
            start="filgrastim_start_day",
            course="filgrastim_days",
            note="subcutaneous, once daily",
        ),
        Drug(
            name="hsct",
            aliases=("transplant", "bmt", "stem_cell_transplant", "allogeneic_transplant"),
            label="transplant",
            dose=Quantity(
                "transplant_cd34_dose_1e6_per_kg",
                "10^6 CD34+ cells/kg",
                _MILLION_CELLS_PER_KG,
                "a graft is written as donor CD34+ cells per kg of the recipient, such as"
                " 3 x10^6/kg",
            ),
            start="transplant_start_day",
            course="transplant_conditioning_days",
            default_duration_days=4,
            quantities={
                "conditioning_dose": Quantity(
                    "transplant_cyclophosphamide_mg_per_kg_day",
                    "mg/kg/day",
                    _MG_PER_KG_DAY,
                    "cyclophosphamide is written per kg per day (50 mg/kg/day x 4)",
                )
            },
            choices={
                "donor": (
                    "transplant_donor_unrelated",
                    {
                        "msd": 0.0,
                        "matched_sibling": 0.0,
                        "sibling": 0.0,
                        "mud": 1.0,
                        "matched_unrelated": 1.0,
                        "unrelated": 1.0,
                    },
                )
            },
            dosing_table=False,
            note=(
                "cyclophosphamide conditioning for duration_days (4) from start_day, one rest"
                " day, then the donor's CD34+ cells (dose) on day 0 of the transplant;"
                " donor msd (matched sibling, the default) or mud (matched unrelated)"
            ),
        ),
    )
}


def register_drug(drug: Drug) -> None:
    """Add a drug to the registry (its parameters must be in the table)."""
    DRUGS[drug.name] = drug


def drug_names() -> dict[str, str]:
    """Every name a drug answers to -> its registry name."""
    names = {}
    for drug in DRUGS.values():
        for name in (drug.name, *drug.aliases):
            names[name] = drug.name
    return names


def find_drug(field: str, value: Any) -> Drug:
    name = inputs.text(field, value, max_chars=inputs.MAX_KEY_CHARS, min_chars=1)
    found = drug_names().get(name.strip().lower())
    if found is None:
        hint = f"the drugs are {', '.join(DRUGS)}"
        raise InputError(f"{field}: " + inputs.unknown_name("drug", name, drug_names(), hint))
    return DRUGS[found]


@dataclass(frozen=True)
class Course:
    """One drug course, in the units of its parameters."""

    drug: str
    dose: float
    start_day: float
    duration_days: float
    taper_days: float = 0.0
    target_trough: float | None = None
    interval_h: float | None = None  # from a dosing table
    origin: str = "regimens"  # where it came from, for messages
    fields: Mapping[str, str] = field(default_factory=dict)  # quantity -> field name
    # the drug's further quantities and choices given: field name -> the
    # parameter value (a choice's value, e.g. 1 for donor: mud)
    settings: Mapping[str, float] = field(default_factory=dict)

    def parameters(self) -> dict[str, float]:
        """The parameter values this course sets."""
        drug = DRUGS[self.drug]
        out = {
            drug.dose.parameter: self.dose,
            drug.start: self.start_day,
            drug.course: self.duration_days - self.taper_days,
        }
        for key, value in self.settings.items():
            if key in drug.quantities:
                out[drug.quantities[key].parameter] = value
            else:
                out[drug.choices[key][0]] = value
        if drug.taper:
            out[drug.taper] = self.taper_days
        if drug.trough and self.target_trough is not None:
            out[drug.trough.parameter] = self.target_trough
        if drug.interval_h and self.interval_h is not None:
            out[drug.interval_h] = self.interval_h
        return out

    def to_raw(self) -> dict[str, Any]:
        """The course as a ``regimens:`` entry (reads back to the same course)."""
        drug = DRUGS[self.drug]
        raw: dict[str, Any] = {
            "drug": self.drug,
            "dose": {"value": self.dose, "unit": drug.dose.unit},
            "start_day": self.start_day,
            "duration_days": self.duration_days,
        }
        if drug.taper:
            raw["taper_days"] = self.taper_days
        if drug.trough and self.target_trough is not None:
            raw["target_trough"] = {"value": self.target_trough, "unit": drug.trough.unit}
        for key, value in self.settings.items():
            if key in drug.quantities:
                raw[key] = {"value": value, "unit": drug.quantities[key].unit}
            else:
                parameter_values = drug.choices[key][1]
                raw[key] = next(name for name, v in parameter_values.items() if v == value)
        return raw


# -- values with units ----------------------------------------------------------

_WITH_UNIT = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


def _normal_unit(unit: str) -> str:
    unit = " ".join(unit.lower().split())
    return re.sub(r"\s*/\s*", "/", unit)


def quantity(field: str, value: Any, q: Quantity, label: str) -> float:
    """``40 mg/kg/day`` or ``{value: 40, unit: mg/kg/day}``, in ``q``'s unit."""
    if isinstance(value, Mapping):
        entries = inputs.mapping(field, value, what="value and unit")
        for key in entries:
            inputs.key(field, key)
            if key not in ("value", "unit"):
                raise InputError(f"{field}: " + inputs.unknown_name("key", key, ["value", "unit"]))
        for key in ("value", "unit"):
            if key not in entries:
                raise InputError(f"{field}: {key} is missing; write {{value: 40, unit: {q.unit}}}")
        amount = inputs.number(f"{field}.value", entries["value"])
        unit = inputs.text(f"{field}.unit", entries["unit"], max_chars=inputs.MAX_KEY_CHARS)
        written = f"{inputs.shown(amount)} {unit}"
    elif isinstance(value, str):
        inputs.text(field, value, max_chars=inputs.MAX_KEY_CHARS, min_chars=1)
        match = _WITH_UNIT.match(value)
        if not match:
            raise InputError(
                f"{field}: {inputs.shown(value)} is not a number with a unit, such as 1 {q.unit}"
            )
        amount = inputs.number(field, float(match.group(1)))
        unit = match.group(2)
        written = inputs.shown(value)
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(
            f"{field}: expected a number with a unit, such as 1 {q.unit}, got {inputs.kind(value)}"
        )
    else:
        raise InputError(f"{field}: {inputs.shown(value)} has no unit; write {value} {q.unit}")
    if not unit:
        raise InputError(f"{field}: {written} has no unit; write it in {q.unit}")
    factor = q.units.get(_normal_unit(unit))
    if factor is None:
        hint = f"; {q.hint}" if q.hint else ""
        raise InputError(f"{field}: {label} {written} is not in {q.unit}{hint}")
    if amount < 0:
        raise InputError(f"{field}: {label} {written} is negative")
    return amount * factor


# -- checking -----------------------------------------------------------------


def _days(field: str, value: Any, *, gt: float | None = None) -> float:
    ge = None if gt is not None else 0.0
    return inputs.number(field, value, gt=gt, ge=ge, le=MAX_COURSE_DAYS, unit="days")


def _start(field: str, entry: Mapping[str, Any], enrolment: str, delay: float = 0.0) -> float:
    if "start_day" in entry and "start" in entry:
        raise InputError(f"{field}: give start_day or start, not both")
    if "start" not in entry:
        return _days(f"{field}.start_day", entry.get("start_day", 0))
    start = inputs.mapping(
        f"{field}.start",
        entry["start"],
        what="one of day or after_diagnosis_days, e.g. {day: 0}",
        allow_null=False,
    )
    allowed = ["day", "after_diagnosis_days"]
    for key in start:
        inputs.key(f"{field}.start", key)
        if key not in allowed:
            raise InputError(f"{field}.start: " + inputs.unknown_name("key", key, allowed))
    if len(start) != 1:
        raise InputError(f"{field}.start: give one of day or after_diagnosis_days")
    ((key, value),) = start.items()
    if key == "after_diagnosis_days" and enrolment != "diagnosis":
        raise InputError(
            f"{field}.start.after_diagnosis_days: days count from the start of each"
            " patient's history in this scenario; set enrolment: diagnosis (day 0 = diagnosis)"
            " or write start: {day: N}"
        )
    day = _days(f"{field}.start.{key}", value)
    if key == "after_diagnosis_days" and delay > 0:
        # day 0 is the enrolment, enrolment_delay_days after the diagnosis
        if day < delay:
            raise InputError(
                f"{field}.start.after_diagnosis_days: {day:g} comes before the enrolment"
                f" (enrolment_delay_days = {delay:g} after diagnosis, day 0 of the outputs)"
            )
        day -= delay
    return day


def check_course(field: str, raw: Any, enrolment: str = "start", delay: float = 0.0) -> Course:
    """One ``regimens:`` entry, checked, in the units of its parameters."""
    entry = inputs.mapping(field, raw, what="regimen keys (drug, dose, ...)", allow_null=False)
    for key in entry:
        inputs.key(field, key)
    if "drug" not in entry:
        raise InputError(f"{field}: drug is missing; name one of {', '.join(DRUGS)}")
    drug = find_drug(f"{field}.drug", entry["drug"])
    for key in entry:
        if key not in drug.keys:
            every = {k for d in DRUGS.values() for k in d.keys}
            if key in every:
                raise InputError(
                    f"{field}.{inputs.plain(key)}: {drug.name} takes no {key};"
                    f" its keys are {', '.join(drug.keys)}"
                )
            raise InputError(f"{field}: " + inputs.unknown_name("regimen key", key, drug.keys))
    for key in ("dose", "duration_days"):
        if key not in entry and not (key == "duration_days" and drug.default_duration_days):
            raise InputError(f"{field}: {key} is missing for {drug.name}")
    dose = quantity(f"{field}.dose", entry["dose"], drug.dose, f"{drug.label} dose")
    start = _start(field, entry, enrolment, delay)
    duration = _days(
        f"{field}.duration_days", entry.get("duration_days", drug.default_duration_days), gt=0
    )
    settings: dict[str, float] = {}
    for key, q in drug.quantities.items():
        if key in entry:
            settings[key] = quantity(f"{field}.{key}", entry[key], q, f"{drug.label} {key}")
    for key, (_, values) in drug.choices.items():
        if key in entry:
            choice = inputs.text(
                f"{field}.{key}", entry[key], max_chars=inputs.MAX_KEY_CHARS, min_chars=1
            )
            found = values.get(choice.strip().lower())
            if found is None:
                raise InputError(
                    f"{field}.{key}: "
                    + inputs.unknown_name(key, choice, values, f"use one of {', '.join(values)}")
                )
            settings[key] = found
    taper = 0.0
    if drug.taper and "taper_days" in entry:
        taper = _days(f"{field}.taper_days", entry["taper_days"])
        if taper > duration:
            raise InputError(
                f"{field}.taper_days: {taper:g} is longer than the course"
                f" (duration_days {duration:g}); the taper is the end of the course"
            )
    trough = None
    if drug.trough and "target_trough" in entry:
        trough = quantity(
            f"{field}.target_trough", entry["target_trough"], drug.trough, f"{drug.label} trough"
        )
    course = Course(
        drug.name, dose, start, duration, taper, trough, origin=field, settings=settings
    )
    check_bounds(course)
    return course


# which field of a course sets each kind of parameter (for messages)
_FIELD_OF = {
    "dose": "dose",
    "start": "start_day",
    "course": "duration_days",
    "taper": "taper_days",
    "trough": "target_trough",
    "interval_h": "II",
}


def check_bounds(course: Course) -> None:
    """Each parameter the course sets is inside its table bounds; a message
    names the course's field, not the parameter."""
    drug = DRUGS[course.drug]
    table = load_table()
    roles = {
        drug.dose.parameter: "dose",
        drug.start: "start",
        drug.course: "course",
        **({drug.taper: "taper"} if drug.taper else {}),
        **({drug.trough.parameter: "trough"} if drug.trough else {}),
        **({drug.interval_h: "interval_h"} if drug.interval_h else {}),
        **{q.parameter: key for key, q in drug.quantities.items()},
    }
    for name, value in course.parameters().items():
        low, high = table[name].bounds
        if math.isfinite(value) and low <= value <= high:
            continue
        role = roles[name]
        where = course.fields.get(role) or f"{course.origin}.{_FIELD_OF.get(role, role)}"
        if role == "course":
            longest = high + course.taper_days
            shortest = low + course.taper_days
            if value > high:
                raise InputError(
                    f"{where}: a {course.duration_days:g}-day {drug.name} course is longer than"
                    f" allowed (at most {longest:g} days)"
                )
            raise InputError(
                f"{where}: a {course.duration_days:g}-day {drug.name} course is shorter than"
                f" allowed (at least {shortest:g} days)"
            )
        unit = table[name].unit
        raise InputError(
            f"{where}: {drug.label} {value:g} {unit} is outside the allowed range"
            f" [{low:g}, {high:g}] {unit} ({name})"
        )


def check_regimens(
    field: str, raw: Any, enrolment: str = "start", delay: float = 0.0
) -> list[Course]:
    """The ``regimens:`` section: a list of courses, one per drug."""
    if raw is None:
        return []
    if not isinstance(raw, list | tuple):
        raise InputError(
            f"{field}: expected a list of courses (- drug: ..., dose: ...), got {inputs.kind(raw)}"
        )
    if len(raw) > MAX_REGIMENS:
        raise InputError(f"{field}: {len(raw)} courses; at most {MAX_REGIMENS}")
    return [check_course(f"{field}[{i}]", entry, enrolment, delay) for i, entry in enumerate(raw)]


def regimen_parameters(courses: Sequence[Course]) -> dict[str, float]:
    """The parameter values of all courses; a drug given twice is refused."""
    seen: dict[str, Course] = {}
    out: dict[str, float] = {}
    for course in courses:
        if course.drug in seen:
            raise InputError(
                f"{course.origin}: a second {course.drug} course ({seen[course.drug].origin}"
                " gives one); one course per drug for now"
            )
        seen[course.drug] = course
        out.update(course.parameters())
    return out
