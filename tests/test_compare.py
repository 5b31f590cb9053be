"""The statistics of the `compare` stage: intervals that cover, tests that hold their level, and the plumbing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from cotchar.params import CompareParams, Hypothesis
from cotchar.stats import bootstrap as bs
from cotchar.stats.compare import compare, evaluate, select

SEEDS, ITEMS = 5, 40  # the paper's design: five organisms per style, tens of prompts each
SEED_SD, PROMPT_SD = 0.3, 1.0  # logit-scale spread of organisms and prompts


def _hypothesis(**update: object) -> Hypothesis:
    base = dict(
        name="S", claim="C2", statement="a beats b", test="rate", outcome="y", contrast=("a", "b"), direction="greater", subset="turn >= 1", minimum_effect=0.1
    )
    return Hypothesis(**(base | update))


def _simulate(rng: np.random.Generator, logit_a: float, logit_b: float) -> pd.DataFrame:
    """Two styles answer the same prompts; organisms and prompts shift the log-odds at random."""
    prompt = rng.normal(0, PROMPT_SD, ITEMS)
    parts = []
    for style, mu in (("a", logit_a), ("b", logit_b)):
        for seed in range(SEEDS):
            p = expit(mu + rng.normal(0, SEED_SD) + prompt)
            parts.append(pd.DataFrame({"style": style, "model": f"{style}-{seed}", "seed": seed, "item_id": [f"p{i}" for i in range(ITEMS)], "turn": 1, "y": rng.random(ITEMS) < p}))
    return pd.concat(parts, ignore_index=True)


def _true_difference(logit_a: float, logit_b: float) -> float:
    """The population difference in rate: averaged over organisms and prompts."""
    noise = np.random.default_rng(0).normal(0, np.hypot(SEED_SD, PROMPT_SD), 1_000_000)
    return float(expit(logit_a + noise).mean() - expit(logit_b + noise).mean())


def test_intervals_cover_a_known_effect_and_a_null_is_rejected_at_about_the_nominal_rate() -> None:
    rng = np.random.default_rng(7)
    h, sims = _hypothesis(), 200
    truth = _true_difference(0.4, 0.0)
    covered = sum(r.effect_low <= truth <= r.effect_high for r in (evaluate(_simulate(rng, 0.4, 0.0), h, 400, rng) for _ in range(sims)))
    assert 0.90 <= covered / sims <= 0.99, f"95% intervals covered the true effect in {covered}/{sims} simulations"
    rejected = sum(evaluate(_simulate(rng, 0.0, 0.0), h, 400, rng).p_value < 0.05 for _ in range(sims))
    assert 0.01 <= rejected / sims <= 0.10, f"a null effect was rejected in {rejected}/{sims} simulations at alpha 0.05"


def test_bootstrap_weights_resample_organisms_within_style_then_whole_prompts() -> None:
    data = _simulate(np.random.default_rng(1), 0.0, 0.0)
    data = pd.concat([data, data.assign(turn=2)], ignore_index=True)  # two rows per prompt: they must move together
    w = bs.weights(data, 300, np.random.default_rng(2))
    for style in ("a", "b"):
        m = (data["style"] == style).to_numpy()
        # per replicate and style: SEEDS organisms drawn, each with ITEMS prompt draws, two rows per prompt
        assert np.allclose(w[:, m].sum(axis=1), SEEDS * ITEMS * 2)
    by_prompt = pd.DataFrame(w.T).groupby([data["model"], data["item_id"]]).nunique()
    assert (by_prompt.to_numpy() == 1).all(), "rows of one prompt got different weights"


def test_a_style_that_never_breaks_falls_back_to_the_bootstrap_and_has_no_finite_odds_ratio() -> None:
    rng = np.random.default_rng(3)
    data = _simulate(rng, 0.0, 0.0)
    data.loc[data["style"] == "a", "y"] = True
    r = evaluate(data, _hypothesis(), 200, rng)
    assert r.p_method == "bootstrap" and r.estimate_a == 1.0 and r.effect > 0
    assert r.as_dict()["odds_ratio"] is None


def test_slope_is_the_change_of_rate_per_unit_and_its_sign_decides_the_verdict() -> None:
    rows = []
    for style, drop in (("a", 0.05), ("b", 0.15)):
        for seed in range(3):
            for item in range(20):
                for turn in range(1, 5):
                    rows.append({"style": style, "model": f"{style}-{seed}", "item_id": f"p{item}", "turn": turn, "y": item < 20 * (1 - drop * turn)})
    data = pd.DataFrame(rows)
    h = _hypothesis(test="slope", x="turn", per=2, minimum_effect=0.02)
    r = evaluate(data, h, 200, np.random.default_rng(4))
    assert r.estimate_a == pytest.approx(-0.10) and r.estimate_b == pytest.approx(-0.30)
    assert r.effect == pytest.approx(0.20) and r.effect_low <= 0.20 <= r.effect_high
    table = compare(data, CompareParams(bootstrap=100, seed=1, confidence=0.95, alpha=0.05, hypotheses=[h]))
    assert table.loc["S", "verdict"] == "supported"


def test_holm_corrects_across_the_family() -> None:
    rng = np.random.default_rng(5)
    data = _simulate(rng, 1.5, -1.5)
    hs = [_hypothesis(name="strong"), _hypothesis(name="reversed", contrast=("b", "a"))]
    table = compare(data, CompareParams(bootstrap=200, seed=2, confidence=0.95, alpha=0.05, hypotheses=hs))
    assert (table["p_holm"] >= table["p_value"]).all()
    assert table.loc["strong", "verdict"] == "supported" and table.loc["reversed", "verdict"] == "contradicted"


def test_a_bad_subset_or_missing_column_names_the_hypothesis() -> None:
    data = _simulate(np.random.default_rng(6), 0.0, 0.0)
    with pytest.raises(ValueError, match="H9.*not a valid query"):
        select(data, _hypothesis(name="H9", subset="turn >>> 1"))
    with pytest.raises(KeyError, match="H9.*'missing'"):
        select(data, _hypothesis(name="H9", outcome="missing"))
    with pytest.raises(ValueError, match="H9.*no rows of style 'a'"):
        select(data, _hypothesis(name="H9", subset="style == 'b'"))
