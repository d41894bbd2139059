"""The marrow niche: stromal support of the stem cells, injured and repaired.

The state ``niche_stroma`` is the marrow stroma's capacity to support HSC
(sinusoidal endothelium, mesenchymal stromal cells, the cytokines they make)
as a fraction of a healthy marrow's: 1 in health. It is published as
``niche_support``, which the stem-cell pool multiplies its carrying capacity
by (``niche_capacity`` x ``niche_support``): a smaller niche means a lower
self-renewal probability at a given pool size and a smaller pool at steady
state (mechanisms/stem_cells.py). ``niche_capacity`` stays the scenario's
constant capacity (a marrow that is small for reasons not modelled here);
the stroma is the part that is injured and repaired.

Injury, first order in the stroma (1/day, each 0 without its cause):

* ionising radiation: the dose rate (signal ``radiation_dose_rate``, Gy/day)
  over a stromal mean lethal dose ``niche_radiation_d0_gy``, so an exposure
  leaves exp(-dose / D0) of the stroma, as it does of each cell class. Stroma
  is far more radioresistant than HSC (Hendry, Radiother Oncol 1985;3:331):
  locally irradiated marrow regenerates after 20 Gy and not after 40 Gy or
  more (Knospe et al., Blood 1966;28:398);
* benzene: its metabolites injure stromal cells (mouse marrow stroma,
  Gaido & Wierda, Toxicol Appl Pharmacol 1984), taken as a fraction
  ``niche_benzene_sensitivity`` of their kill rate on progenitors (signal
  ``benzene_progenitor_kill_rate``);
* inflammatory cytokines: bystander injury of the stroma by the immune
  attack (T cells kill stroma as bystanders, Chen 2004; IFN-gamma acts on the
  niche, Front Immunol 2016; MODELS.md 8), ``niche_cytokine_injury_rate`` per
  unit of each cytokine's effect (signals ``interferon_gamma_effect``,
  ``tnf_alpha_effect``, 0..1);
* a direct lesion of the niche alone (a scenario's ``niche.injury_rate``,
  1/day, from ``niche.injury_start_day`` for ``niche.injury_days``; input
  ``niche_lesion_rate``, which carries the rate itself, so a patient without
  the lesion sees no input change and no new segment).

Repair: the stroma regrows towards its healthy size with time constant
``niche_repair_days`` (months: the marrow's sinusoids and haematopoiesis come
back 6-12 months after a local 20 Gy, Knospe et al. 1966).

In health every injury is 0 and the stroma stays at 1: the model is exactly
as it was without this mechanism.
"""

from __future__ import annotations

from typing import Any

from marrowsim.mechanisms.base import (
    Context,
    Input,
    InputChange,
    Mechanism,
    Namespace,
    Readout,
    State,
)


class Niche(Mechanism):
    name = "niche"
    states = (
        State(
            "niche_stroma",
            "fraction of healthy",
            "stromal support capacity of the marrow niche (1 in health)",
        ),
    )
    inputs = (
        Input(
            "niche_lesion_rate",
            "1/day",
            "injury rate of a direct lesion of the niche while it lasts, else 0",
        ),
    )
    readouts = (Readout("niche", "fraction", "stromal support of the niche, 1 in health"),)
    parameters = (
        "niche_repair_days",
        "niche_radiation_d0_gy",
        "niche_benzene_sensitivity",
        "niche_cytokine_injury_rate",
        "niche_injury_rate",
        "niche_injury_start_day",
        "niche_injury_days",
    )
    publishes = ("niche_support",)

    def signals(self, c: Context) -> dict:
        return {"niche_support": c.s.niche_stroma}

    def rates(self, c: Context) -> dict:
        s, p = c.s, c.p
        injury = (
            c.signal("radiation_dose_rate", 0) / p.niche_radiation_d0_gy
            + p.niche_benzene_sensitivity * c.signal("benzene_progenitor_kill_rate", 0)
            + p.niche_cytokine_injury_rate
            * (c.signal("interferon_gamma_effect", 0) + c.signal("tnf_alpha_effect", 0))
            + c.u.niche_lesion_rate
        )
        return {
            "niche_stroma": (1 - s.niche_stroma) / p.niche_repair_days - injury * s.niche_stroma
        }

    def steady_state(self, p: Namespace) -> dict:
        return {"niche_stroma": 1}

    def readout_values(self, c: Context) -> dict:
        return {"niche": c.s.niche_stroma}

    def schedule(self, p: Any) -> list[InputChange]:
        start = p["niche_injury_start_day"]
        return [
            InputChange("niche_lesion_rate", start, p["niche_injury_rate"]),
            InputChange("niche_lesion_rate", start + p["niche_injury_days"], 0.0),
        ]
