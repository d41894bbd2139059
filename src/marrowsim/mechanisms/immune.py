"""Immune attack on haematopoietic stem and progenitor cells.

Autoreactive effector T cells (``t_effector``) are recruited once tolerance
breaks (input ``immune_attack_on``, switched on at ``immune_trigger_day`` and
off at ``immune_end_day``) at a rate set by ``immune_strength`` and by HSPC
antigen, scaled by ``autoimmune_drive``. The drive drifts differently in each
patient, logistically between 0 and ``immune_escalation_max_fold`` at the net
rate ``immune_escalation_rate - immune_tolerance_recovery_rate``: it wanes as
tolerance returns (spontaneous remissions in about 13% of adults,
Haematologica 2001;86:928) and grows as tolerance is lost further (moderate AA
progresses to severe in about a fifth of adults, Kwon et al., Int J Hematol
2010). Tolerance is also restored, the drive decaying at up to
``immune_tolerance_restoration_rate``, while regulatory T cells far outweigh
few effectors: a fourth-power switch in the regulatory-to-effector ratio
(half at ``immune_regulatory_balance``) times the square of
``immune_restoration_effector_half / (t_effector + half)``. Both factors are
bounded rational functions, near zero in an established attack; a depletion
that spares regulatory T cells (horse ATG) followed by cyclosporine holding
the effectors down restores tolerance in most patients, one that depletes them
(rabbit ATG) seldom, and a patient still primed when cyclosporine stops
relapses. Effectors expand on antigen, restrained by regulatory T cells, and
die. Regulatory T cells are induced by
effector activity. Both are killed by ionising radiation as lymphocytes
(signal ``radiation_lymphocyte_kill_rate``) and depleted by antithymocyte
globulin (``atg_effector_kill_rate``, ``atg_regulatory_kill_rate``);
cyclosporine blocks the recruitment and expansion of effectors
(``cyclosporine_t_cell_block``); a transplant's conditioning kills both
(``transplant_lymphocyte_kill_rate``) and its donor immune system stops the
recruitment and expansion (``autoimmunity_replaced``, 1 after engraftment). Effectors secrete IFN-gamma and TNF-alpha, cleared within
hours. The cytokines (their excess over the healthy baseline):

* cut HSC cycling and self-renewal (IFN-gamma; Front Immunol 2016;7:330);
* raise Fas on HSPC with a lag of 1-3 days (Dai et al., Blood 1998), and through
  Fas add apoptosis in proportion to both cytokines (Maciejewski et al.,
  Br J Haematol 1995);
* block TPO signalling in proportion to IFN-gamma (Alvarado et al., Blood 2019).

No parameterised human model of this module exists (MODELS.md section 5.3):
every rate here is an assumption, calibrated to the immune-aa scenarios.
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
    first_violation,
)

# the tolerance-restoration switch's shape (assumed, no human value: MODELS.md
# 5.3): steep in the regulatory-to-effector ratio, so that an established
# attack (ratio about 10) restores almost nothing and a regulatory-sparing
# depletion (ratio in the hundreds) restores fully; the floor (10^9/L) keeps
# the ratio defined when both T-cell counts are zero
DOMINANCE_HILL = 4
QUIET_HILL = 2
DOMINANCE_FLOOR = 1e-5


class ImmuneAttack(Mechanism):
    name = "immune"
    states = (
        State(
            "t_effector", "10^9/L", "autoreactive effector T cells (CD8+, oligoclonal)", scale=0.01
        ),
        State("t_regulatory", "10^9/L", "regulatory T cells"),
        # cytokines made by the attack, above the healthy level: never
        # negative, so their effects stay in 0..1 for any state a solver tries
        State("interferon_gamma_excess", "pg/mL", "IFN-gamma above the healthy level", scale=1.0),
        State("tnf_alpha_excess", "pg/mL", "TNF-alpha above the healthy level", scale=1.0),
        State(
            "fas_sensitisation",
            "fraction",
            "Fas expression on HSPC induced by IFN-gamma",
            scale=0.1,
        ),
        State(
            "autoimmune_drive",
            "fold",
            "recruitment drive relative to its value when tolerance broke",
        ),
    )
    inputs = (Input("immune_attack_on", "switch", "1 once tolerance is broken, else 0"),)
    readouts = (
        Readout("interferon_gamma", "pg/mL", "marrow IFN-gamma"),
        Readout("tnf_alpha", "pg/mL", "marrow TNF-alpha"),
    )
    parameters = (
        "immune_strength",
        "immune_trigger_day",
        "immune_end_day",
        "immune_tolerance_recovery_rate",
        "immune_escalation_rate",
        "immune_escalation_max_fold",
        "immune_tolerance_restoration_rate",
        "immune_restoration_effector_half",
        "immune_regulatory_balance",
        "t_effector_activation_rate",
        "t_effector_expansion_rate",
        "t_effector_death_rate",
        "immune_antigen_half_saturation",
        "t_regulatory_baseline",
        "t_regulatory_turnover_rate",
        "t_regulatory_induction_rate",
        "t_regulatory_suppression_half",
        "interferon_gamma_baseline",
        "interferon_gamma_clearance_rate",
        "interferon_gamma_secretion",
        "interferon_gamma_half_effect",
        "tnf_alpha_baseline",
        "tnf_alpha_clearance_rate",
        "tnf_alpha_secretion",
        "tnf_alpha_half_effect",
        "fas_sensitisation_days",
        "hsc_ifn_apoptosis_max",
        "hsc_tnf_apoptosis_max",
        "progenitor_immune_sensitivity",
        "hsc_ifn_self_renewal_inhibition_max",
        "hsc_ifn_cycling_inhibition_max",
        "tpo_ifn_block_max",
        "hsc_pool_size",
    )
    publishes = (
        "interferon_gamma_effect",
        "tnf_alpha_effect",
        "hsc_extra_apoptosis_rate",
        "progenitor_extra_apoptosis_rate",
        "hsc_self_renewal_inhibition",
        "hsc_cycling_inhibition",
        "tpo_signalling_block",
        "t_effector_count",
    )

    def signals(self, c: Context) -> dict:
        s, p = c.s, c.p
        ifn_effect = s.interferon_gamma_excess / (
            s.interferon_gamma_excess + p.interferon_gamma_half_effect
        )
        tnf_effect = s.tnf_alpha_excess / (s.tnf_alpha_excess + p.tnf_alpha_half_effect)
        apoptosis = s.fas_sensitisation * (
            p.hsc_ifn_apoptosis_max * ifn_effect + p.hsc_tnf_apoptosis_max * tnf_effect
        )
        return {
            "interferon_gamma_effect": ifn_effect,
            "tnf_alpha_effect": tnf_effect,
            "hsc_extra_apoptosis_rate": apoptosis,
            # cycling progenitors carry more Fas than dormant HSC (Maciejewski 1995)
            "progenitor_extra_apoptosis_rate": apoptosis * p.progenitor_immune_sensitivity,
            "hsc_self_renewal_inhibition": p.hsc_ifn_self_renewal_inhibition_max * ifn_effect,
            "hsc_cycling_inhibition": p.hsc_ifn_cycling_inhibition_max * ifn_effect,
            "tpo_signalling_block": p.tpo_ifn_block_max * ifn_effect,
            "t_effector_count": s.t_effector,
        }

    def rates(self, c: Context) -> dict:
        s, p, u = c.s, c.p, c.u
        antigen = c.signal("hsc_relative", s.hsc_cells / p.hsc_pool_size)
        antigen_drive = antigen / (antigen + p.immune_antigen_half_saturation)
        suppression = 1 / (1 + s.t_regulatory / p.t_regulatory_suppression_half)
        # tolerance is restored while regulatory T cells far outweigh the
        # effectors (after ATG that spares them, with cyclosporine holding the
        # effectors down): a steep but bounded rational switch, near zero at
        # the regulatory-to-effector ratio of an established attack (about 10)
        weighted_effectors = p.immune_regulatory_balance * s.t_effector
        regulatory_dominance = s.t_regulatory**DOMINANCE_HILL / (
            s.t_regulatory**DOMINANCE_HILL
            + weighted_effectors**DOMINANCE_HILL
            + DOMINANCE_FLOOR**DOMINANCE_HILL
        )
        quiet = p.immune_restoration_effector_half / (
            s.t_effector + p.immune_restoration_effector_half
        )
        restoring = regulatory_dominance * quiet**QUIET_HILL
        # T cells are lymphocytes, the most radiosensitive cells
        radiation_kill = c.signal("radiation_lymphocyte_kill_rate", 0)
        # ... and killed by the cyclophosphamide of a transplant's conditioning
        conditioning_kill = c.signal("transplant_lymphocyte_kill_rate", 0)
        # cyclosporine blocks activation and IL-2-driven expansion (reversibly)
        unblocked = 1 - c.signal("cyclosporine_t_cell_block", 0)
        # a donor immune system (after a transplant) recruits no autoreactive
        # effectors and does not expand the host's
        autoreactive = 1 - c.signal("autoimmunity_replaced", 0)
        recruitment = (
            u.immune_attack_on
            * p.immune_strength
            * p.t_effector_activation_rate
            * antigen_drive
            * s.autoimmune_drive
            * unblocked
            * autoreactive
        )
        return {
            "t_effector": recruitment
            + s.t_effector
            * (
                p.t_effector_expansion_rate * antigen_drive * suppression * unblocked * autoreactive
                - p.t_effector_death_rate
            )
            - (radiation_kill + c.signal("atg_effector_kill_rate", 0) + conditioning_kill)
            * s.t_effector,
            "t_regulatory": p.t_regulatory_turnover_rate
            * (p.t_regulatory_baseline - s.t_regulatory)
            + p.t_regulatory_induction_rate * s.t_effector
            - (radiation_kill + c.signal("atg_regulatory_kill_rate", 0) + conditioning_kill)
            * s.t_regulatory,
            "interferon_gamma_excess": p.interferon_gamma_secretion * s.t_effector
            - p.interferon_gamma_clearance_rate * s.interferon_gamma_excess,
            "tnf_alpha_excess": p.tnf_alpha_secretion * s.t_effector
            - p.tnf_alpha_clearance_rate * s.tnf_alpha_excess,
            "fas_sensitisation": (c.sig["interferon_gamma_effect"] - s.fas_sensitisation)
            / p.fas_sensitisation_days,
            # logistic in (0, max fold): the same as a net tolerance x drifting
            # at (recovery - escalation) with drive = M / (1 + (M - 1) exp(x)),
            # without an exponential to overflow
            "autoimmune_drive": u.immune_attack_on
            * s.autoimmune_drive
            * (
                (p.immune_escalation_rate - p.immune_tolerance_recovery_rate)
                * (1 - s.autoimmune_drive / p.immune_escalation_max_fold)
                - p.immune_tolerance_restoration_rate * restoring
            ),
        }

    def steady_state(self, p: Namespace) -> dict:
        return {
            "t_effector": 0,
            "t_regulatory": p.t_regulatory_baseline,
            "interferon_gamma_excess": 0,
            "tnf_alpha_excess": 0,
            "fas_sensitisation": 0,
            "autoimmune_drive": 1,
        }

    def readout_values(self, c: Context) -> dict:
        s, p = c.s, c.p
        return {
            "interferon_gamma": p.interferon_gamma_baseline + s.interferon_gamma_excess,
            "tnf_alpha": p.tnf_alpha_baseline + s.tnf_alpha_excess,
        }

    def problems(self, values: Any) -> list[str]:
        return first_violation(
            values,
            lambda v: v["immune_end_day"] < v["immune_trigger_day"],  # equal: no attack
            lambda v, k: (
                f"immune.end_day: {v['immune_end_day'][k]:g} must not come before"
                f" immune.trigger_day ({v['immune_trigger_day'][k]:g})"
            ),
        )

    def schedule(self, p: Any) -> list[InputChange]:
        # p holds numbers (simulation) or symbols (SBML export)
        return [
            InputChange("immune_attack_on", p["immune_trigger_day"], 1.0),
            InputChange("immune_attack_on", p["immune_end_day"], 0.0),
        ]
