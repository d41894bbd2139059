"""Trial files: a virtual clinical trial specified as data (YAML), validated
with messages that name the field, the value and what is allowed.

A trial screens a *population* (a scenario, usually enrolling at diagnosis)
in draw order, keeps the patients who meet the inclusion criteria and none of
the exclusion criteria (on covariates and on counts at enrolment), allocates
them to *arms* (each a scenario: the same disease with its own regimens) by
stratified permuted blocks from the trial seed, follows each for
``follow_up_days`` and reads out its *endpoints*.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from marrowsim.clinic.definitions import COUNT_READOUTS, SEVERITY_LEVELS
from marrowsim.clinic.response import RESPONSE_LANDMARKS
from marrowsim.errors import InputError
from marrowsim.io import inputs
from marrowsim.io.scenario import MAX_DAYS, is_file, load_scenario, parse_value

# covariates read at enrolment (day 0): the patient's own, then its counts
PATIENT_COVARIATES = {"age": "patient_age_years", "weight": "patient_weight_kg"}
COUNT_COVARIATES = COUNT_READOUTS
COVARIATES = (*PATIENT_COVARIATES, *COUNT_COVARIATES, "severity")
ENDPOINT_TYPES = (
    "response",
    "overall_survival",
    "event_free_survival",
    "time_to_response",
    "relapse",
)
RESPONSE_LEVELS = ("overall", "complete")
EFS_EVENTS = ("death", "relapse", "no_response_3m", "no_response_6m", "no_response_12m")
TRIAL_FIELDS = (
    "name",
    "description",
    "seed",
    "population",
    "arms",
    "allocation",
    "patients_per_arm",
    "follow_up_days",
    "every",
    "endpoints",
    "analysis",
)
MAX_PATIENTS_PER_ARM = 500_000
MAX_ARMS = 8


@dataclass(frozen=True)
class Criterion:
    """``covariate`` within [low, high] (numbers), or one of ``levels``."""

    covariate: str
    low: float | None = None
    high: float | None = None
    levels: tuple[str, ...] = ()

    def text(self) -> str:
        if self.levels:
            return f"{self.covariate} in {', '.join(self.levels)}"
        parts = []
        if self.low is not None:
            parts.append(f"{self.covariate} >= {self.low:g}")
        if self.high is not None:
            parts.append(f"{self.covariate} <= {self.high:g}")
        return " and ".join(parts)


@dataclass(frozen=True)
class Arm:
    name: str
    scenario: str  # a built-in name or an absolute file path
    set: dict[str, Any] = field(default_factory=dict)
    ratio: int = 1


@dataclass(frozen=True)
class Endpoint:
    name: str
    type: str
    at_days: float  # the landmark (a response's in days from treatment start)
    landmark: str | None = None  # response: 3_months | 6_months | 12_months
    level: str = "overall"
    events: tuple[str, ...] = ("death", "relapse")

    def text(self) -> str:
        if self.type == "response":
            return f"{self.level} response at {self.landmark}"
        what = {
            "overall_survival": "overall survival",
            "event_free_survival": f"event-free survival ({', '.join(self.events)})",
            "time_to_response": "cumulative first response",
            "relapse": "relapse of responders",
        }[self.type]
        return f"{what} at day {self.at_days:g}"

    @property
    def is_time_to_event(self) -> bool:
        return self.type in ("overall_survival", "event_free_survival", "time_to_response")


@dataclass(frozen=True)
class Trial:
    name: str
    description: str
    seed: int
    population: str
    population_set: dict[str, Any]
    inclusion: tuple[Criterion, ...]
    exclusion: tuple[Criterion, ...]
    arms: tuple[Arm, ...]
    stratify: tuple[tuple[str, tuple[float, ...]], ...]  # covariate, cut points
    block_size: int
    patients_per_arm: int
    follow_up_days: float
    every: float
    endpoints: tuple[Endpoint, ...]
    reference: str
    alpha: float
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def total_patients(self) -> int:
        return self.patients_per_arm * sum(a.ratio for a in self.arms)

    def arm_index(self, name: str) -> int:
        return [a.name for a in self.arms].index(name)


def builtin_names() -> list[str]:
    folder = resources.files("marrowsim.trials").joinpath("builtin")
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def builtin_text(name: str) -> str:
    if name not in builtin_names():
        raise InputError(
            inputs.unknown_name("trial", name, builtin_names(), "`marrowsim trials` lists them")
        )
    return resources.files("marrowsim.trials").joinpath("builtin", f"{name}.yaml").read_text()


def load_trial(
    source: str | Path | Mapping[str, Any],
    *,
    patients_per_arm: int | None = None,
    seed: int | None = None,
) -> Trial:
    """A built-in trial name, a YAML file or a mapping, validated; the
    command line's ``--patients-per-arm`` and ``--seed`` override the file."""
    folder: Path | None = None
    if isinstance(source, Mapping):
        raw: Any = copy.deepcopy(dict(source))
        origin = str(raw.get("name", "trial"))
    else:
        text_source = inputs.text(
            "trial", str(source), max_chars=inputs.MAX_PATH_BYTES, min_chars=1
        )
        origin = inputs.shown(text_source)
        if is_file(source):
            path = Path(source)
            text = inputs.read_text_file("trial", path)
            folder = path.resolve().parent
        else:
            text = builtin_text(text_source)
        raw = inputs.load_yaml(text, f"trial {origin}")
    if isinstance(raw, dict):  # else _check says what a trial is
        overrides = {"patients_per_arm": patients_per_arm, "seed": seed}
        raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return _check(raw, folder)
    except InputError as error:
        raise InputError(f"trial {origin}: {error}") from None


def _scenario_source(field_name: str, value: Any, folder: Path | None) -> str:
    text = inputs.text(field_name, value, max_chars=inputs.MAX_PATH_BYTES, min_chars=1)
    if is_file(text) and folder is not None and not Path(text).is_absolute():
        return str((folder / text).resolve())
    if is_file(text):
        return str(Path(text).resolve())
    return text


def _sets(field_name: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in inputs.mapping(field_name, value, what="scenario keys to values").items():
        inputs.key(field_name, key)
        out[key] = parse_value(item) if isinstance(item, str) else item
    return out


def _criteria(field_name: str, value: Any) -> tuple[Criterion, ...]:
    out = []
    for name, rule in inputs.mapping(field_name, value, what="covariates to ranges").items():
        inputs.key(field_name, name)
        where = f"{field_name}.{inputs.plain(name)}"
        if name not in COVARIATES:
            raise InputError(f"{field_name}: " + inputs.unknown_name("covariate", name, COVARIATES))
        if name == "severity":
            levels = [rule] if isinstance(rule, str) else rule
            if not isinstance(levels, list) or not levels:
                raise InputError(
                    f"{where}: expected a list of severity levels ({', '.join(SEVERITY_LEVELS)}),"
                    f" got {inputs.kind(rule)}"
                )
            for level in levels:
                if level not in SEVERITY_LEVELS:
                    raise InputError(
                        f"{where}: " + inputs.unknown_name("severity level", level, SEVERITY_LEVELS)
                    )
            out.append(Criterion(name, levels=tuple(levels)))
            continue
        if isinstance(rule, list):
            if len(rule) != 2:
                raise InputError(
                    f"{where}: expected [low, high] (null for no bound), got {inputs.shown(rule)}"
                )
            rule = {"min": rule[0], "max": rule[1]}
        rule = inputs.mapping(where, rule, what="min/max bounds", allow_null=False)
        for key in rule:
            if key not in ("min", "max"):
                raise InputError(f"{where}: " + inputs.unknown_name("key", key, ("min", "max")))
        low = None if rule.get("min") is None else inputs.number(f"{where}.min", rule["min"])
        high = None if rule.get("max") is None else inputs.number(f"{where}.max", rule["max"])
        if low is None and high is None:
            raise InputError(f"{where}: give min, max or both")
        if low is not None and high is not None and low > high:
            raise InputError(f"{where}: min {low:g} is above max {high:g}")
        out.append(Criterion(name, low, high))
    return tuple(out)


def _ratio(value: Any, n_arms: int) -> tuple[int, ...]:
    if value is None:
        return (1,) * n_arms
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else None
    parts = text.split(":") if text is not None else []
    try:
        ratio = tuple(int(p) for p in parts)
    except ValueError:
        ratio = ()
    if isinstance(value, int) and n_arms > 1:
        raise InputError(
            f"allocation.ratio: {value} is a number; YAML reads an unquoted 2:1 as one"
            f' (base 60): quote it, e.g. ratio: "{":".join(["1"] * n_arms)}"'
        )
    if len(ratio) != n_arms or any(r < 1 or r > 100 for r in ratio):
        raise InputError(
            f"allocation.ratio: {inputs.shown(value)} is not a ratio of {n_arms} whole numbers"
            f" 1-100 written like {':'.join(['1'] * n_arms)} (one per arm, in arm order)"
        )
    return ratio


def _endpoint(name: str, value: Any, follow_up: float) -> Endpoint:
    where = f"endpoints.{inputs.plain(name)}"
    spec = inputs.mapping(where, value, what="endpoint keys", allow_null=False)
    allowed = ("type", "at", "at_days", "level", "events")
    for key in spec:
        inputs.key(where, key)
        if key not in allowed:
            raise InputError(f"{where}: " + inputs.unknown_name("key", key, allowed))
    kind = spec.get("type")
    if kind not in ENDPOINT_TYPES:
        raise InputError(
            f"{where}.type: " + inputs.unknown_name("endpoint type", kind, ENDPOINT_TYPES)
        )
    if kind == "response":
        landmark = spec.get("at", "6_months")
        if not isinstance(landmark, str) or landmark not in RESPONSE_LANDMARKS:
            raise InputError(
                f"{where}.at: " + inputs.unknown_name("landmark", landmark, RESPONSE_LANDMARKS)
            )
        level = spec.get("level", "overall")
        if level not in RESPONSE_LEVELS:
            raise InputError(
                f"{where}.level: " + inputs.unknown_name("level", level, RESPONSE_LEVELS)
            )
        day = RESPONSE_LANDMARKS[landmark]
        if day > follow_up:
            raise InputError(f"{where}.at: {landmark} is after follow_up_days ({follow_up:g})")
        return Endpoint(name, kind, day, landmark, level)
    if "at" in spec or "level" in spec:
        raise InputError(f"{where}: 'at' and 'level' are for response endpoints; give at_days")
    day = inputs.number(
        f"{where}.at_days", spec.get("at_days", follow_up), gt=0, le=follow_up, unit="days"
    )
    events: tuple[str, ...] = ("death", "relapse")
    if "events" in spec:
        if kind != "event_free_survival":
            raise InputError(f"{where}.events: only for event_free_survival")
        listed = spec["events"]
        if not isinstance(listed, list) or not listed:
            raise InputError(f"{where}.events: expected a list of {', '.join(EFS_EVENTS)}")
        for item in listed:
            if item not in EFS_EVENTS:
                raise InputError(
                    f"{where}.events: " + inputs.unknown_name("event", item, EFS_EVENTS)
                )
        events = tuple(listed)
    return Endpoint(name, kind, day, None, "overall", events)


def _check(raw: Any, folder: Path | None) -> Trial:
    raw = inputs.mapping("trial", raw, what="trial keys to values", allow_null=False)
    for key in raw:
        inputs.key("trial", key)
        if key not in TRIAL_FIELDS:
            raise InputError(inputs.unknown_name("key", key, TRIAL_FIELDS))
    name = inputs.text(
        "name", raw.get("name", "trial"), max_chars=inputs.MAX_NAME_CHARS, min_chars=1
    )
    description = inputs.text(
        "description", raw.get("description", ""), max_chars=inputs.MAX_TEXT_CHARS, lines=True
    )
    seed = inputs.whole("seed", raw.get("seed", 0), ge=0, le=2**63)
    follow_up = inputs.number(
        "follow_up_days", raw.get("follow_up_days", 365), gt=0, le=MAX_DAYS, unit="days"
    )
    every = inputs.number("every", raw.get("every", 1), gt=0, le=follow_up, unit="days")
    if "patients_per_arm" not in raw:
        raise InputError("patients_per_arm: missing; give a whole number >= 1")
    per_arm = inputs.whole(
        "patients_per_arm", raw["patients_per_arm"], ge=1, le=MAX_PATIENTS_PER_ARM
    )

    population = inputs.mapping(
        "population", raw.get("population"), what="population keys", allow_null=False
    )
    for key in population:
        inputs.key("population", key)
        if key not in ("scenario", "set", "inclusion", "exclusion"):
            raise InputError(
                "population: "
                + inputs.unknown_name("key", key, ("scenario", "set", "inclusion", "exclusion"))
            )
    if "scenario" not in population:
        raise InputError("population.scenario: missing; give a built-in scenario name or a file")
    pop_scenario = _scenario_source("population.scenario", population["scenario"], folder)
    pop_set = _sets("population.set", population.get("set"))
    try:
        pop = load_scenario(pop_scenario, {**pop_set, "days": follow_up})
    except InputError as error:
        raise InputError(f"population.scenario: {error}") from None
    inclusion = _criteria("population.inclusion", population.get("inclusion"))
    exclusion = _criteria("population.exclusion", population.get("exclusion"))

    arms_raw = inputs.mapping("arms", raw.get("arms"), what="arm names to arms", allow_null=False)
    if not 2 <= len(arms_raw) <= MAX_ARMS:
        raise InputError(f"arms: {len(arms_raw)} given; a trial has 2 to {MAX_ARMS} arms")
    arm_specs = []
    for arm_name, arm in arms_raw.items():
        inputs.key("arms", arm_name)
        inputs.text("arms", arm_name, max_chars=60, min_chars=1)
        where = f"arms.{inputs.plain(arm_name)}"
        arm = inputs.mapping(where, arm, what="arm keys", allow_null=False)
        for key in arm:
            inputs.key(where, key)
            if key not in ("scenario", "set", "description"):
                raise InputError(
                    f"{where}: "
                    + inputs.unknown_name("arm key", key, ("scenario", "set", "description"))
                )
        scenario = _scenario_source(f"{where}.scenario", arm.get("scenario", pop_scenario), folder)
        # the population's settings hold in every arm, the arm's own on top
        sets = {**pop_set, **_sets(f"{where}.set", arm.get("set"))}
        try:
            sc = load_scenario(scenario, {**sets, "days": follow_up})
        except InputError as error:
            raise InputError(f"{where}: {error}") from None
        if sc.enrolment != pop.enrolment or sc.enrolment_delay_days != pop.enrolment_delay_days:
            raise InputError(
                f"{where}: enrolment ({sc.enrolment}, {sc.enrolment_delay_days:g} days after"
                f" diagnosis) differs from the population's ({pop.enrolment},"
                f" {pop.enrolment_delay_days:g}); arms differ only in treatment"
            )
        arm_specs.append(Arm(arm_name, scenario, sets))

    allocation = inputs.mapping("allocation", raw.get("allocation"), what="allocation keys")
    for key in allocation:
        inputs.key("allocation", key)
        if key not in ("ratio", "stratify", "block_size"):
            raise InputError(
                "allocation: "
                + inputs.unknown_name("key", key, ("ratio", "stratify", "block_size"))
            )
    ratio = _ratio(allocation.get("ratio"), len(arm_specs))
    arm_specs = [Arm(a.name, a.scenario, a.set, r) for a, r in zip(arm_specs, ratio, strict=True)]
    unit = sum(ratio)
    block = inputs.whole(
        "allocation.block_size", allocation.get("block_size", 2 * unit), ge=1, le=1000
    )
    if block % unit:
        raise InputError(
            f"allocation.block_size: {block} is not a multiple of the ratio's sum ({unit})"
        )
    stratify: list[tuple[str, tuple[float, ...]]] = []
    for cov, cuts in inputs.mapping(
        "allocation.stratify", allocation.get("stratify"), what="covariates to cut points"
    ).items():
        inputs.key("allocation.stratify", cov)
        if cov not in COVARIATES:
            raise InputError(
                "allocation.stratify: " + inputs.unknown_name("covariate", cov, COVARIATES)
            )
        where = f"allocation.stratify.{cov}"
        if cov == "severity":
            if cuts not in (True, None):
                raise InputError(f"{where}: expected true (one stratum per level)")
            stratify.append((cov, ()))
            continue
        if not isinstance(cuts, list) or not cuts:
            raise InputError(
                f"{where}: expected a list of cut points, e.g. [40], got {inputs.kind(cuts)}"
            )
        values = tuple(inputs.number(f"{where}[{i}]", c) for i, c in enumerate(cuts))
        if list(values) != sorted(set(values)):
            raise InputError(f"{where}: cut points {list(values)} must be increasing")
        stratify.append((cov, values))

    endpoints_raw = inputs.mapping(
        "endpoints", raw.get("endpoints"), what="endpoint names to endpoints", allow_null=False
    )
    if not endpoints_raw:
        raise InputError("endpoints: give at least one endpoint")
    endpoints = []
    for ep_name, ep in endpoints_raw.items():
        inputs.key("endpoints", ep_name)
        endpoints.append(_endpoint(ep_name, ep, follow_up))

    analysis = inputs.mapping("analysis", raw.get("analysis"), what="analysis keys")
    for key in analysis:
        inputs.key("analysis", key)
        if key not in ("reference", "alpha"):
            raise InputError("analysis: " + inputs.unknown_name("key", key, ("reference", "alpha")))
    names = [a.name for a in arm_specs]
    reference = analysis.get("reference", names[0])
    if reference not in names:
        raise InputError("analysis.reference: " + inputs.unknown_name("arm", reference, names))
    alpha = inputs.number("analysis.alpha", analysis.get("alpha", 0.05), gt=0, le=0.5)
    return Trial(
        name=name,
        description=description,
        seed=seed,
        population=pop_scenario,
        population_set=pop_set,
        inclusion=inclusion,
        exclusion=exclusion,
        arms=tuple(arm_specs),
        stratify=tuple(stratify),
        block_size=block,
        patients_per_arm=per_arm,
        follow_up_days=follow_up,
        every=every,
        endpoints=tuple(endpoints),
        reference=reference,
        alpha=alpha,
        raw={**raw, "seed": seed, "patients_per_arm": per_arm},
    )
