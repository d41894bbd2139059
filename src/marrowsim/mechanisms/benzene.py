"""Benzene: occupational inhalation, saturable metabolism, progenitor kill.

A worker breathes ``benzene_ppm`` (the air concentration at work, ppm) for
``benzene_hours_per_day`` hours a day on ``benzene_days_per_week`` days a week,
from ``benzene_start_day`` for ``benzene_years`` years (input
``benzene_air_ppm``: the air concentration at work while employed, else 0).

Intake. Absorbed benzene (mg/day, averaged over the week) is the air
concentration (3.19 mg/m^3 per ppm at 25 C) times the air breathed at work
(``benzene_ventilation_l_per_min`` over the hours worked, times the days
worked / 7) times the fraction retained (``benzene_retention_fraction``).

Metabolism. Hepatic CYP2E1 and a high-affinity pathway turn absorbed benzene
into phenol, hydroquinone, catechol, benzoquinones and muconaldehyde, the
marrow-toxic metabolites (MODELS.md 7.1); the rest is exhaled. The fraction
metabolised is Michaelis-Menten-like in the air concentration with two
pathways (Rappaport et al., Environ Health Perspect 2009;117:946): a
high-affinity one (73% of metabolism at low exposure, half-saturated at
0.594 ppm) and a low-affinity one (CYP2E1, 301 ppm), so metabolism per ppm
is already lower at 1 ppm (54% of its low-dose value) and falls further
(30% at 10 ppm): less than linear in ppm.

Two approximations keep this free of states and segments:

* quasi-steady state: blood benzene and its reactive metabolites are cleared
  within hours, progenitors turn over in days, so metabolite formation
  follows the air concentration and the kill follows the formation;
* the week's average: shifts are not simulated one by one (hundreds of
  segments a year); the kill is the week's average rate, with the
  saturation evaluated at the concentration at work (Rappaport's
  affinities are shift air concentrations) and the intake averaged over
  the week. Under the quasi-steady state this average is exact; benzene
  lingering a few hours after a shift (and in fat) spreads the same dose
  over more hours at lower concentration, so the model slightly
  overstates saturation, i.e. understates metabolism, above ~0.6 ppm.
  Putting the week's average concentration into the saturation instead
  would overstate metabolism by up to 4x (1 / (8/24 x 5/7)) at high ppm.
  A kill a few %/day averaged over a week on cells that live days is a
  second-order error.

Toxicity. The metabolites kill cycling progenitors first order (apoptosis,
DNA and topoisomerase II damage), at the rate metabolised / D0 where D0 is
the benzene metabolised per e-fold kill, like radiation's D0 (published as
kill rates, 1/day):

* ``benzene_progenitor_kill_rate``: MPP, the model's multipotent and
  colony-forming progenitors (CFU-GEMM, CFU-GM, BFU-E), whose colony
  formation Lan et al. (Science 2004;306:1774) found lower in workers below
  1 ppm, and lower than the blood counts. The committed lineage chains
  downstream are not killed: the lineage feedbacks (G-CSF, TPO, EPO)
  then buffer the counts against the progenitor deficit, so progenitors
  fall more steeply than WBC and platelets, and Hb (strong EPO feedback,
  120-day red cells) barely moves at low exposure, as Lan found. A kill on
  the chains as well (as radiation does) would do the opposite: a chain's
  output falls faster than its content, so counts would fall more steeply
  than progenitors;
* ``benzene_hsc_kill_rate``: HSC, mostly quiescent and less sensitive.

Committed, maturing and blood cells are not killed.

Immune sensitisation. Benzene's metabolites can also break tolerance (neo-
antigens, danger signals): with a hazard ``benzene_sensitisation_per_ppm_year``
per ppm of air concentration at work (assumed), a worker's cumulative hazard
grows with ppm x years worked; the immune attack starts (through the hook of
the chloramphenicol module, :func:`sensitisation_onset`) on the day it
reaches the patient's unit-exponential ``benzene_sensitisation_draw``, so
with probability 1 - exp(-hazard x ppm x years) over the exposure. What
follows depends on the immune system's susceptibility, ``immune.strength``
(0 in the benzene scenario: no attack follows; the immune-aa value 3 gives
immune AA): an exposure plus a susceptible immune system starts immune AA.
Not modelled here: individual CYP2E1 / MPO / NQO1 activity, the MDS / AML
hazard.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from marrowsim.libm import libm_expm1
from marrowsim.mechanisms.base import (
    DAYS_PER_YEAR,
    Context,
    Input,
    InputChange,
    Mechanism,
    Namespace,
)
from marrowsim.mechanisms.chloramphenicol import _is_symbolic, sensitisation_onset

# 1 ppm of benzene (78.11 g/mol) in air at 25 C and 1 atm (24.45 L/mol), mg/m^3
MG_PER_M3_PER_PPM = 78.11 / 24.45


class Benzene(Mechanism):
    name = "benzene"
    inputs = (
        Input("benzene_air_ppm", "ppm", "benzene air concentration at work while employed, else 0"),
    )
    parameters = (
        "benzene_ppm",
        "benzene_hours_per_day",
        "benzene_days_per_week",
        "benzene_start_day",
        "benzene_years",
        "benzene_ventilation_l_per_min",
        "benzene_retention_fraction",
        "benzene_high_affinity_fraction",
        "benzene_high_affinity_km_ppm",
        "benzene_low_affinity_km_ppm",
        "benzene_d0_progenitor_mg",
        "benzene_d0_hsc_mg",
        "benzene_sensitisation_per_ppm_year",
        "benzene_sensitisation_draw",
    )
    publishes = ("benzene_progenitor_kill_rate", "benzene_hsc_kill_rate")

    def derived(self, p: Namespace) -> dict:
        # m^3 of air breathed at work per day, averaged over the week
        air = (
            p.benzene_ventilation_l_per_min
            * 60
            * p.benzene_hours_per_day
            / 1000
            * p.benzene_days_per_week
            / 7
        )
        # mg/day absorbed per ppm at work
        return {"benzene_intake_per_ppm": MG_PER_M3_PER_PPM * air * p.benzene_retention_fraction}

    def signals(self, c: Context) -> dict:
        p, ppm = c.p, c.u.benzene_air_ppm
        high = p.benzene_high_affinity_fraction
        # fraction of the absorbed benzene metabolised, 1 at low exposure
        metabolised_fraction = high * p.benzene_high_affinity_km_ppm / (
            p.benzene_high_affinity_km_ppm + ppm
        ) + (1 - high) * p.benzene_low_affinity_km_ppm / (p.benzene_low_affinity_km_ppm + ppm)
        metabolised = ppm * p.benzene_intake_per_ppm * metabolised_fraction  # mg/day
        return {
            "benzene_progenitor_kill_rate": metabolised / p.benzene_d0_progenitor_mg,
            "benzene_hsc_kill_rate": metabolised / p.benzene_d0_hsc_mg,
        }

    def rates(self, c: Context) -> dict:
        return {}

    def steady_state(self, p: Namespace) -> dict:
        return {}

    def schedule(self, p: Any) -> list[InputChange]:
        # the input carries the concentration itself, so an unexposed patient
        # (ppm 0) sees no input change and no new segment
        start, ppm, years = p["benzene_start_day"], p["benzene_ppm"], p["benzene_years"]
        # sensitisation hazard per year while at work
        hazard = p["benzene_sensitisation_per_ppm_year"] * ppm
        draw = p["benzene_sensitisation_draw"]
        if _is_symbolic(hazard, years, draw, start):
            import sympy

            exposed = sympy.And(hazard > 0, years > 0)
            onset = start + DAYS_PER_YEAR * draw / sympy.Max(hazard, 1e-300)
            risk = 1 - sympy.exp(-hazard * years)
        else:
            hazard = np.asarray(hazard, dtype=float)
            exposed = (hazard > 0) & (np.asarray(years, dtype=float) > 0)
            # the day the cumulative hazard reaches the draw (where it does
            # within the years worked: draw < hazard x years)
            with np.errstate(divide="ignore"):
                onset = start + DAYS_PER_YEAR * draw / np.maximum(hazard, 1e-300)
            risk = -libm_expm1(-hazard * np.asarray(years, dtype=float))
        return [
            InputChange("benzene_air_ppm", start, ppm),
            InputChange("benzene_air_ppm", start + years * DAYS_PER_YEAR, 0.0),
            sensitisation_onset(exposed, draw, risk, onset),
        ]
