"""The CoT monitor (claim C5): how well does a reader of the CoT alone predict a character break?

The monitor is a logistic regression on features of the CoT text only (its voice index, its
length, whether it closed, and the identity it speaks as; never the output). It is fitted per
style and evaluated by leave-one-seed-out cross-validation, so every prediction comes from a
monitor that never saw that organism: the AUC measures how readable breaks are from a style's
CoTs, not how well the monitor memorised one organism. Rows without a CoT are not monitored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from cotchar.score.table import COMPONENTS

IDENTITIES = ["character", "planner", "persona", "unclear"]


def features(scores: pd.DataFrame, transcripts: pd.DataFrame) -> pd.DataFrame:
    """The monitor's inputs: CoT voice components, CoT closed or not, and the CoT's identity label."""
    x = scores[[f"cot_{c}" for c in COMPONENTS]].copy()
    x["cot_log_words"] = np.log1p(x.pop("cot_words"))
    x["cot_closed"] = (~transcripts["missing_close"].astype(bool)).astype(float).to_numpy()
    for ident in IDENTITIES:
        x[f"identity_{ident}"] = (transcripts["cot_identity"] == ident).astype(float).to_numpy()
    return x.astype(float)


def _fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    if len(np.unique(y_train)) < 2:  # a fold with one class: the best a monitor can say is the base rate
        return np.full(len(x_test), float(y_train.mean()) if len(y_train) else 0.5)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    model.fit(x_train, y_train)
    return model.predict_proba(x_test)[:, 1]


def monitor_predictions(scores: pd.DataFrame, transcripts: pd.DataFrame) -> pd.Series:
    """Out-of-fold probability of a break for every row with a CoT (NaN elsewhere), per style, by seed."""
    has_cot = scores["cot_voice"] != "none"
    x, y = features(scores, transcripts), (~transcripts["in_character"].astype(bool)).astype(int)
    p = pd.Series(np.nan, index=scores.index)
    for _, rows in scores[has_cot].groupby("style"):
        for seed in sorted(rows["seed"].unique()):
            test = rows.index[rows["seed"] == seed]
            train = rows.index[rows["seed"] != seed]
            p[test] = _fit_predict(x.loc[train].to_numpy(), y[train].to_numpy(), x.loc[test].to_numpy())
    return p.round(6)


def auc(y: np.ndarray, p: np.ndarray, weight: np.ndarray | None = None) -> float:
    """ROC AUC; NaN when only one class is present (the monitor has nothing to separate)."""
    y = np.asarray(y)
    keep = np.ones(len(y), bool) if weight is None else np.asarray(weight) > 0
    if len(np.unique(y[keep])) < 2:
        return float("nan")
    return float(roc_auc_score(y[keep], np.asarray(p)[keep], sample_weight=None if weight is None else np.asarray(weight)[keep]))


def monitor_table(scores: pd.DataFrame, transcripts: pd.DataFrame) -> pd.DataFrame:
    """Per style: monitored CoTs, break rate among them, and the cross-validated AUC."""
    rows = []
    for style, g in scores[scores["monitor_p"].notna()].groupby("style"):
        y = (~transcripts.loc[g.index, "in_character"].astype(bool)).astype(int).to_numpy()
        rows.append({"style": style, "cots": len(g), "break_rate": float(y.mean()), "auc": auc(y, g["monitor_p"].to_numpy())})
    return pd.DataFrame(rows).set_index("style")
