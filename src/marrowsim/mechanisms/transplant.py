"""Allogeneic haematopoietic stem-cell transplant (HSCT) from a matched
sibling (``msd``) or a matched unrelated donor (``mud``).

Course, counted from day 0 of the outputs (the enrolment in a scenario that
enrols at diagnosis):

* **conditioning** from ``transplant_start_day``: cyclophosphamide
  ``transplant_cyclophosphamide_mg_per_kg_day`` (50 mg/kg/day in severe AA)
  for ``transplant_conditioning_days`` (4: days -5 to -2), given as input
  ``transplant_conditioning_mg_per_kg_day``. It kills host stem cells,
  progenitors and lymphocytes (the autoreactive effectors and the regulatory
  T cells among them) at first-order rates in proportion to the dose
  (``transplant_conditioning_*_kill_rate`` at 50 mg/kg/day); ATG, where the
  scenario gives it with the conditioning, is the ``atg`` mechanism's course;
* one rest day (day -1), then the **infusion** on day 0 (``REST_DAYS`` after
  the conditioning), over one day (input ``transplant_cd34_infusion``, 10^6
  CD34+ cells/kg/day): of the ``transplant_cd34_dose_1e6_per_kg`` x weight
  CD34+ cells, ``transplant_hsc_per_cd34`` become long-term stem cells of
  the model's pool and ``transplant_mpp_per_cd34`` multipotent progenitors,
  from which every lineage regrows (neutrophil engraftment after two to
  three weeks; PKPD.md);
* the **donor immune system** replaces the autoreactive one from the infusion
  on (input ``transplant_donor_immunity_on``): the recruitment and expansion
  of autoreactive effectors stop (signal ``autoimmunity_replaced``), and the
  effectors the conditioning left die out;
* **graft failure**, drawn per patient before integration from its outcome
  stream: with probability ``transplant_graft_failure_probability_msd`` (or
  ``_mud``) the graft fails, primary (a share
  ``transplant_primary_failure_share``: rejected from
  ``transplant_primary_rejection_day`` after the infusion, before
  engraftment) or secondary (rejected uniformly between
  ``transplant_secondary_rejection_earliest_day`` and ``_latest_day``).
  A rejection kills stem cells and progenitors at
  ``transplant_rejection_kill_rate`` for ``transplant_rejection_days`` (input
  ``transplant_rejection_on``) and gives the host's immune system back (the
  autoimmune attack returns): the marrow is aplastic again. One unit
  exponential ``E`` sets both: the graft fails where ``E < -ln(1 - p)``, is
  primary where ``E < -ln(1 - p s)``, and the day of a secondary failure is
  the place of ``E`` between the two;
* **transplant-related mortality** (graft-versus-host disease, infection
  with a working graft; Bacigalupo et al., Haematologica 2012;97:1142) is a
  cause of death: the cumulative hazard ``transplant_hazard`` rises at
  ``transplant_related_death_rate`` x ``ratio ** ((age - 20) / 10)`` for
  ``transplant_related_death_days`` after the infusion (input
  ``transplant_related_hazard_on``), with ``ratio`` =
  ``transplant_related_death_ratio_per_decade`` and ``age`` the patient's
  ``patient_age_years``; the patient dies of it where it reaches the drawn
  threshold ``transplant_related_death_threshold`` (``hazard`` module).

Not modelled: donor and host cells apart (chimerism), graft-versus-host disease
as a process, GvHD prophylaxis (its effect is in the mortality), a second
transplant after graft failure, and the donor's own lymphocytes in the count.

Without a transplant (dose 0) every input stays 0 and every term here is 0.
A salvage transplant (``salvage`` mechanism: one that starts after the
response assessment of a scenario with the salvage rule) is scheduled for
every patient, and its inputs act only where the signal ``transplant_gate``
is 1: in the non-responders with a donor who were switched to it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from marrowsim.libm import libm_log
from marrowsim.mechanisms.base import (
    Context,
    Input,
    InputChange,
    State,
    is_symbolic,
    select,
)
from marrowsim.mechanisms.hazard import DeathCause, death

CAUSE = "transplant"
REST_DAYS = 1  # day -1: no conditioning, no infusion
INFUSION_DAYS = 1  # the graft runs in over a day (the input's length)
REFERENCE_CYCLOPHOSPHAMIDE_MG_PER_KG_DAY = 50  # the kill rates are at this dose
REFERENCE_AGE_YEARS = 20  # the age of transplant_related_death_rate
YEARS_PER_DECADE = 10  # the age factor is per decade
CELLS_PER_MILLION = 1.0e6


def _log(x: Any) -> Any:
    if is_symbolic(x):
        import sympy

        return sympy.log(x)
    return libm_log(np.asarray(x, dtype=float))


def graft_course(p: Any) -> dict[str, Any]:
    """Per patient (arrays, or sympy expressions for the SBML export): whether
    a transplant is given (``given``, 0/1), the infusion day (``infusion_day``,
    from day 0 of the outputs), whether the graft fails (``failed``, 0/1;
    ``primary``, 0/1) and the day its rejection begins (``rejection_day``)."""
    dose = p["transplant_cd34_dose_1e6_per_kg"]
    given = select(dose > 0, 1.0, 0.0)
    infusion_day = p["transplant_start_day"] + p["transplant_conditioning_days"] + REST_DAYS
    unrelated = p["transplant_donor_unrelated"]
    probability = (1 - unrelated) * p["transplant_graft_failure_probability_msd"] + unrelated * p[
        "transplant_graft_failure_probability_mud"
    ]
    share = p["transplant_primary_failure_share"]
    any_failure = -_log(1 - probability)  # cumulative hazard of a failure
    primary_failure = -_log(1 - probability * share)
    draw = p["transplant_graft_failure_threshold"]
    earliest = p["transplant_secondary_rejection_earliest_day"]
    latest = p["transplant_secondary_rejection_latest_day"]
    # the place of the draw between the two hazards, in 0..1
    place = (draw - primary_failure) / (any_failure - primary_failure + 1e-300)
    primary = select(draw < primary_failure, given, 0.0)
    failed = select(draw < any_failure, given, 0.0)
    offset = select(
        draw < primary_failure,
        p["transplant_primary_rejection_day"],
        earliest + place * (latest - earliest),
    )
    return {
        "given": given,
        "infusion_day": infusion_day,
        "failed": failed,
        "primary": primary,
        "rejection_day": infusion_day + select(failed > 0, offset, 0.0),
    }


class Transplant(DeathCause):
    cause = CAUSE
    hazard_state = "transplant_hazard"
    threshold_parameter = "transplant_related_death_threshold"
    name = "transplant"
    states = (
        State(
            "transplant_hazard",
            "1",
            "cumulative hazard of transplant-related death (GvHD, infection)",
            scale=1.0,
        ),
    )
    inputs = (
        Input(
            "transplant_conditioning_mg_per_kg_day",
            "mg/kg/day",
            "cyclophosphamide of the conditioning (0 outside it)",
        ),
        Input(
            "transplant_cd34_infusion",
            "10^6 cells/kg/day",
            "donor CD34+ cells infused (over the day of the infusion)",
        ),
        Input(
            "transplant_donor_immunity_on",
            "switch",
            "1 while the donor's immune system has replaced the host's",
        ),
        Input("transplant_rejection_on", "switch", "1 while a failed graft is rejected"),
        Input(
            "transplant_related_hazard_on",
            "switch",
            "1 while the transplant-related death hazard runs",
        ),
    )
    parameters = (
        "transplant_cd34_dose_1e6_per_kg",
        "transplant_start_day",
        "transplant_conditioning_days",
        "transplant_cyclophosphamide_mg_per_kg_day",
        "transplant_donor_unrelated",
        "transplant_conditioning_hsc_kill_rate",
        "transplant_conditioning_progenitor_kill_rate",
        "transplant_conditioning_lymphocyte_kill_rate",
        "transplant_hsc_per_cd34",
        "transplant_mpp_per_cd34",
        "transplant_graft_failure_probability_msd",
        "transplant_graft_failure_probability_mud",
        "transplant_primary_failure_share",
        "transplant_primary_rejection_day",
        "transplant_secondary_rejection_earliest_day",
        "transplant_secondary_rejection_latest_day",
        "transplant_rejection_kill_rate",
        "transplant_rejection_days",
        "transplant_related_death_rate",
        "transplant_related_death_ratio_per_decade",
        "transplant_related_death_days",
        "transplant_related_death_threshold",
        "transplant_graft_failure_threshold",
        "patient_age_years",
        "patient_weight_kg",
    )
    publishes = (
        "transplant_hsc_kill_rate",
        "transplant_progenitor_kill_rate",
        "transplant_lymphocyte_kill_rate",
        "transplant_hsc_infusion_rate",
        "transplant_mpp_infusion_rate",
        "autoimmunity_replaced",
    )
    events = (death(CAUSE),)

    def signals(self, c: Context) -> dict:
        p, u = c.p, c.u
        # 0 for a salvage transplant the patient was not switched to (salvage)
        gate = c.signal("transplant_gate", 1)
        conditioning = (
            gate
            * u.transplant_conditioning_mg_per_kg_day
            / REFERENCE_CYCLOPHOSPHAMIDE_MG_PER_KG_DAY
        )
        rejection = gate * u.transplant_rejection_on * p.transplant_rejection_kill_rate
        cd34_per_day = gate * u.transplant_cd34_infusion * CELLS_PER_MILLION * p.patient_weight_kg
        return {
            "transplant_hsc_kill_rate": conditioning * p.transplant_conditioning_hsc_kill_rate
            + rejection,
            "transplant_progenitor_kill_rate": conditioning
            * p.transplant_conditioning_progenitor_kill_rate
            + rejection,
            "transplant_lymphocyte_kill_rate": conditioning
            * p.transplant_conditioning_lymphocyte_kill_rate,
            "transplant_hsc_infusion_rate": cd34_per_day * p.transplant_hsc_per_cd34,
            "transplant_mpp_infusion_rate": cd34_per_day * p.transplant_mpp_per_cd34,
            "autoimmunity_replaced": gate * u.transplant_donor_immunity_on,
        }

    def rates(self, c: Context) -> dict:
        p, u = c.p, c.u
        age_factor = p.transplant_related_death_ratio_per_decade ** (
            (p.patient_age_years - REFERENCE_AGE_YEARS) / YEARS_PER_DECADE
        )
        return {
            "transplant_hazard": c.signal("transplant_gate", 1)
            * u.transplant_related_hazard_on
            * p.transplant_related_death_rate
            * age_factor
        }

    def schedule(self, p: Any) -> list[InputChange]:
        course = graft_course(p)
        given, infusion = course["given"], course["infusion_day"]
        start = p["transplant_start_day"]
        rejection = course["rejection_day"]

        def change(name: str, day: Any, value: Any) -> InputChange:
            return InputChange(name, day, value, from_enrolment=True)

        return [
            change(
                "transplant_conditioning_mg_per_kg_day",
                start,
                given * p["transplant_cyclophosphamide_mg_per_kg_day"],
            ),
            change(
                "transplant_conditioning_mg_per_kg_day",
                start + p["transplant_conditioning_days"],
                0.0,
            ),
            change("transplant_cd34_infusion", infusion, p["transplant_cd34_dose_1e6_per_kg"]),
            change("transplant_cd34_infusion", infusion + INFUSION_DAYS, 0.0),
            change("transplant_donor_immunity_on", infusion, given),
            change("transplant_related_hazard_on", infusion, given),
            change(
                "transplant_related_hazard_on",
                infusion + p["transplant_related_death_days"],
                0.0,
            ),
            # a failed graft: rejected, and the host's immune system is back
            change("transplant_rejection_on", rejection, course["failed"]),
            change("transplant_rejection_on", rejection + p["transplant_rejection_days"], 0.0),
            change("transplant_donor_immunity_on", rejection, given * (1 - course["failed"])),
        ]
