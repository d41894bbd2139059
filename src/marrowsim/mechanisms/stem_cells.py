"""Haematopoietic stem cells (HSC) and multipotent progenitors (MPP).

HSC divide about once per 40 weeks (Catlin et al., Blood 2011). A division is
self-renewing with probability ``a`` (both daughters stay stem cells), otherwise
both daughters leave for the MPP pool (the Stiehl / Marciniak-Czochra
self-renewal form). ``a`` falls as the niche fills, so the pool is held at its
niche-limited size; when loss outruns the largest net self-renewal
``division_rate * (2 * a_max - 1)`` the pool collapses: aplasia as a loss of the
HSC steady state (Mackey, Blood 1978).

Signals consumed (neutral when the mechanism is absent):
``hsc_extra_apoptosis_rate`` (1/day), ``hsc_self_renewal_inhibition`` and
``hsc_cycling_inhibition`` (fractions), ``progenitor_extra_apoptosis_rate``
(1/day), ``niche_capacity`` (fraction of healthy, a later issue makes it dynamic).

Published: ``hsc_relative`` (fraction of the healthy pool) and
``progenitor_output_relative`` (MPP output as a fraction of healthy), which
feeds every lineage.
"""

from __future__ import annotations

from marrowsim.mechanisms.base import Context, Mechanism, Namespace, Readout, State


class StemCells(Mechanism):
    name = "stem_cells"
    states = (
        State("hsc_cells", "cells", "haematopoietic stem cells in the marrow niche"),
        State("mpp", "cells", "multipotent and early committed progenitors"),
    )
    parameters = (
        "hsc_pool_size",
        "hsc_division_rate",
        "hsc_self_renewal_max",
        "hsc_apoptosis_rate",
        "mpp_amplification",
        "mpp_transit_days",
    )
    readouts = (Readout("hsc", "fraction", "HSC pool as a fraction of the healthy pool"),)
    publishes = ("hsc_relative", "progenitor_output_relative")

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
        return {
            "hsc_relative": c.s.hsc_cells / c.p.hsc_pool_size,
            "progenitor_output_relative": c.s.mpp / c.p.mpp_healthy,
        }

    def rates(self, c: Context) -> dict:
        s, p = c.s, c.p
        niche = c.signal("niche_capacity", 1)
        division_rate = p.hsc_division_rate * (1 - c.signal("hsc_cycling_inhibition", 0))
        self_renewal = (
            p.hsc_self_renewal_max
            / (1 + p.hsc_niche_crowding * s.hsc_cells / (p.hsc_pool_size * niche))
            * (1 - c.signal("hsc_self_renewal_inhibition", 0))
        )
        apoptosis = p.hsc_apoptosis_rate + c.signal("hsc_extra_apoptosis_rate", 0)
        differentiation = 2 * division_rate * (1 - self_renewal) * s.hsc_cells
        return {
            "hsc_cells": division_rate * (2 * self_renewal - 1) * s.hsc_cells
            - apoptosis * s.hsc_cells,
            "mpp": p.mpp_amplification * differentiation
            - s.mpp / p.mpp_transit_days
            - c.signal("progenitor_extra_apoptosis_rate", 0) * s.mpp,
        }

    def steady_state(self, p: Namespace) -> dict:
        return {"hsc_cells": p.hsc_pool_size, "mpp": p.mpp_healthy}

    def readout_values(self, c: Context) -> dict:
        return {"hsc": c.sig["hsc_relative"]}
