"""The `score` stage: every transcript scored (voice, similarity, monitor), and the stage's summary.

`score_transcripts` returns the scores table (`cotchar.score.table` plus the monitor's
out-of-fold `monitor_p`), row for row with the transcripts; `summary` condenses it for
`data/results/score.json`, including how well the voice index separates the organisms' voices.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from cotchar.score import monitor
from cotchar.score.embed import MiniLM
from cotchar.score.table import COMPONENTS, score_table

TRANSCRIPTS = "data/transcripts/transcripts.parquet"
SCORES = "data/scores/scores.parquet"


def score_transcripts(transcripts: pd.DataFrame, threads: int = 2) -> pd.DataFrame:
    """Voice index of CoT, own CoT and output, MiniLM CoT-output similarity, and the monitor's prediction."""
    scores = score_table(transcripts, MiniLM(threads=threads, progress=False).similarity)
    scores["monitor_p"] = monitor.monitor_predictions(scores, transcripts.reset_index(drop=True))
    return scores


def voice_validation(scores: pd.DataFrame) -> dict[str, float]:
    """How well `planner_score` separates the CoTs character- and planner-style organisms wrote themselves.

    Only unprefilled CoTs count (dose 0), so every word scored is the organism's own.
    """
    own = scores[(scores["dose"] == 0) & (scores["own_voice"] != "none") & scores["style"].isin(["character", "planner"])]
    y = (own["style"] == "planner").astype(int).to_numpy()
    result = {"cots_character": int((y == 0).sum()), "cots_planner": int((y == 1).sum())}
    if len(set(y)) == 2:
        result["auc"] = float(roc_auc_score(y, own["own_planner_score"]))
    for style in ("character", "planner"):
        result[f"{style}_labelled_{style}"] = float((own.loc[own["style"] == style, "own_voice"] == style).mean()) if (own["style"] == style).any() else 0.0
    return result


def summary(scores: pd.DataFrame, transcripts: pd.DataFrame) -> dict:
    """Per style: CoTs scored, mean voice components of the own CoT, CoT-output similarity, monitor AUC."""
    t = transcripts.reset_index(drop=True)
    mon = monitor.monitor_table(scores, t)
    styles = {}
    for style, g in scores.groupby("style"):
        own = g[(g["dose"] == 0) & (g["own_voice"] != "none")]
        styles[style] = {
            "rows": len(g),
            "own_cots": len(own),
            "own_voice": {c: (float(own[f"own_{c}"].mean()) if len(own) else None) for c in COMPONENTS},
            "cot_output_similarity": float(g["cot_output_similarity"].mean()) if g["cot_output_similarity"].notna().any() else None,
            "monitor_auc": (None if style not in mon.index or not np.isfinite(mon.loc[style, "auc"]) else float(mon.loc[style, "auc"])),
            "monitored_cots": int(mon.loc[style, "cots"]) if style in mon.index else 0,
        }
    return {"styles": styles, "voice_validation": voice_validation(scores)}
