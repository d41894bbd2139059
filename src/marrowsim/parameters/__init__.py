"""The parameter table: loading, validation, and population draws.

``table.yaml`` beside this module is the one reviewable place for every model
parameter. Each entry is validated at load: a unit, a value inside its bounds,
and a source are required; a source must name a paper, or say ``assumed``, a
standard reference, or ``calibrated to <target id>``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from marrowsim.errors import InputError

# a patient's random outcomes (each death cause's threshold, later graft
# failure) come from a stream of its own, beside the one its parameters come
# from, so adding a varying parameter never changes who dies when
OUTCOME_STREAM = 1
LN2 = math.log(2.0)


class Variability(BaseModel):
    """Between-patient variability: log-normal around the typical value with
    coefficient of variation ``cv``; a ``histogram`` (a published
    distribution: ``bins`` edges and a ``weights`` share per bin, uniform
    within a bin, the typical value aside); or a ``unit_exponential`` random
    outcome (a threshold drawn per patient from its outcome stream)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    distribution: Literal["lognormal", "histogram", "unit_exponential"] = "lognormal"
    cv: float | None = Field(default=None, gt=0, le=2)
    bins: tuple[float, ...] | None = None  # histogram bin edges, increasing
    weights: tuple[float, ...] | None = None  # histogram weight per bin (any scale)

    @model_validator(mode="after")
    def _cv_for_lognormal_only(self) -> Variability:
        if self.distribution == "lognormal" and self.cv is None:
            raise ValueError("a log-normal variability needs a cv")
        if self.distribution != "lognormal" and self.cv is not None:
            raise ValueError(f"a {self.distribution} variability takes no cv")
        if self.distribution != "histogram":
            if self.bins is not None or self.weights is not None:
                raise ValueError(f"a {self.distribution} variability takes no bins or weights")
            return self
        if self.bins is None or self.weights is None:
            raise ValueError("a histogram variability needs bins (edges) and weights")
        if len(self.bins) != len(self.weights) + 1 or len(self.weights) < 1:
            raise ValueError("a histogram needs one more bin edge than weights")
        if any(b >= a for a, b in zip(self.bins[1:], self.bins[:-1], strict=True)):
            raise ValueError("histogram bin edges must increase")
        if any(not np.isfinite(w) or w < 0 for w in self.weights) or sum(self.weights) <= 0:
            raise ValueError("histogram weights must be >= 0 with a positive sum")
        return self

    @property
    def drawn_from_patient_stream(self) -> bool:
        """Drawn from the patient's own generator (not its outcome stream)."""
        return self.distribution != "unit_exponential"

    def describe(self) -> str:
        if self.distribution == "lognormal":
            return f"cv {self.cv:g}"
        if self.distribution == "histogram":
            assert self.bins is not None
            return f"histogram over {self.bins[0]:g}-{self.bins[-1]:g} ({len(self.bins) - 1} bins)"
        return "Exp(1) per patient"


class Parameter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    value: float
    unit: str = Field(min_length=1)
    bounds: tuple[float, float]
    variability: Variability | None = None
    source: str = Field(min_length=3)
    meaning: str = Field(min_length=3)

    @field_validator("source")
    @classmethod
    def _source_is_not_empty(cls, value: str) -> str:
        if value.strip().lower() in {"tbd", "todo", "unknown", "?"}:
            raise ValueError("a source must name a paper, 'assumed' or 'calibrated to <target id>'")
        return value

    @model_validator(mode="after")
    def _value_inside_bounds(self) -> Parameter:
        low, high = self.bounds
        if low > high:
            raise ValueError(f"bounds {list(self.bounds)} are reversed")
        if not low <= self.value <= high:
            raise ValueError(f"value {self.value} lies outside bounds {list(self.bounds)}")
        return self

    def check(self, value: float, field: str | None = None) -> float:
        """Return ``value`` if it is a finite number inside the bounds, else raise."""
        label = field or self.name
        low, high = self.bounds
        if not np.isfinite(value) or not low <= value <= high:
            raise InputError(
                f"{label}: {value!r} is outside the allowed range [{low:g}, {high:g}] {self.unit}"
            )
        return float(value)


@dataclass(frozen=True)
class ParameterTable:
    """An ordered, validated set of parameters."""

    parameters: tuple[Parameter, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {p.name: p for p in self.parameters})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        try:
            return self._by_name[name]  # type: ignore[attr-defined]
        except KeyError:
            raise InputError(unknown_name_message("parameter", name, self.names)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name  # type: ignore[attr-defined]

    def values(self) -> dict[str, float]:
        return {p.name: p.value for p in self.parameters}

    def with_values(self, overrides: Mapping[str, float], field_prefix: str = "") -> ParameterTable:
        """A copy with typical values replaced (each checked against its bounds).
        A parameter drawn from a histogram (a covariate such as age) that is
        given a value is fixed at it for every patient."""
        for name in overrides:
            self[name]  # raises a clear error for unknown names
        new = []
        for p in self.parameters:
            if p.name in overrides:
                value = p.check(overrides[p.name], field=f"{field_prefix}{p.name}")
                update: dict[str, Any] = {"value": value}
                if p.variability is not None and p.variability.distribution == "histogram":
                    update["variability"] = None
                new.append(p.model_copy(update=update))
            else:
                new.append(p)
        return ParameterTable(tuple(new))

    def require(self, names: Iterable[str]) -> None:
        """Raise if the model needs a parameter the table lacks, or the table holds
        one no mechanism uses."""
        needed = set(names)
        missing = sorted(needed - set(self.names))
        unused = sorted(set(self.names) - needed)
        if missing:
            raise InputError(f"parameter table lacks {', '.join(missing)}, needed by the model")
        if unused:
            raise InputError(f"parameter table holds {', '.join(unused)}, which no mechanism uses")

    def varying(self) -> tuple[Parameter, ...]:
        return tuple(p for p in self.parameters if p.variability is not None)

    def draw(
        self,
        n_patients: int,
        seed: int,
        first: int = 0,
        indices: Sequence[int] | np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Draw ``n_patients`` virtual patients.

        Patient ``i`` gets its own generator from ``SeedSequence(seed).spawn``,
        so it is the same patient in any cohort size. Each log-normal parameter
        has its median at its typical value and the given CV, redrawn until
        inside its bounds; a histogram parameter takes one uniform draw through
        the inverse of its piecewise-uniform distribution. Both come from the
        patient's generator in table order (a parameter appended at the end of
        the table never shifts an earlier one). Unit-exponential outcomes come from the patient's
        outcome stream (``OUTCOME_STREAM``), in table order, scaled so that
        their median is the typical value (``Exp(1)`` at the table's ln 2). ``first`` is the
        index of the first patient drawn (patients ``first .. first + n - 1``);
        ``indices`` (length ``n_patients``) draws those patients instead, in
        that order (a trial arm's patients of the population).
        """
        keys = range(first, first + n_patients) if indices is None else [int(k) for k in indices]
        if len(keys) != n_patients:
            raise ValueError(f"indices: {len(keys)} given for {n_patients} patients")
        varying = [
            p for p in self.varying() if p.variability and p.variability.drawn_from_patient_stream
        ]
        outcomes = self.outcomes()
        draws = {p.name: np.full(n_patients, p.value) for p in self.parameters}
        # what each draw needs, worked out once for all patients; the patients'
        # values gathered in rows, one patient (and one generator) at a time
        plans = [_draw_plan(p) for p in varying]
        rows = np.empty((n_patients, len(varying)))
        units = np.empty((n_patients, len(outcomes)))
        for i, k in enumerate(keys):
            # the k-th child of SeedSequence(seed).spawn(...), and its own child
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))
            rows[i] = [_draw_planned(rng, plan) for plan in plans]
            if outcomes:
                stream = np.random.SeedSequence(seed, spawn_key=(k, OUTCOME_STREAM))
                # the stream's unit exponentials in table order (one call draws
                # the same numbers as one call each)
                units[i] = np.random.default_rng(stream).standard_exponential(len(outcomes))
        for j, p in enumerate(varying):
            draws[p.name] = rows[:, j].copy()
        for j, p in enumerate(outcomes):
            # a unit exponential scaled so that its median is the typical
            # value (ln 2 in the table: Exp(1) itself)
            draws[p.name] = np.minimum(
                np.maximum(p.value / LN2 * units[:, j], p.bounds[0]), p.bounds[1]
            )
        return draws

    def outcomes(self) -> list[Parameter]:
        """The random outcomes drawn from each patient's outcome stream, in
        the order they are drawn there (table order)."""
        return [
            p
            for p in self.varying()
            if p.variability and not p.variability.drawn_from_patient_stream
        ]

    def draw_outcome(self, name: str, n_patients: int, seed: int, first: int = 0) -> np.ndarray:
        """One unit-exponential outcome of patients ``first .. first + n - 1``,
        equal to ``draw(n_patients, seed, first)[name]`` but drawing nothing
        else (no log-normal parameters, no later outcomes): cheap enough for a
        million patients, as for the rate of a rare drug reaction."""
        outcomes = self.outcomes()
        names = [p.name for p in outcomes]
        if name not in names:
            raise InputError(f"{name!r} is not a unit-exponential outcome of the parameter table")
        k = names.index(name)
        p = outcomes[k]
        out = np.empty(n_patients)
        for i in range(n_patients):
            stream = np.random.SeedSequence(seed, spawn_key=(first + i, OUTCOME_STREAM))
            out[i] = float(np.random.default_rng(stream).standard_exponential(k + 1)[k])
        return np.clip(p.value / LN2 * out, p.bounds[0], p.bounds[1])


def _draw_plan(p: Parameter) -> tuple[Any, ...]:
    """A parameter's distribution as its draw uses it: (True, typical value,
    low, high, sigma) for a log-normal, (False, typical value, low, high,
    cumulative weights, bin edges) for a histogram."""
    assert p.variability is not None
    low, high = float(p.bounds[0]), float(p.bounds[1])
    if p.variability.distribution == "histogram":
        assert p.variability.bins and p.variability.weights
        edges = np.asarray(p.variability.bins, dtype=float)
        weights = np.asarray(p.variability.weights, dtype=float)
        cumulative = np.concatenate(([0.0], np.cumsum(weights) / weights.sum()))
        return (False, p.value, low, high, cumulative, edges)
    assert p.variability.cv is not None
    return (True, p.value, low, high, math.sqrt(math.log1p(p.variability.cv**2)))


def _draw_planned(rng: np.random.Generator, plan: tuple[Any, ...]) -> float:
    if not plan[0]:
        # one uniform draw through the inverse of a piecewise-uniform
        # distribution (uniform within each bin), clipped to the bounds
        _, _, low, high, cumulative, edges = plan
        value = float(np.interp(rng.random(), cumulative, edges))
        return min(max(value, low), high)
    _, typical, low, high, sigma = plan
    normal = rng.standard_normal
    for _ in range(100):
        # math.exp (the C library's), not numpy's: numpy's own SIMD exp on
        # AVX-512 machines differs in the last bit (marrowsim.libm)
        value = typical * math.exp(sigma * normal())
        if low <= value <= high:
            return value
    return min(max(value, low), high)


def unknown_name_message(kind: str, name: str, allowed: Iterable[str]) -> str:
    """``unknown <kind> 'name'`` with the closest allowed names (never a long list)."""
    from marrowsim.io.inputs import unknown_name

    return unknown_name(kind, name, allowed)


def parse_table(raw: Any, origin: str = "parameter table") -> ParameterTable:
    if not isinstance(raw, dict):
        raise InputError(f"{origin}: expected a mapping of parameter names to entries")
    parameters = []
    for name, entry in raw.items():
        if not isinstance(entry, dict):
            raise InputError(f"{origin}: parameter {name!r} must be a mapping, got {entry!r}")
        try:
            parameters.append(Parameter(name=name, **entry))
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(x) for x in e['loc']) or 'entry'}: {e['msg']}"
                for e in error.errors()
            )
            raise InputError(f"{origin}: parameter {name!r}: {problems}") from None
    return ParameterTable(tuple(parameters))


@lru_cache(maxsize=1)
def load_table() -> ParameterTable:
    """The built-in parameter table."""
    text = resources.files("marrowsim.parameters").joinpath("table.yaml").read_text()
    return parse_table(yaml.safe_load(text), "built-in parameter table")
