"""Power analysis: the design effect of seed clustering, and the seeds a comparison needs."""

from __future__ import annotations

import pandas as pd
import pytest

from cotchar.params import PowerPlan
from cotchar.stats.power import observed_icc, power_for

PLAN = PowerPlan(difference=0.10, base_rate=0.5, alpha=0.05, power=0.8, icc=0.02)


def test_without_clustering_the_textbook_sample_size_applies() -> None:
    # Two proportions 0.55 vs 0.45 need about 392 per group at 80% power (Cohen's h = 0.2).
    r = power_for("x", seeds=1, items_per_seed=392, plan=PLAN, icc=0.0)
    assert r.required_effective_n == pytest.approx(392, abs=1.5)
    assert r.power == pytest.approx(0.8, abs=0.01) and r.seeds_needed == 1


def test_clustering_caps_what_more_items_can_buy() -> None:
    few, many = power_for("x", 5, 100, PLAN), power_for("x", 5, 10_000, PLAN)
    assert few.design_effect == pytest.approx(1 + 99 * 0.02)
    assert many.effective_n_per_style < 5 / PLAN.icc  # never above seeds / icc
    assert many.power < 0.8 and many.seeds_needed > 5
    more_seeds = power_for("x", many.seeds_needed, 10_000, PLAN)
    assert more_seeds.detectable


def test_observed_icc_is_zero_when_seeds_agree_and_high_when_they_split() -> None:
    same = pd.DataFrame({"seed": [1] * 50 + [2] * 50, "in_character": [True, False] * 50})
    split = pd.DataFrame({"seed": [1] * 50 + [2] * 50, "in_character": [True] * 50 + [False] * 50})
    assert observed_icc(same) == 0.0
    assert observed_icc(split) > 0.9
