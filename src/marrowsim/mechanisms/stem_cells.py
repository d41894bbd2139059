"""Haematopoietic stem cells (HSC) and multipotent progenitors (MPP).

HSC divide about once per 40 weeks in health (Catlin et al., Blood 2011). A
division is self-renewing with probability ``a`` (both daughters stay stem
cells), otherwise both daughters leave for the MPP pool (the Stiehl /
Marciniak-Czochra self-renewal form). ``a`` falls as the niche fills, so the
pool is held at its niche-limited size (``niche_capacity``, a fraction of the
healthy carrying capacity); when loss outruns the largest net self-renewal the
pool collapses: aplasia as a loss of the HSC steady state (Mackey, Blood 1978).

Stress haematopoiesis (the marrow's reserve):

* dormant HSC are activated when the niche has emptied (the Colijn & Mackey
  2005 re-entry Hill form in niche occupancy, exponent 4): cycling speeds up
  to ``hsc_activation_max_fold`` while the pool regrows, and is back to normal
  once the niche is full again, whatever its capacity;
* thrombopoietin acts on HSC through c-MPL as well as on megakaryopoiesis
  (Kovtonyuk et al., Blood 2016): high TPO, i.e. low platelet and megakaryocyte
  mass, speeds HSC cycling up to ``hsc_tpo_max_fold``;
* MPP amplification rises as their output falls (a progenitor-deficit signal,
  of which serum FLT3 ligand is the measured marker: ~190-fold in severe AA,
  normal again in remission; Wodnar-Filipowicz et al., Blood 1996), so blood
  counts are near normal on about 10% of the HSC pool, as in patients in
  remission (Maciejewski et al., Am J Hematol 2000; Podesta et al., Blood 1998).

Both are exactly neutral at the healthy steady state.

Signals consumed (neutral when the mechanism is absent):
``hsc_extra_apoptosis_rate`` (1/day), ``hsc_self_renewal_inhibition`` and
``hsc_cycling_inhibition`` (fractions), ``progenitor_extra_apoptosis_rate``
(1/day), ``tpo_hsc_relative`` (effective TPO over its healthy level),
``radiation_hsc_kill_rate``, ``radiation_progenitor_kill_rate``,
``benzene_hsc_kill_rate`` and ``benzene_progenitor_kill_rate`` (1/day, while
an exposure lasts), ``transplant_hsc_kill_rate`` and
``transplant_progenitor_kill_rate`` (1/day: conditioning, graft rejection),
``transplant_hsc_infusion_rate`` and ``transplant_mpp_infusion_rate``
(cells/day: donor cells on the day of a transplant), ``hsc_dna_damage_loss_rate``
(1/day, unrepaired DNA damage; 0 at a healthy repair capacity), ``niche_support``
(fraction of ``niche_capacity`` the stroma supports; injured and repaired in
mechanisms/niche.py) and ``marrow_growth_fraction`` (a child's niche as a fraction of
the adult's, 1 in an adult).

Published: ``hsc_relative`` (fraction of the healthy pool) and
``progenitor_output_relative`` (MPP output as a fraction of healthy), which
feeds every lineage.
"""

from __future__ import annotations

from typing import Any

from marrowsim.mechanisms.base import (
    Context,
    Mechanism,
    Namespace,
    Readout,
    State,
    first_violation,
    hill_drive,
)

# Hill exponents are structural (integers keep the Jacobian defined at an
# empty compartment): HSC re-entry s = 4 (Colijn & Mackey, J Theor Biol
# 2005;237:117); the TPO drive on HSC and the MPP compensation as steep
# (assumed: nearly all in use once TPO is twice normal, or progenitor output
# below 40% of normal)
HSC_ACTIVATION_HILL = 4
HSC_TPO_HILL = 4
MPP_COMPENSATION_HILL = 4


def _niche(c: Context) -> Any:
    """The HSC carrying capacity relative to health: the niche's capacity,
    its stromal support, and a child's niche a fraction of the adult's
    (mechanisms/growth.py)."""
    return c.p.niche_capacity * c.signal("niche_support", 1) * c.signal("marrow_growth_fraction", 1)


class StemCells(Mechanism):
    name = "stem_cells"
    states = (
        State("hsc_cells", "cells", "haematopoietic stem cells in the marrow niche"),
        State("mpp", "cells", "multipotent and early committed progenitors"),
    )
    parameters = (
        "hsc_pool_size",
        "niche_capacity",
        "hsc_division_rate",
        "hsc_self_renewal_max",
        "hsc_apoptosis_rate",
        "hsc_activation_max_fold",
        "hsc_activation_half_pool",
        "hsc_tpo_max_fold",
        "hsc_tpo_half_fold",
        "mpp_amplification",
        "mpp_transit_days",
        "mpp_compensation_max_fold",
    )
    readouts = (Readout("hsc", "fraction", "HSC pool as a fraction of the healthy pool"),)
    publishes = ("hsc_relative", "progenitor_output_relative", "hsc_cycling_rate")

    def derived(self, p: Namespace) -> dict:
        # Healthy self-renewal probability: balances apoptosis at the set pool size.
        baseline = (1 + p.hsc_apoptosis_rate / p.hsc_division_rate) / 2
        return {
            "hsc_self_renewal_baseline": baseline,
            # a(h) = a_max / (1 + crowding * h) equals the baseline at h = 1.
            "hsc_niche_crowding": p.hsc_self_renewal_max / baseline - 1,
            "mpp_healthy": p.mpp_amplification
            * p.hsc_pool_size
            * (p.hsc_division_rate - p.hsc_apoptosis_rate)
            * p.mpp_transit_days,
        }

    def signals(self, c: Context) -> dict:
        s, p = c.s, c.p
        hsc = s.hsc_cells / p.hsc_pool_size
        niche = _niche(c)
        # dormant HSC activation by an emptied niche (occupancy below capacity,
        # as during regrowth; zero at any steady state) ...
        pool_drive = hill_drive(hsc / niche, p.hsc_activation_half_pool, HSC_ACTIVATION_HILL)
        # ... and by TPO through c-MPL on HSC, saturating at a few fold normal
        # drive (T^4 - 1) / (T^4 + K^4): 0 at normal TPO, half at T = (2 + K^4)^(1/4)
        tpo = c.signal("tpo_hsc_relative", 1) ** HSC_TPO_HILL
        tpo_drive = (tpo - 1) / (tpo + p.hsc_tpo_half_fold**HSC_TPO_HILL)
        # each drive D in (-small, 1] speeds cycling by 1 / (1 - (1 - 1/max) D):
        # 1 in health, the maximum at full drive, and still positive (a slowing)
        # where a drive is negative (a crowded niche, low TPO)
        activation = 1 / (
            (1 - (1 - 1 / p.hsc_activation_max_fold) * pool_drive)
            * (1 - (1 - 1 / p.hsc_tpo_max_fold) * tpo_drive)
        )
        return {
            "hsc_relative": hsc,
            "progenitor_output_relative": s.mpp / p.mpp_healthy,
            # divisions per HSC per day (the telomere budget is spent by them)
            # (senescent cells, whose telomere budget is spent, do not divide)
            "hsc_cycling_rate": p.hsc_division_rate
            * activation
            * (1 - c.signal("hsc_cycling_inhibition", 0))
            * (1 - c.signal("hsc_telomere_arrest", 0)),
        }

    def rates(self, c: Context) -> dict:
        s, p = c.s, c.p
        hsc = c.sig["hsc_relative"]
        niche = _niche(c)
        division_rate = c.sig["hsc_cycling_rate"]
        self_renewal = (
            p.hsc_self_renewal_max
            / (1 + p.hsc_niche_crowding * hsc / niche)
            * (1 - c.signal("hsc_self_renewal_inhibition", 0))
        )
        apoptosis = (
            p.hsc_apoptosis_rate
            + c.signal("hsc_extra_apoptosis_rate", 0)
            + c.signal("radiation_hsc_kill_rate", 0)
            + c.signal("benzene_hsc_kill_rate", 0)
            + c.signal("transplant_hsc_kill_rate", 0)
            # senescence of HSC whose telomere budget is spent (mechanisms/telomere.py)
            + c.signal("hsc_telomere_loss_rate", 0)
        )
        differentiation = 2 * division_rate * (1 - self_renewal) * s.hsc_cells
        # progenitor deficit raises MPP amplification (1 at the healthy output)
        compensation = p.mpp_compensation_max_fold / (
            1
            + (p.mpp_compensation_max_fold - 1)
            * c.sig["progenitor_output_relative"] ** MPP_COMPENSATION_HILL
        )
        return {
            "hsc_cells": division_rate * (2 * self_renewal - 1) * s.hsc_cells
            - apoptosis * s.hsc_cells
            # p53 apoptosis and senescence from unrepaired DNA damage: its own
            # term, 0 at a healthy repair capacity (mechanisms/dna_damage.py)
            - c.signal("hsc_dna_damage_loss_rate", 0) * s.hsc_cells
            + c.signal("transplant_hsc_infusion_rate", 0),
            "mpp": p.mpp_amplification * compensation * differentiation
            - s.mpp / p.mpp_transit_days
            - c.signal("progenitor_extra_apoptosis_rate", 0) * s.mpp
            - c.signal("radiation_progenitor_kill_rate", 0) * s.mpp
            - c.signal("benzene_progenitor_kill_rate", 0) * s.mpp
            - c.signal("transplant_progenitor_kill_rate", 0) * s.mpp
            + c.signal("transplant_mpp_infusion_rate", 0),
        }

    def problems(self, values) -> list[str]:
        # a healthy pool exists only if the largest net self-renewal beats apoptosis
        def largest(v):
            return v["hsc_division_rate"] * (2 * v["hsc_self_renewal_max"] - 1)

        return first_violation(
            values,
            lambda v: v["hsc_apoptosis_rate"] >= largest(v),
            lambda v, k: (
                f"hsc_apoptosis_rate: {v['hsc_apoptosis_rate'][k]:g}/day must be below"
                " the largest net self-renewal, hsc_division_rate x (2 x hsc_self_renewal_max - 1)"
                f" = {largest(v)[k]:g}/day, or no healthy stem-cell pool exists"
            ),
        )

    def steady_state(self, p: Namespace) -> dict:
        # day 0 of a course from birth starts with a child's (smaller) pool;
        # hsc_start_fraction is 1 for an adult (mechanisms/dna_damage.py)
        return {"hsc_cells": p.hsc_pool_size * p.hsc_start_fraction, "mpp": p.mpp_healthy}

    def readout_values(self, c: Context) -> dict:
        return {"hsc": c.sig["hsc_relative"]}
