"""95% intervals of a proportion, from statsmodels: Wilson's for cohort
fractions, the exact (Clopper-Pearson) one for rare events, where Wilson's is
too narrow at a few counts."""

from __future__ import annotations


def wilson(count: int, n: int) -> list[float]:
    """Wilson's 95% interval of the proportion ``count / n``."""
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(count, n, alpha=0.05, method="wilson")
    return [float(low), float(high)]


def clopper_pearson(count: int, n: int) -> list[float]:
    """The exact (Clopper-Pearson) 95% interval of ``count / n``."""
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(count, n, alpha=0.05, method="beta")
    return [float(low), float(high)]
