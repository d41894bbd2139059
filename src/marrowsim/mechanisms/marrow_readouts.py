"""Marrow cellularity and white-cell count, read from the lineage compartments.

Cellularity is the healthy cellularity scaled by the occupancy of the marrow's
nucleated compartments, each weighted by its share of normal marrow cells
(myeloid : erythroid about 3 : 1, lymphocytes and plasma cells about 13%,
megakaryocytes about 2%). Fat fills the rest, so severe aplasia leaves the
lymphoid share, as seen in AA biopsies. WBC is ANC plus lymphocytes plus
monocytes and other granulocytes, the latter following myeloid marrow output.
"""

from __future__ import annotations

from marrowsim.mechanisms.base import Context, Mechanism, Namespace, Readout


class MarrowReadouts(Mechanism):
    name = "marrow_readouts"
    parameters = (
        "cellularity_healthy",
        "marrow_share_granulocytic",
        "marrow_share_erythroid",
        "marrow_share_lymphoid",
        "marrow_share_megakaryocytic",
        "other_leukocytes_set_point",
    )
    publishes = ("cellularity",)
    readouts = (
        Readout("wbc", "10^9/L", "white blood cell count"),
        Readout("cellularity", "% of marrow space", "marrow cellularity"),
    )

    def signals(self, c: Context) -> dict:
        p = c.p
        shares = (
            (p.marrow_share_granulocytic, c.signal("granulocytic_marrow_relative", 1)),
            (p.marrow_share_erythroid, c.signal("erythroid_marrow_relative", 1)),
            (p.marrow_share_lymphoid, c.signal("lymphoid_relative", 1)),
            (p.marrow_share_megakaryocytic, c.signal("megakaryocytic_marrow_relative", 1)),
        )
        occupancy = sum(w * x for w, x in shares) / sum(w for w, _ in shares)
        return {"cellularity": p.cellularity_healthy * occupancy}

    def rates(self, c: Context) -> dict:
        return {}

    def steady_state(self, p: Namespace) -> dict:
        return {}

    def readout_values(self, c: Context) -> dict:
        p = c.p
        granulocytic = c.signal("granulocytic_marrow_relative", 1)
        return {
            "cellularity": c.sig["cellularity"],
            "wbc": c.sig["anc"]
            + c.signal("lymphocyte_count", 0)
            + p.other_leukocytes_set_point * granulocytic,
        }
