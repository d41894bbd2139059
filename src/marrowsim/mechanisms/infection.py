"""Death from infection: a hazard that rises steeply as neutrophils fall.

Infection in neutropenia follows the granulocyte count: time with infection
falls as the count rises, and severe infection is most often fatal with
granulocytes persistently below 0.1 x 10^9/L (Bodey et al., Ann Intern Med
1966;64:328); infection mortality is concentrated below 0.1 and nearly absent
at 0.1-0.5 (van der Meer et al., Infection 1979;7:171); in severe AA an ANC
above 0.2 is an independent predictor of survival (Valdez et al., Clin Infect
Dis 2011;52:726). The hazard here is a power of the count, scaled to its value
at the very-severe threshold ANC 0.2, rising with no upper bend below it, and
zero above the severe threshold 0.5 (no excess infection death above it).

Anti-infective prophylaxis (antibacterial plus antifungal, from
``antimicrobial.start_day`` when ``antimicrobial.prophylaxis`` is 1) multiplies
the hazard by its hazard ratio (infection-related mortality RR 0.61, Gafter-
Gvili et al., Cochrane Database Syst Rev 2012, CD004386). The reference rate
is that of patients whose infections are treated with antibiotics (the care of
the era of the untreated-SAA series; calibrated to untreated-saa-mortality).
Care of the mould-active antifungal era (``antimicrobial.antifungal_era`` 1:
voriconazole, better diagnosis of invasive fungal infection) multiplies it
again, by a ratio calibrated to the early deaths of NIH patients given
immunosuppression in 2002-2006 (5% dead within 6 months; Blood 2007;110:1698,
an ASH abstract). The ratio of the cumulative infection-death hazards of NIH
non-responders in 2002-2008 and 1989-1996 (Valdez et al., Clin Infect Dis
2011;52:726), ln(1 - 0.11) / ln(1 - 0.37) = 0.25, is no estimate of it: it
compares two eras that both had prophylaxis, while the reference rate here
is the 1970s'. The trials of the 2000s and 2010s are simulated with it.
"""

from __future__ import annotations

from typing import Any

from marrowsim.mechanisms.base import (
    Context,
    Input,
    InputChange,
    State,
)
from marrowsim.mechanisms.hazard import DeathCause, death, power_hazard

CAUSE = "infection"


class Infection(DeathCause):
    cause = CAUSE
    hazard_state = "infection_hazard"
    threshold_parameter = "infection_death_threshold"
    name = "infection"
    states = (
        State("infection_hazard", "1", "cumulative hazard of death from infection", scale=1.0),
    )
    inputs = (
        Input(
            "antimicrobial_prophylaxis_on", "switch", "1 while anti-infective prophylaxis is given"
        ),
    )
    parameters = (
        "infection_death_rate",
        "infection_reference_anc",
        "infection_onset_anc",
        "infection_anc_exponent",
        "infection_anc_floor",
        "infection_death_threshold",
        "antimicrobial_prophylaxis",
        "antimicrobial_start_day",
        "antimicrobial_hazard_ratio",
        "antimicrobial_antifungal_era",
        "antimicrobial_antifungal_era_hazard_ratio",
    )
    events = (death(CAUSE),)

    def rates(self, c: Context) -> dict:
        p = c.p
        relative = power_hazard(
            c.sig["anc"],
            p.infection_reference_anc,
            p.infection_onset_anc,
            p.infection_anc_exponent,
            p.infection_anc_floor,
        )
        on = c.u.antimicrobial_prophylaxis_on
        care = (1 - on * (1 - p.antimicrobial_hazard_ratio)) * (
            1
            - on
            * p.antimicrobial_antifungal_era
            * (1 - p.antimicrobial_antifungal_era_hazard_ratio)
        )
        return {"infection_hazard": p.infection_death_rate * relative * care}

    def schedule(self, p: Any) -> list[InputChange]:
        # care counts from day 0 of the outputs (a patient's diagnosis when a
        # scenario enrols at diagnosis)
        return [
            InputChange(
                "antimicrobial_prophylaxis_on",
                p["antimicrobial_start_day"],
                p["antimicrobial_prophylaxis"],
                from_enrolment=True,
            )
        ]
