"""Power of the in-character comparison between two styles (DESIGN section 5).

Outcomes are clustered by seed: the items answered by one organism share that organism's
quirks. With `m` items per organism and intra-seed correlation `icc`, the design effect
1 + (m - 1) * icc divides the nominal sample size into an effective one, and the power of a
two-sided two-proportion z-test (statsmodels `NormalIndPower` on Cohen's h) is computed from
that, with the number of seeds per style that the planned power would need. Past a point more
items per seed do not help: the effective size per seed never exceeds 1 / icc. `observed_icc` estimates the correlation from collected transcripts (one-way ANOVA
estimator over seeds), so the notebook can set the assumed value against the measured one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from cotchar.params import PowerPlan


@dataclass(frozen=True)
class PowerResult:
    comparison: str
    seeds_per_style: int
    items_per_seed: int
    nominal_n_per_style: int
    design_effect: float
    effective_n_per_style: float
    required_effective_n: float
    power: float
    detectable: bool
    seeds_needed: int  # per style, for the planned power at this many items per seed

    def as_dict(self) -> dict[str, float | int | str | bool]:
        return asdict(self)


def cohen_h(plan: PowerPlan) -> float:
    high, low = plan.base_rate + plan.difference / 2, plan.base_rate - plan.difference / 2
    return float(abs(proportion_effectsize(high, low)))


def power_for(comparison: str, seeds: int, items_per_seed: int, plan: PowerPlan, icc: float | None = None) -> PowerResult:
    icc = plan.icc if icc is None else icc
    deff = 1 + (items_per_seed - 1) * icc
    n = seeds * items_per_seed
    n_eff = n / deff
    solver = NormalIndPower()
    h = cohen_h(plan)
    achieved = float(solver.power(effect_size=h, nobs1=n_eff, alpha=plan.alpha, ratio=1.0))
    required = float(solver.solve_power(effect_size=h, power=plan.power, alpha=plan.alpha, ratio=1.0))
    per_seed = items_per_seed / deff
    needed = math.ceil(required / per_seed)
    return PowerResult(
        comparison, seeds, items_per_seed, n, round(deff, 4), round(n_eff, 2), round(required, 2), round(achieved, 4), achieved >= plan.power, needed
    )


def observed_icc(df: pd.DataFrame, outcome: str = "in_character", cluster: str = "seed") -> float:
    """ANOVA estimate of the intra-cluster correlation of a binary outcome (0 when clusters agree)."""
    groups = [g[outcome].astype(float).to_numpy() for _, g in df.groupby(cluster)]
    k, n = len(groups), sum(len(g) for g in groups)
    if k < 2 or n <= k:
        return float("nan")
    grand = np.concatenate(groups).mean()
    msb = sum(len(g) * (g.mean() - grand) ** 2 for g in groups) / (k - 1)
    msw = sum(((g - g.mean()) ** 2).sum() for g in groups) / (n - k)
    n0 = (n - sum(len(g) ** 2 for g in groups) / n) / (k - 1)
    denom = msb + (n0 - 1) * msw
    return float(max(0.0, (msb - msw) / denom)) if denom > 0 else 0.0
