"""Death from bleeding: a hazard that rises as platelets fall below ~20.

Haemorrhage in thrombocytopenia rises as the count falls below about 20 x
10^9/L (Gaydos et al., NEJM 1962;266:905, the origin of the 20 threshold);
stool blood loss does not rise until the count is at or below 5 (Slichter et
al., Transfusion 2021;61:393), major bleeding is unusual above 5 (Slichter,
Transfus Med Rev 2004;18:153), and the odds of bleeding at a count of 5 or
less are 3.1 times those above 80 (Uhl et al., Blood 2017;130:1247). The
hazard is a power of the count scaled to its value at 5, zero above the onset
20. Platelet transfusions lower it by raising the count (``transfusion``).

Bleeding that does not kill is commoner and happens at higher counts: with
prophylactic transfusion at 10, 71% of thrombocytopenic patients had WHO grade
>= 2 bleeding (Slichter et al. (PLADO), NEJM 2010;362:600), and the odds are
raised at every count below 81 (Uhl 2017). The first such episode is a second
hazard of the same shape (onset 80, first power of the count) reaching its own
drawn threshold: the ``bleeding_episode`` event, which the ``transfusion``
mechanism answers with a therapeutic platelet transfusion. Later episodes are
not modelled (a first episode is what PLADO counted).
"""

from __future__ import annotations

from marrowsim.clinic.definitions import BLEEDING_EPISODE_EVENT
from marrowsim.mechanisms.base import Context, Event, Namespace, State
from marrowsim.mechanisms.hazard import DeathCause, death, power_hazard

CAUSE = "bleeding"


class Bleeding(DeathCause):
    cause = CAUSE
    hazard_state = "bleeding_hazard"
    threshold_parameter = "bleeding_death_threshold"
    name = "bleeding"
    states = (
        State("bleeding_hazard", "1", "cumulative hazard of death from bleeding", scale=1.0),
        State(
            "bleeding_episode_hazard",
            "1",
            "cumulative hazard of a first bleeding episode (WHO grade >= 2)",
            scale=1.0,
        ),
    )
    publishes = ("bleeding_episode_margin",)
    parameters = (
        "bleeding_death_rate",
        "bleeding_reference_platelets",
        "bleeding_onset_platelets",
        "bleeding_platelet_exponent",
        "bleeding_platelet_floor",
        "bleeding_death_threshold",
        "bleeding_episode_rate",
        "bleeding_episode_onset_platelets",
        "bleeding_episode_threshold",
    )
    events = (
        death(CAUSE),
        Event(BLEEDING_EPISODE_EVENT, "a first bleeding episode (WHO grade >= 2)", +1),
    )

    def signals(self, c: Context) -> dict:
        # crosses zero, rising, at the first bleeding episode
        return {
            "bleeding_episode_margin": c.s.bleeding_episode_hazard - c.p.bleeding_episode_threshold
        }

    def rates(self, c: Context) -> dict:
        p = c.p
        relative = power_hazard(
            c.sig["platelets"],
            p.bleeding_reference_platelets,
            p.bleeding_onset_platelets,
            p.bleeding_platelet_exponent,
            p.bleeding_platelet_floor,
        )
        episode = power_hazard(
            c.sig["platelets"],
            p.bleeding_reference_platelets,
            p.bleeding_episode_onset_platelets,
            1,
            p.bleeding_platelet_floor,
        )
        return {
            "bleeding_hazard": p.bleeding_death_rate * relative,
            "bleeding_episode_hazard": p.bleeding_episode_rate * episode,
        }

    def steady_state(self, p: Namespace) -> dict:
        return {**super().steady_state(p), "bleeding_episode_hazard": 0}

    def event_triggers(self, c: Context) -> dict:
        return {
            **super().event_triggers(c),
            BLEEDING_EPISODE_EVENT: c.sig["bleeding_episode_margin"],
        }
