"""Salvage after first-line immunosuppression: the response assessment that
switches a non-responder to a transplant or to a second course.

With ``salvage_rule`` = 1, each patient's counts are assessed once, at
``salvage_assessment_day`` (days from day 0 of the outputs: the start of
treatment in a scenario that enrols at diagnosis; 182 = the NIH 6-month
landmark). A patient who has not responded there, meaning the patient's own
counts still meet the severe-AA count criteria (at least two of ANC < 0.5,
platelets < 20, reticulocytes < 60 x 10^9/L; ``clinic.definitions``), is
switched:

* to the scenario's **transplant** (its ``hsct`` regimen, which must start
  after the assessment) where the patient has a donor (a per-patient draw
  from the outcome stream, with probability ``salvage_donor_probability``)
  and is fit for it (aged at most ``salvage_transplant_max_age_years``). The
  held state ``salvage_transplant_switch`` becomes 1 (event
  ``salvage_transplant``), and the transplant mechanism's inputs act only for
  switched patients (signal ``transplant_gate``). Every other patient's
  transplant inputs do nothing: no conditioning, no graft and no
  transplant-related hazard.
* otherwise (no donor, or too old) to a **second course** of ATG, where the
  scenario gives one (an ATG course that starts after the assessment):
  ``salvage_second_course_switch`` becomes 1 (event
  ``salvage_second_course``), and only then is that course infused (signals
  ``<product>_course_gate`` of the ``atg`` mechanism).

Responders, and patients who died before the assessment, get neither. A
scenario's second cyclosporine course (``cyclosporine.second_course_*``)
that starts after the assessment goes with the second ATG course: it too is
given only to the patients switched to it (signal
``cyclosporine_second_course_gate``).

Only the patient's own platelets count (the transfused ones are left out),
because a response must be transfusion-independent. Red-cell dependence is
read through the reticulocytes. The assessment is one moment. The clinic's
response at 6 months (``clinic.response``) reads the same criteria on the
output day and also asks for 8 transfusion-free weeks, so the two can differ
for a patient transfused just before the landmark.

The clock ``salvage_clock`` counts days from day 0 of the outputs (input
``salvage_clock_running``, from enrolment). It is 0 through a patient's history
before enrolment, so the assessment is timed from the start of treatment, not
from the disease's onset. The trigger is linear in time, so the assessment
falls exactly on its day. Without the rule the clock never runs and both
gates are open: a scenario's transplant and courses are given as written.
"""

from __future__ import annotations

from typing import Any

from marrowsim.mechanisms.atg import PRODUCTS
from marrowsim.mechanisms.base import (
    Context,
    Event,
    EventAction,
    Input,
    InputChange,
    Mechanism,
    Namespace,
    State,
    drawn_below,
    first_violation,
    piecewise,
)
from marrowsim.mechanisms.diagnosis import own_severe_count_margin

TRANSPLANT_EVENT = "salvage_transplant"
SECOND_COURSE_EVENT = "salvage_second_course"


def is_salvage_course(rule: Any, assessment_day: Any, start: Any, dose: Any) -> Any:
    """Where the salvage rule is on and a course of ``dose`` > 0 starts at or
    after the assessment: a salvage course (numpy arrays, or a sympy
    condition)."""
    return (rule > 0) & (dose > 0) & (start >= assessment_day)


def _after_assessment(p: Namespace, start: Any, dose: Any) -> Any:
    """1 for a salvage course, else 0 (a derived parameter)."""
    condition = is_salvage_course(p.salvage_rule, p.salvage_assessment_day, start, dose)
    return piecewise([(1, condition), (0, True)])


class Salvage(Mechanism):
    name = "salvage"
    states = (
        State(
            "salvage_clock",
            "day",
            "days since day 0 of the outputs (0 before enrolment; runs only with the rule)",
            scale=1.0,
        ),
        State(
            "salvage_transplant_switch",
            "switch",
            "1 once a non-responder with a donor is switched to the transplant",
            held=True,
        ),
        State(
            "salvage_second_course_switch",
            "switch",
            "1 once a non-responder without a donor is switched to a second ATG course",
            held=True,
        ),
    )
    inputs = (
        Input(
            "salvage_clock_running",
            "switch",
            "1 from day 0 of the outputs where the salvage rule is on",
        ),
    )
    parameters = (
        "salvage_rule",
        "salvage_assessment_day",
        "salvage_donor_probability",
        "salvage_donor_draw",
        "salvage_transplant_max_age_years",
        "patient_age_years",
        "transplant_cd34_dose_1e6_per_kg",
        "transplant_start_day",
        *(
            f"{product}_{name}"
            for product in PRODUCTS
            for name in ("dose_mg_per_kg_day", "start_day")
        ),
        "cyclosporine_dose_mg_per_kg_day",
        "cyclosporine_second_course_start_day",
        "cyclosporine_second_course_full_dose_days",
    )
    publishes = (
        "transplant_gate",
        *(f"{product}_course_gate" for product in PRODUCTS),
        "cyclosporine_second_course_gate",
    )
    events = (
        Event(TRANSPLANT_EVENT, "a non-responder with a donor is switched to the transplant", 1),
        Event(
            SECOND_COURSE_EVENT,
            "a non-responder without a donor is switched to a second course of ATG",
            1,
        ),
    )

    def derived(self, p: Namespace) -> dict:
        return {
            "salvage_has_donor": drawn_below(p.salvage_donor_draw, p.salvage_donor_probability),
            "salvage_transplant_course": _after_assessment(
                p, p.transplant_start_day, p.transplant_cd34_dose_1e6_per_kg
            ),
            **{
                f"{product}_salvage_course": _after_assessment(
                    p,
                    getattr(p, f"{product}_start_day"),
                    getattr(p, f"{product}_dose_mg_per_kg_day"),
                )
                for product in PRODUCTS
            },
            "cyclosporine_salvage_course": _after_assessment(
                p,
                p.cyclosporine_second_course_start_day,
                p.cyclosporine_dose_mg_per_kg_day * p.cyclosporine_second_course_full_dose_days,
            ),
        }

    def signals(self, c: Context) -> dict:
        s, p = c.s, c.p
        # 1 where the course is given as written (not a salvage course), else
        # the switch: a salvage course acts only for the patients switched to it
        second = s.salvage_second_course_switch
        return {
            "transplant_gate": 1 - p.salvage_transplant_course * (1 - s.salvage_transplant_switch),
            **{
                f"{product}_course_gate": 1 - getattr(p, f"{product}_salvage_course") * (1 - second)
                for product in PRODUCTS
            },
            "cyclosporine_second_course_gate": 1 - p.cyclosporine_salvage_course * (1 - second),
        }

    def rates(self, c: Context) -> dict:
        return {"salvage_clock": c.u.salvage_clock_running}

    def steady_state(self, p: Namespace) -> dict:
        return {
            "salvage_clock": 0,
            "salvage_transplant_switch": 0,
            "salvage_second_course_switch": 0,
        }

    def event_triggers(self, c: Context) -> dict:
        due = c.s.salvage_clock - c.p.salvage_assessment_day
        return {TRANSPLANT_EVENT: due, SECOND_COURSE_EVENT: due}

    def event_actions(self, c: Context) -> dict:
        p = c.p
        no_response = own_severe_count_margin(c) < 0
        rule = p.salvage_rule > 0
        # a donor, and young enough to be fit for it
        donor = (p.salvage_has_donor > 0) & (
            p.patient_age_years <= p.salvage_transplant_max_age_years
        )
        second_course = sum(getattr(p, f"{product}_salvage_course") for product in PRODUCTS) > 0
        transplant = p.salvage_transplant_course > 0
        return {
            TRANSPLANT_EVENT: EventAction(
                jumps={"salvage_transplant_switch": 1},
                when=rule & no_response & donor & transplant,
            ),
            SECOND_COURSE_EVENT: EventAction(
                jumps={"salvage_second_course_switch": 1},
                when=rule & no_response & (~donor | ~transplant) & second_course,
            ),
        }

    def problems(self, values: Any) -> list[str]:
        return first_violation(
            {"rule": values["salvage_rule"]},
            lambda v: (v["rule"] != 0) & (v["rule"] != 1),
            lambda v, k: f"salvage.rule: {v['rule'][k]:g} (patient {k}); it is a switch, 0 or 1",
        )

    def schedule(self, p: Any) -> list[InputChange]:
        # the rule is 0 or 1 (problems), so it is the clock's rate itself
        return [InputChange("salvage_clock_running", 0.0, p["salvage_rule"], from_enrolment=True)]
