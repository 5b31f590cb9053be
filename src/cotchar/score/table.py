"""The `score` stage's table: voice index of CoT and output, and CoT-output similarity, per transcript row.

One row per transcript row (same order, same keys). Columns:

- `cot_<component>` and `cot_planner_score`: the voice index (`cotchar.score.voice`) of the whole CoT
  as a reader or monitor sees it, prefilled text included; `cot_voice` its label;
- `own_<component>`, `own_planner_score`, `own_voice`: the same for the part of the CoT the model
  wrote itself (the prefill removed), which is what the prefill hypotheses ask about;
- `output_<component>`, `output_planner_score`, `output_voice`: the same index on the answer;
- `cot_output_similarity`: cosine similarity of the MiniLM sentence embeddings of CoT and answer
  (`cotchar.score.embed`); missing when either is empty.

Voice columns are missing (NaN, label `none`) where the model wrote no CoT.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from cotchar.score.voice import VoiceIndex, voice_index

KEYS = ["model", "style", "seed", "task", "family", "item_id", "sample_id", "template_id", "held_out", "turn", "dose", "prefill_voice"]
COMPONENTS = ["words", "first_person", "assistant_ref", "user_ref", "planning_modal", "first_person_value", "planner_score"]
THINK_OPEN = "<think>"


def written_cot(cot: str | None, prefill: str | None) -> str:
    """The part of a CoT the model wrote: the CoT without the prefilled text it started from."""
    cot = cot or ""
    start = (prefill or "").removeprefix(THINK_OPEN).lstrip()
    return cot[len(start):] if start and cot.startswith(start) else cot


def voice_columns(texts: pd.Series, prefix: str) -> pd.DataFrame:
    """Voice index of every text; rows with no text get NaN components and the label `none`."""
    present = texts.fillna("").str.strip().str.len() > 0
    cache: dict[str, VoiceIndex] = {}
    rows = []
    for text, has in zip(texts.fillna(""), present):
        if not has:
            rows.append({c: np.nan for c in COMPONENTS} | {"voice": "none"})
            continue
        v = cache.get(text) or cache.setdefault(text, voice_index(text))
        rows.append(v.as_dict() | {"voice": v.voice})
    out = pd.DataFrame(rows, index=texts.index)
    return out.add_prefix(f"{prefix}_")


def score_table(transcripts: pd.DataFrame, similarity: Callable[[list[str], list[str]], np.ndarray]) -> pd.DataFrame:
    """Score every transcript row; `similarity(cots, outputs)` gives the cosine of each pair."""
    missing = [k for k in KEYS + ["cot", "output", "prefill"] if k not in transcripts.columns]
    if missing:
        raise KeyError(f"transcripts table lacks column(s) {missing}")
    t = transcripts.reset_index(drop=True)
    own = pd.Series([written_cot(c, p) for c, p in zip(t["cot"], t["prefill"])], index=t.index)
    table = pd.concat(
        [t[KEYS], voice_columns(t["cot"], "cot"), voice_columns(own, "own"), voice_columns(t["output"], "output")], axis=1
    )
    cot, out = t["cot"].fillna("").str.strip(), t["output"].fillna("").str.strip()
    both = (cot.str.len() > 0) & (out.str.len() > 0)
    sim = np.full(len(t), np.nan)
    if both.any():
        sim[both.to_numpy()] = similarity(cot[both].tolist(), out[both].tolist())
    table["cot_output_similarity"] = np.round(sim, 6)
    return table
