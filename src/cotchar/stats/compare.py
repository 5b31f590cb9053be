"""The `compare` stage: the pre-registered hypotheses of `params.yaml`, tested as written.

Every hypothesis contrasts two CoT styles, a minus b, on a subset of the analysis table:

- `rate`: difference in the rate of a 0/1 outcome, with the marginal odds ratio;
- `slope`: difference in the per-`per`-units slope of the rate over `x` (turn, prefill dose);
- `auc`: difference in the cross-validated AUC of the CoT monitor (`cotchar.score.monitor`).

Effects and their intervals come from the hierarchical bootstrap (`cotchar.stats.bootstrap`).
p-values come from a logistic marginal model (statsmodels GEE, clustered by organism, with the
Mancl-DeRouen bias-reduced sandwich because there are few organisms per style) for `rate` and
`slope`, and from the bootstrap for `auc` or when the model cannot be fitted (the method is
recorded). Holm's correction runs across the whole pre-registered family. Achieved power is the
power of a two-sided test to detect the hypothesis's `minimum_effect`, given the bootstrap
standard error of the effect.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy.stats import norm
from statsmodels.stats.multitest import multipletests

from cotchar.params import CompareParams, Hypothesis
from cotchar.score import monitor
from cotchar.stats import bootstrap as bs


def analysis_table(transcripts: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Transcripts joined with their scores (same row order), plus the derived 0/1 outcomes hypotheses name."""
    if len(transcripts) != len(scores) or not (transcripts["sample_id"].to_numpy() == scores["sample_id"].to_numpy()).all():
        raise ValueError("scores table does not match the transcripts row for row; rerun `dvc repro score`")
    extra = [c for c in scores.columns if c not in transcripts.columns]
    t = pd.concat([transcripts.reset_index(drop=True), scores[extra].reset_index(drop=True)], axis=1)
    t["broke"] = ~t["in_character"].astype(bool)
    t["has_cot"] = t["cot_voice"] != "none"
    t["own_character_voice"] = t["own_voice"] == "character"
    return t


@dataclass
class Result:
    name: str
    claim: str
    statement: str
    test: str
    outcome: str
    style_a: str
    style_b: str
    direction: str
    x: str | None  # the slope's axis
    per: float  # slopes are per this many units of x
    unit: str  # what the effect measures, in words
    rows: int
    models_a: int
    models_b: int
    prompts: int
    estimate_a: float
    estimate_a_low: float
    estimate_a_high: float
    estimate_b: float
    estimate_b_low: float
    estimate_b_high: float
    effect: float
    effect_low: float
    effect_high: float
    odds_ratio: float | None
    odds_ratio_low: float | None
    odds_ratio_high: float | None
    se: float
    p_value: float
    p_method: str
    minimum_effect: float
    power: float
    p_holm: float = float("nan")
    reject: bool = False
    verdict: str = "untested"

    def decide(self) -> None:
        """`supported` (rejected, in the predicted direction), `contradicted` (rejected, the other way) or `null`."""
        if not self.reject:
            self.verdict = "null"
        elif self.direction == "two-sided" or (self.effect > 0) == (self.direction == "greater"):
            self.verdict = "supported"
        else:
            self.verdict = "contradicted"

    def as_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(self).items()}


def select(data: pd.DataFrame, h: Hypothesis) -> pd.DataFrame:
    """The rows of hypothesis `h`: its subset query, restricted to its two styles."""
    for col in [h.outcome, *( [h.x] if h.x else []), *h.adjust]:
        if col not in data.columns:
            raise KeyError(f"params.yaml compare.hypotheses {h.name}: no column {col!r} in the analysis table")
    try:
        rows = data.query(h.subset)
    except Exception as err:  # pandas raises many types for a bad expression
        raise ValueError(f"params.yaml compare.hypotheses {h.name}: subset {h.subset!r} is not a valid query: {err}") from None
    rows = rows[rows["style"].isin(h.contrast)]
    for style in h.contrast:
        if not (rows["style"] == style).any():
            raise ValueError(f"params.yaml compare.hypotheses {h.name}: no rows of style {style!r} in subset {h.subset!r}")
    return rows.reset_index(drop=True)


def _statistic(h: Hypothesis, rows: pd.DataFrame, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The hypothesis's statistic for styles a and b under weights `w` ((replicates, rows) or (rows,))."""
    y = rows[h.outcome].astype(float).to_numpy()
    out = []
    for style in h.contrast:
        m = (rows["style"] == style).to_numpy()
        if h.test == "rate":
            out.append(bs.weighted_mean(w, y, m))
        elif h.test == "slope":
            out.append(bs.slope(w, y, rows[h.x].astype(float).to_numpy(), m) * h.per)
        else:
            p = rows["monitor_p"].to_numpy()
            ws = np.atleast_2d(w)[:, m]
            out.append(np.array([monitor.auc(y[m], p[m], wb) for wb in ws]).reshape(np.shape(w)[:-1]))
    return out[0], out[1]


def _odds(rate: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return rate / (1 - rate)


def _gee(h: Hypothesis, rows: pd.DataFrame) -> tuple[float, float, float, float]:
    """Coefficient of style a (rate) or of style a x `x` (slope) in a logistic GEE: (coef, low, high, p)."""
    d = pd.DataFrame({"y": rows[h.outcome].astype(float), "is_a": (rows["style"] == h.contrast[0]).astype(float), "model": rows["model"]})
    rhs = "is_a"
    if h.test == "slope":
        d["x"] = rows[h.x].astype(float) / h.per
        rhs = "is_a * x"
    for i, col in enumerate(h.adjust):
        if rows[col].nunique() > 1:
            d[f"adj{i}"] = rows[col].astype(str).to_numpy()
            rhs += f" + C(adj{i})"
    term = "is_a:x" if h.test == "slope" else "is_a"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = smf.gee(f"y ~ {rhs}", groups="model", data=d, family=sm.families.Binomial(), cov_struct=sm.cov_struct.Independence()).fit(
            cov_type="bias_reduced"
        )
    coef, p = float(fit.params[term]), float(fit.pvalues[term])
    low, high = (float(v) for v in fit.conf_int().loc[term])
    return coef, low, high, p


def evaluate(data: pd.DataFrame, h: Hypothesis, replicates: int, rng: np.random.Generator, confidence: float = 0.95) -> Result:
    """Estimate, interval, p-value and achieved power of one hypothesis on the analysis table."""
    rows = select(data, h)
    if h.test == "auc":
        rows = rows[rows["monitor_p"].notna()].reset_index(drop=True)
    w = bs.weights(rows, replicates, rng)
    a, b = _statistic(h, rows, np.ones(len(rows)))
    ba, bb = _statistic(h, rows, w)
    effect, boot = float(a - b), ba - bb
    se = float(np.nanstd(boot, ddof=1)) if np.isfinite(boot).sum() > 1 else float("nan")
    z = norm.ppf(1 - (1 - confidence) / 2)
    power = float(norm.cdf(h.minimum_effect / se - z) + norm.cdf(-h.minimum_effect / se - z)) if se > 0 else float("nan")
    odds = (None, None, None)
    p, method = float("nan"), "bootstrap"
    # A style whose outcome never varies separates the data: the logistic model has no finite
    # estimate (and GEE reports nonsense p-values), so the bootstrap decides instead.
    separated = rows.groupby("style")[h.outcome].nunique().min() < 2
    if h.test in ("rate", "slope") and not separated:
        try:
            coef, low, high, p = _gee(h, rows)
            method = "gee"
            if h.test == "slope":
                odds = (float(np.exp(coef)), float(np.exp(low)), float(np.exp(high)))
        except Exception:  # separation or a singular design: fall back to the bootstrap p-value
            p = float("nan")
        if not np.isfinite(p):
            method = "bootstrap"
    if h.test == "rate":
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = _odds(ba) / _odds(bb)
            point = float(_odds(np.asarray(a)) / _odds(np.asarray(b)))
            low, high = bs.interval(np.log(ratio), confidence)
        odds = (point, float(np.exp(low)), float(np.exp(high)))
    if method == "bootstrap":
        p = bs.two_sided_p(boot)
    models = rows.groupby("style")["model"].nunique()
    unit = {
        "rate": f"difference in {h.outcome} rate",
        "slope": f"difference in the change of {h.outcome} rate per {h.per:g} {h.x}",
        "auc": f"difference in monitor AUC for {h.outcome}",
    }[h.test]
    return Result(
        h.name, h.claim, h.statement, h.test, h.outcome, *h.contrast, h.direction, h.x, h.per, unit, len(rows),
        int(models.get(h.contrast[0], 0)), int(models.get(h.contrast[1], 0)), int(rows["item_id"].nunique()),
        float(a), *bs.interval(ba, confidence), float(b), *bs.interval(bb, confidence),
        effect, *bs.interval(boot, confidence), *odds, se, p, method, h.minimum_effect, power,
    )  # fmt: skip


def compare(data: pd.DataFrame, params: CompareParams) -> pd.DataFrame:
    """Test every pre-registered hypothesis, then correct the family by Holm; one row per hypothesis."""
    rng = np.random.default_rng(params.seed)
    results = [evaluate(data, h, params.bootstrap, rng, params.confidence) for h in params.hypotheses]
    ps = np.array([r.p_value for r in results])
    ok = np.isfinite(ps)
    if ok.any():
        reject, holm, _, _ = multipletests(ps[ok], alpha=params.alpha, method="holm")
        for r, rej, ph in zip([r for r, k in zip(results, ok) if k], reject, holm):
            r.p_holm, r.reject = float(ph), bool(rej)
    for r in results:
        r.decide()
    return pd.DataFrame([r.as_dict() for r in results]).set_index("name")


def as_json(table: pd.DataFrame) -> dict[str, dict]:
    """The results table as {name: {field: value}}, with undefined values (NaN) as None."""
    return {name: {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()} for name, row in table.to_dict(orient="index").items()}
