"""The field study's numbers (claim C1): CoT voice and CoT-answer consistency per real model family.

Each response of an imported transcript (`cotchar.external`) is scored with the organisms' voice
index, on its CoT and on its answer, plus the MiniLM similarity of the two. For a model without
a CoT the visible answer carries its reasoning; that text is scored as the answer and reported as
in-answer reasoning, never as a CoT. Intervals come from the hierarchical bootstrap
(`cotchar.stats.bootstrap`: questions within family, then responses within question); family
differences from a Gaussian GEE clustered by question, because every family answered the same
questions and a question's responses are not independent.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from itertools import combinations

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf

from cotchar.score.table import COMPONENTS, voice_columns
from cotchar.stats import bootstrap as bs

TEXTS = {"cot": "CoT", "output": "answer"}


def score_field(table: pd.DataFrame, similarity: Callable[[list[str], list[str]], np.ndarray]) -> pd.DataFrame:
    """The imported table with the voice index of CoT and answer and their embedding similarity."""
    t = table.reset_index(drop=True)
    scored = pd.concat([t, voice_columns(t["cot"], "cot"), voice_columns(t["output"], "output")], axis=1)
    cot, out = t["cot"].fillna("").str.strip(), t["output"].fillna("").str.strip()
    both = ((cot.str.len() > 0) & (out.str.len() > 0)).to_numpy()
    sim = np.full(len(t), np.nan)
    if both.any():
        sim[both] = similarity(cot[both].tolist(), out[both].tolist())
    scored["cot_output_similarity"] = np.round(sim, 6)
    return scored


def _weights(g: pd.DataFrame, replicates: int, rng: np.random.Generator) -> np.ndarray:
    return bs.weights(g, replicates, rng, unit="question_id", stratum="family", prompt="response_id")


def profile(scored: pd.DataFrame, replicates: int, seed: int, confidence: float = 0.95) -> pd.DataFrame:
    """Mean and interval of every voice component, CoT length and similarity, per family and text (CoT or answer)."""
    rng = np.random.default_rng(seed)
    rows = []
    for family, g in scored.groupby("family", sort=True):
        g = g.reset_index(drop=True)
        w = _weights(g, replicates, rng)
        measures = [(text, c, f"{text}_{c}") for text in TEXTS for c in COMPONENTS] + [("cot", "similarity", "cot_output_similarity")]
        for text, name, col in measures:
            y = g[col].astype(float).to_numpy()
            m = np.isfinite(y)
            if not m.any():
                continue
            lo, hi = bs.interval(bs.weighted_mean(w, np.where(m, y, 0.0), m), confidence)
            rows.append({"family": family, "text": text, "component": name, "n": int(m.sum()), "mean": float(y[m].mean()), "low": lo, "high": hi})
    return pd.DataFrame(rows, columns=["family", "text", "component", "n", "mean", "low", "high"])


def primary_text(scored: pd.DataFrame) -> pd.DataFrame:
    """One text per response for comparing families: the CoT of a reasoning model, the answer of the others."""
    parts = []
    for reasoning, g in scored.groupby("reasoning_model"):
        text = "cot" if reasoning else "output"
        cols = {f"{text}_{c}": c for c in COMPONENTS}
        parts.append(g[["family", "question_id", "response_id", *cols]].rename(columns=cols).assign(text=TEXTS[text]))
    return pd.concat(parts, ignore_index=True)


def differences(scored: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Every pair of families, every voice component of their primary text: difference, GEE interval and p-value."""
    data = primary_text(scored)
    rows = []
    for a, b in combinations(sorted(data["family"].unique()), 2):
        pair = data[data["family"].isin([a, b])]
        for c in COMPONENTS:
            d = pd.DataFrame({"y": pair[c].astype(float), "is_a": (pair["family"] == a).astype(float), "q": pair["question_id"]}).dropna()
            row = {"family_a": a, "family_b": b, "component": c, "mean_a": d.loc[d.is_a == 1, "y"].mean(), "mean_b": d.loc[d.is_a == 0, "y"].mean()}
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fit = smf.gee("y ~ is_a", groups="q", data=d, family=sm.families.Gaussian()).fit()
                lo, hi = fit.conf_int(alpha=1 - confidence).loc["is_a"]
                row |= {"difference": float(fit.params["is_a"]), "low": float(lo), "high": float(hi), "p_value": float(fit.pvalues["is_a"])}
            except Exception:  # a constant component (e.g. never used by either family) has no model
                row |= {"difference": row["mean_a"] - row["mean_b"], "low": np.nan, "high": np.nan, "p_value": np.nan}
            rows.append(row)
    return pd.DataFrame(rows)


def summary(scored: pd.DataFrame, prof: pd.DataFrame, diffs: pd.DataFrame, sources: list[dict]) -> dict:
    """`data/results/external.json`: per family counts, closed-CoT share, CoT words and every component with its interval."""

    def cell(family: str, text: str, component: str) -> dict | None:
        r = prof[(prof["family"] == family) & (prof["text"] == text) & (prof["component"] == component)]
        if r.empty:
            return None
        r = r.iloc[0]
        return {k: (float(r[k]) if np.isfinite(r[k]) else None) for k in ("mean", "low", "high")}

    families = {}
    for family, g in scored.groupby("family", sort=True):
        reasoning = bool(g["reasoning_model"].iloc[0])
        text = "cot" if reasoning else "output"
        families[family] = {
            "responses": len(g),
            "questions": int(g["question_id"].nunique()),
            "reasoning_model": reasoning,
            "scored_text": "CoT" if reasoning else "in-answer reasoning (no CoT)",
            "closed_cot_share": float(g["cot_closed"].fillna(False).astype(bool).mean()) if reasoning else None,
            "cot_words": cell(family, "cot", "words") if reasoning else None,
            "cot_words_median": float(g["cot_words"].median()) if reasoning else None,
            "answer_words": cell(family, "output", "words"),
            "components": {c: cell(family, text, c) for c in COMPONENTS if c != "words"},
            "answer_components": {c: cell(family, "output", c) for c in COMPONENTS if c != "words"},
            "cot_output_similarity": cell(family, "cot", "similarity") if reasoning else None,
        }
    clean = diffs.astype(object).where(diffs.notna(), None)
    return {
        "sources": [{k: s[k] for k in ("name", "repository", "license", "citation")} for s in sources],
        "families": families,
        "differences": clean.to_dict(orient="records"),
    }


LABELS = ("character", "planner")


def _mean(values: np.ndarray) -> float | None:
    v = values.astype(float)
    return float(np.nanmean(v)) if np.isfinite(v).any() else None


def voice_validation(scored: pd.DataFrame, labels: pd.DataFrame, source: str = "voice labels") -> dict:
    """How well the voice index separates real texts whose voice was labelled independently.

    `labels` has `response_id`, `family`, `field` (`cot` or `output`: the text that was read) and
    `label` (`character`, `planner` or `neither`). Returns the label counts, the AUC of
    `planner_score` for planner against character labels, and how often the index's own label
    (`cotchar.score.voice`) agrees with a character or planner label.
    """
    from sklearn.metrics import roc_auc_score

    need = {"response_id", "family", "field", "label"}
    if missing := need - set(labels.columns):
        raise ValueError(f"{source}: missing columns {sorted(missing)}")
    if bad := sorted(set(labels["field"]) - set(TEXTS)):
        raise ValueError(f"{source}: field must be one of {sorted(TEXTS)}, got {bad}")
    if bad := sorted(set(labels["label"]) - {*LABELS, "neither"}):
        raise ValueError(f"{source}: label must be character, planner or neither, got {bad}")
    joined = labels.merge(scored, on=["response_id", "family"], how="left", indicator=True)
    if (joined["_merge"] != "both").any():
        first = joined[joined["_merge"] != "both"].iloc[0]
        raise ValueError(f"{source}: response {first['response_id']} of {first['family']} is not in the imported transcripts")
    score = np.where(joined["field"] == "cot", joined["cot_planner_score"], joined["output_planner_score"])
    voice = np.where(joined["field"] == "cot", joined["cot_voice"], joined["output_voice"])
    voiced = joined["label"].isin(LABELS).to_numpy()
    y = (joined["label"] == "planner").to_numpy()[voiced].astype(int)
    s = score[voiced].astype(float)
    ok = np.isfinite(s)
    counts = {f: {k: int(v) for k, v in g["label"].value_counts().sort_index().items()} for f, g in joined.groupby("family", sort=True)}
    return {
        "texts": len(joined),
        "labels": {k: int(v) for k, v in joined["label"].value_counts().sort_index().items()},
        "labels_per_family": counts,
        "auc": float(roc_auc_score(y[ok], s[ok])) if len(set(y[ok])) == 2 else None,
        "index_agrees": float((voice[voiced] == joined["label"].to_numpy()[voiced]).mean()) if voiced.any() else None,
        "planner_score_by_label": {k: _mean(score[(joined["label"] == k).to_numpy()]) for k in sorted(set(joined["label"]))},
    }
