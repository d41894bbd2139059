"""Hormone feedback: EPO, TPO and G-CSF.

* EPO is made in proportion to a steep, saturating function of Hb (the
  Mahaffy / Colijn-Mackey Hill form with exponent 6.96) and cleared first-order.
* TPO is made constitutively by the liver and cleared mostly by c-MPL on
  platelets, so its level rises as the platelet mass falls.
* G-CSF is cleared by the kidney and by neutrophil receptor internalisation, so
  it rises in neutropenia.

Each hormone acts on its lineage through a saturating gain equal to 1 at its
baseline level (``saturating_gain``). An IFN-gamma block of TPO signalling, if
another mechanism publishes ``tpo_signalling_block``, lowers the TPO gain.
"""

from __future__ import annotations

from marrowsim.mechanisms.base import Context, Mechanism, Namespace, State, saturating_gain


class Feedback(Mechanism):
    name = "feedback"
    states = (
        State("epo", "mU/mL", "serum erythropoietin"),
        State("tpo", "pg/mL", "serum thrombopoietin"),
        State("gcsf", "ng/mL", "serum G-CSF"),
    )
    parameters = (
        "epo_baseline",
        "epo_clearance_rate",
        "epo_max_fold",
        "epo_hill_exponent",
        "epo_erythroid_max_gain",
        "tpo_baseline",
        "tpo_clearance_rate",
        "tpo_receptor_clearance_fraction",
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
    publishes = (
        "epo_erythroid_gain",
        "tpo_megakaryocyte_gain",
        "gcsf_granulocyte_gain",
        "gcsf_release_gain",
    )

    def signals(self, c: Context) -> dict:
        s, p = c.s, c.p
        tpo_effective = s.tpo * (1 - c.signal("tpo_signalling_block", 0))
        return {
            "epo_erythroid_gain": saturating_gain(s.epo, p.epo_baseline, p.epo_erythroid_max_gain),
            "tpo_megakaryocyte_gain": saturating_gain(
                tpo_effective, p.tpo_baseline, p.tpo_megakaryocyte_max_gain
            ),
            "gcsf_granulocyte_gain": saturating_gain(
                s.gcsf, p.gcsf_baseline, p.gcsf_granulocyte_max_gain
            ),
            "gcsf_release_gain": saturating_gain(s.gcsf, p.gcsf_baseline, p.gcsf_release_max_gain),
        }

    def rates(self, c: Context) -> dict:
        s, p = c.s, c.p
        hb_ratio = c.signal("hb", p.hb_set_point) / p.hb_set_point
        steepness = p.epo_max_fold - 1
        epo_production = (
            p.epo_baseline * (1 + steepness) / (1 + steepness * hb_ratio**p.epo_hill_exponent)
        )

        def receptor_cleared(level, baseline, rate, fraction, cells_relative):
            # Production is constant; clearance = renal part + receptor part
            # proportional to the cell mass carrying the receptor.
            return rate * (baseline - level * ((1 - fraction) + fraction * cells_relative))

        return {
            "epo": p.epo_clearance_rate * (epo_production - s.epo),
            "tpo": receptor_cleared(
                s.tpo,
                p.tpo_baseline,
                p.tpo_clearance_rate,
                p.tpo_receptor_clearance_fraction,
                c.signal("platelets", p.platelet_set_point) / p.platelet_set_point,
            ),
            "gcsf": receptor_cleared(
                s.gcsf,
                p.gcsf_baseline,
                p.gcsf_clearance_rate,
                p.gcsf_receptor_clearance_fraction,
                c.signal("anc", p.anc_set_point) / p.anc_set_point,
            ),
        }

    def steady_state(self, p: Namespace) -> dict:
        return {"epo": p.epo_baseline, "tpo": p.tpo_baseline, "gcsf": p.gcsf_baseline}
