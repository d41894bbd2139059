"""Hormone feedback: EPO, TPO and G-CSF.

* EPO is made in proportion to a steep, saturating function of Hb (the
  Mahaffy / Colijn-Mackey Hill form with exponent 6.96) and cleared by the
  kidney and, in part, by EPO receptors on erythroid progenitors (clearance
  falls after myeloablation; Widness et al., Clin Pharmacol Ther 2007). An
  empty erythroid marrow therefore has more EPO at the same Hb, as in aplastic
  anemia compared with iron deficiency (Schrezenmeier et al., Br J Haematol 1994).
* TPO is made constitutively by the liver and cleared mostly by c-MPL on
  platelets and megakaryocytes; clearance grows with that mass to a power
  (assumed 1.29, borrowed from the Colijn & Mackey 2005 platelet feedback), so TPO reaches
  10-30-fold in severe AA (Schrezenmeier 1998; Marsh 1996) and stays raised in
  remission, when the megakaryocyte mass is still low.
* G-CSF is cleared by the kidney and, mostly, by neutrophil receptor
  internalisation (Craig et al. 2016), so it rises inversely to the ANC up to
  the renal limit (Watari et al., Blood 1989: 46 to >2000 pg/mL in AA).

Each hormone acts on its lineage through a saturating gain equal to 1 at its
baseline level (``saturating_gain``). An IFN-gamma block of TPO signalling, if
another mechanism publishes ``tpo_signalling_block``, lowers the TPO gain and
the TPO drive on HSC (``tpo_hsc_relative``); a c-MPL agonist's TPO-equivalent
signal (``eltrombopag_tpo_equivalent``, in units of the healthy TPO signal)
adds to the effective TPO after that block, since the agonist binds the
receptor's transmembrane domain and not TPO's site (Alvarado et al., Blood
2019;133:2043). Filgrastim (``filgrastim_gcsf``, ng/mL) adds to the
endogenous G-CSF in both G-CSF gains and in the ``gcsf`` readout (total
serum G-CSF, as measured); the endogenous state's clearance is unchanged.
"""

from __future__ import annotations

from marrowsim.mechanisms.base import Context, Mechanism, Namespace, Readout, State, saturating_gain

PG_PER_NG = 1000.0
# the TPO clearance power is taken of (mass + floor) / (1 + floor): exactly 1 in
# health, and defined when a solver tries a mass a rounding error below zero
# (an emptied marrow), where a fractional power of a negative number is NaN
MASS_FLOOR = 1e-6


class Feedback(Mechanism):
    name = "feedback"
    states = (
        State("erythropoietin", "mU/mL", "serum erythropoietin"),
        State("thrombopoietin", "pg/mL", "serum thrombopoietin"),
        State("granulocyte_csf", "ng/mL", "serum G-CSF"),
    )
    parameters = (
        "epo_baseline",
        "epo_clearance_rate",
        "epo_progenitor_clearance_fraction",
        "epo_max_fold",
        "epo_hill_exponent",
        "epo_erythroid_max_gain",
        "tpo_baseline",
        "tpo_clearance_rate",
        "tpo_receptor_clearance_fraction",
        "tpo_megakaryocyte_clearance_share",
        "tpo_clearance_mass_exponent",
        "tpo_megakaryocyte_max_gain",
        "gcsf_baseline",
        "gcsf_clearance_rate",
        "gcsf_receptor_clearance_fraction",
        "gcsf_granulocyte_max_gain",
        "gcsf_release_max_gain",
        "hb_set_point",
        "platelet_set_point",
        "anc_set_point",
    )
    readouts = (
        Readout("epo", "mU/mL", "serum erythropoietin"),
        Readout("tpo", "pg/mL", "serum thrombopoietin"),
        Readout("gcsf", "pg/mL", "serum G-CSF"),
    )
    publishes = (
        "epo_erythroid_gain",
        "tpo_megakaryocyte_gain",
        "tpo_hsc_relative",
        "gcsf_granulocyte_gain",
        "gcsf_release_gain",
    )

    def signals(self, c: Context) -> dict:
        s, p = c.s, c.p
        # a c-MPL agonist (eltrombopag) adds its TPO-equivalent signal after the
        # IFN-gamma block, which binds TPO itself; exogenous G-CSF (filgrastim)
        # adds to the endogenous level
        tpo_effective = s.thrombopoietin * (
            1 - c.signal("tpo_signalling_block", 0)
        ) + p.tpo_baseline * c.signal("eltrombopag_tpo_equivalent", 0)
        gcsf = s.granulocyte_csf + c.signal("filgrastim_gcsf", 0)
        return {
            "epo_erythroid_gain": saturating_gain(
                s.erythropoietin, p.epo_baseline, p.epo_erythroid_max_gain
            ),
            "tpo_megakaryocyte_gain": saturating_gain(
                tpo_effective, p.tpo_baseline, p.tpo_megakaryocyte_max_gain
            ),
            "tpo_hsc_relative": tpo_effective / p.tpo_baseline,
            "gcsf_granulocyte_gain": saturating_gain(
                gcsf, p.gcsf_baseline, p.gcsf_granulocyte_max_gain
            ),
            "gcsf_release_gain": saturating_gain(gcsf, p.gcsf_baseline, p.gcsf_release_max_gain),
        }

    def rates(self, c: Context) -> dict:
        s, p = c.s, c.p
        hb_ratio = c.signal("hb", p.hb_set_point) / p.hb_set_point
        steepness = p.epo_max_fold - 1
        epo_production = (
            p.epo_baseline * (1 + steepness) / (1 + steepness * hb_ratio**p.epo_hill_exponent)
        )

        def receptor_cleared(level, baseline, rate, fraction, receptor_mass):
            # Production is constant; clearance = renal part + receptor part
            # growing with the mass of cells carrying the receptor (1 in health).
            return rate * (baseline - level * ((1 - fraction) + fraction * receptor_mass))

        epo_clearance = (1 - p.epo_progenitor_clearance_fraction) + (
            p.epo_progenitor_clearance_fraction * c.signal("erythroid_marrow_relative", 1)
        )
        share = p.tpo_megakaryocyte_clearance_share
        tpo_mass = (1 - share) * c.signal(
            "platelets", p.platelet_set_point
        ) / p.platelet_set_point + share * c.signal("megakaryocytic_marrow_relative", 1)
        return {
            "erythropoietin": p.epo_clearance_rate
            * (epo_production - s.erythropoietin * epo_clearance),
            "thrombopoietin": receptor_cleared(
                s.thrombopoietin,
                p.tpo_baseline,
                p.tpo_clearance_rate,
                p.tpo_receptor_clearance_fraction,
                ((tpo_mass + MASS_FLOOR) / (1 + MASS_FLOOR)) ** p.tpo_clearance_mass_exponent,
            ),
            "granulocyte_csf": receptor_cleared(
                s.granulocyte_csf,
                p.gcsf_baseline,
                p.gcsf_clearance_rate,
                p.gcsf_receptor_clearance_fraction,
                c.signal("anc", p.anc_set_point) / p.anc_set_point,
            ),
        }

    def steady_state(self, p: Namespace) -> dict:
        return {
            "erythropoietin": p.epo_baseline,
            "thrombopoietin": p.tpo_baseline,
            "granulocyte_csf": p.gcsf_baseline,
        }

    def readout_values(self, c: Context) -> dict:
        s = c.s
        return {
            "epo": s.erythropoietin,
            "tpo": s.thrombopoietin,
            # as an assay measures it: endogenous G-CSF and filgrastim
            "gcsf": (s.granulocyte_csf + c.signal("filgrastim_gcsf", 0)) * PG_PER_NG,
        }
