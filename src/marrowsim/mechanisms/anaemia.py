"""Death from anaemia: a hazard that rises as haemoglobin stays very low.

In patients who declined transfusion, 30-day mortality was 0% with a nadir Hb
of 7.1-8.0 g/dL and 34.4% at 4.1-5.0, and the odds of death rose 2.5-fold for
each g/dL below 8 (Carson et al., Transfusion 2002;42:812; postoperative
patients, borrowed here for chronic anaemia, which is better tolerated: an
upper bound). The hazard rises by that factor per g/dL below the onset 8, is
scaled to the rate at Hb 4.5 (the 34.4% band: -ln(1 - 0.344) / 30 days), and
is zero above 8. Red-cell transfusions lower it by raising Hb.
"""

from __future__ import annotations

from marrowsim.mechanisms.base import Context, State
from marrowsim.mechanisms.hazard import DeathCause, death, odds_hazard

CAUSE = "anaemia"


class Anaemia(DeathCause):
    cause = CAUSE
    hazard_state = "anaemia_hazard"
    threshold_parameter = "anaemia_death_threshold"
    name = "anaemia"
    states = (State("anaemia_hazard", "1", "cumulative hazard of death from anaemia", scale=1.0),)
    parameters = (
        "anaemia_death_rate",
        "anaemia_reference_hb",
        "anaemia_onset_hb",
        "anaemia_odds_per_g_dl",
        "anaemia_death_threshold",
    )
    events = (death(CAUSE),)

    def rates(self, c: Context) -> dict:
        p = c.p
        relative = odds_hazard(
            c.sig["hb"], p.anaemia_reference_hb, p.anaemia_onset_hb, p.anaemia_odds_per_g_dl
        )
        return {"anaemia_hazard": p.anaemia_death_rate * relative}
