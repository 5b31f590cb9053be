"""Hierarchical bootstrap (DESIGN section 5): resample seeds within each style, then prompts within each seed.

A replicate is a weight per transcript row. For every style, its organisms (one per seed) are
drawn with replacement; for every organism drawn, its prompts are drawn with replacement; a row's
weight is how often its prompt was drawn, summed over the draws of its organism. All rows of one
prompt (the turns of a dialogue, the doses of a prefill) move together. Every rate, slope or AUC
is then a weighted statistic of the rows, so one set of weights gives consistent intervals for
every quantity computed from it.

Why nested and not crossed (one prompt draw shared by all organisms): resampling organisms and
prompts independently counts the row-level noise twice and gave 98-99% coverage for nominal 95%
intervals in simulation, against 91-98% for the nested scheme (tests/test_compare.py checks it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def weights(data: pd.DataFrame, replicates: int, rng: np.random.Generator, *, unit: str = "model", stratum: str = "style", prompt: str = "item_id") -> np.ndarray:
    """(replicates, rows) bootstrap weights: organisms drawn within their stratum, then prompts within each organism."""
    w = np.zeros((replicates, len(data)))
    units = data[unit].to_numpy()
    prompts = data[prompt].to_numpy()
    for _, group in data.groupby(stratum, sort=True):
        members = []
        for u in sorted(group[unit].unique()):
            rows = np.flatnonzero(units == u)
            codes, uniques = pd.factorize(prompts[rows], sort=True)
            members.append((rows, codes, len(uniques)))
        for b in range(replicates):
            for k in rng.integers(0, len(members), size=len(members)):
                rows, codes, n = members[k]
                w[b, rows] += rng.multinomial(n, np.full(n, 1.0 / n))[codes]
    return w


def weighted_mean(w: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Mean of `y` under each row of weights `w` (restricted to `mask`); NaN where the weights sum to zero."""
    if mask is not None:
        w, y = w[..., mask], y[mask]
    total = w.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (w @ y) / np.where(total > 0, total, 1), np.nan)


def slope(w: np.ndarray, y: np.ndarray, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Least-squares slope of the mean of `y` at each value of `x` against `x` (each value weighs the same)."""
    if mask is not None:
        w, y, x = w[..., mask], y[mask], x[mask]
    levels = np.unique(x)
    rates = np.stack([weighted_mean(w, y, x == v) for v in levels], axis=-1)
    centred = levels - levels.mean()
    with np.errstate(invalid="ignore"):
        return ((rates - np.nanmean(rates, axis=-1, keepdims=True)) * centred).sum(axis=-1) / (centred**2).sum()


def interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates (NaN replicates, where a statistic was undefined, dropped)."""
    s = samples[np.isfinite(samples)]
    if len(s) == 0:
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(s, [tail, 100 - tail])
    return float(lo), float(hi)


def two_sided_p(samples: np.ndarray) -> float:
    """Bootstrap p-value of a zero effect: twice the smaller share of replicates on either side of zero."""
    s = samples[np.isfinite(samples)]
    if len(s) == 0:
        return float("nan")
    return float(min(1.0, max(2 * min((s <= 0).mean(), (s >= 0).mean()), 1 / len(s))))
