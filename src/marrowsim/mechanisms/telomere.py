"""Telomeres as a division budget of the HSC pool; telomere disease.

Each HSC division shortens telomeres (about 30 bp a year in human HSPC,
Mitchell et al., Nature 2022;606:343, at one division per 40 weeks, Catlin
et al., Blood 2011: some 20-25 bp per division), and a cell whose telomeres
reach a critical length stops dividing (senescence). The model counts the
pool's telomere reserve in divisions: the state ``hsc_telomere_budget`` is
the number of divisions an average HSC has left before its telomeres are
critically short, spent one per division,

    d budget / dt = - hsc_cycling_rate        (divisions per HSC per day)

where ``hsc_cycling_rate`` is the stem-cell pool's own division rate
(mechanisms/stem_cells.py: a little faster in a child's growing marrow, and
several-fold in a pool regrowing after an injury or an immune attack, so
stress spends the budget faster). The budget at birth is ``telomere_birth_budget_divisions`` (240:
about 5.5 kb of telomere above a critical length at about 23 bp per
division; see the table); a course of an adult starts at that minus the divisions of
its ``patient_age_years`` at the healthy rate (a course whose marrow grows
from birth, ``marrow.growth_start_fraction`` < 1, starts at birth).

Senescence. Once the budget falls below ``telomere_critical_budget_divisions``
a growing fraction of the pool is senescent,

    hsc_telomere_arrest = min(1, max(0, 1 - budget / critical))^2

exactly 0 while the budget lasts, so no healthy course is changed (a healthy
pool keeps more than the critical budget past 90 years), and rising smoothly
to 1 as it runs out. Senescent cells neither divide (the pool's division
rate, hence its self-renewal and its output, is multiplied by 1 - arrest: the
budget is spent ever more slowly and never far past zero) nor stay: they are
lost at ``telomere_senescence_rate`` x arrest (1/day, ``hsc_telomere_loss_rate``,
added to the HSC loss).

Telomere disease. Germline TERT or TERC mutations (telomerase deficiency;
dyskeratosis congenita and its cryptic adult forms, Calado & Young, NEJM
2009;361:2353) leave carriers with telomeres short from birth: each patient
is a carrier where its random draw ``genotype_telomere_draw`` (Exp(1) from
its outcome stream) gives a uniform 1 - exp(-draw) at or below
``genotype_telomere_fraction`` (scenario key ``genotype: telomere`` sets it
to 1), and a carrier's budget at birth is
``telomere_disease_birth_budget_divisions`` (varying between patients), so
that marrow failure follows at an age set by its budget and by how fast its
marrow divides. Not modelled: telomerase's own elongation in progenitors,
danazol, the clonal-evolution hazard of short telomeres, a transplanted
graft's fresh budget.
"""

from __future__ import annotations

from marrowsim.mechanisms.base import (
    DAYS_PER_YEAR,
    Context,
    Mechanism,
    Namespace,
    State,
    genotype_carrier,
    piecewise,
)


class Telomere(Mechanism):
    name = "telomere"
    states = (
        State(
            "hsc_telomere_budget",
            "divisions",
            "divisions an average HSC has left before its telomeres are critically short",
            scale=100.0,
            signed=True,  # spent past zero by a pool that keeps dividing
        ),
    )
    parameters = (
        "telomere_birth_budget_divisions",
        "telomere_disease_birth_budget_divisions",
        "telomere_critical_budget_divisions",
        "telomere_senescence_rate",
        "genotype_telomere_fraction",
        "genotype_telomere_draw",
        "hsc_division_rate",
        "patient_age_years",
        "marrow_growth_start_fraction",
    )
    publishes = ("hsc_telomere_arrest", "hsc_telomere_loss_rate")

    def derived(self, p: Namespace) -> dict:
        carrier = genotype_carrier(p.genotype_telomere_draw, p.genotype_telomere_fraction)
        at_birth = piecewise(
            [
                (p.telomere_disease_birth_budget_divisions, carrier > 0),
                (p.telomere_birth_budget_divisions, True),
            ]
        )
        # a course from birth (a growing marrow) starts at 0 years
        age_days = piecewise(
            [(0, p.marrow_growth_start_fraction < 1), (p.patient_age_years * DAYS_PER_YEAR, True)]
        )
        return {
            "genotype_telomere": carrier,
            "telomere_start_budget": at_birth - p.hsc_division_rate * age_days,
        }

    def signals(self, c: Context) -> dict:
        import sympy

        p = c.p
        spent = sympy.Min(
            1, sympy.Max(0, 1 - c.s.hsc_telomere_budget / p.telomere_critical_budget_divisions)
        )
        arrest = spent**2
        return {
            "hsc_telomere_arrest": arrest,
            "hsc_telomere_loss_rate": p.telomere_senescence_rate * arrest,
        }

    def rates(self, c: Context) -> dict:
        return {"hsc_telomere_budget": -c.sig["hsc_cycling_rate"]}

    def steady_state(self, p: Namespace) -> dict:
        # not a steady state: the budget on day 0, spent from then on
        return {"hsc_telomere_budget": p.telomere_start_budget}
