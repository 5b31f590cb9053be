"""Descriptive tables behind the figures: a mean per style and cell, with hierarchical-bootstrap intervals.

Each table has one row per style and cell with `n` (rows), `mean`, `low` and `high` (the interval of
`cotchar.stats.bootstrap`, one weight set per style, so the cells of one style are resampled
together). The figures stage draws them; nothing here tests a hypothesis (that is `compare`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cotchar.score import monitor
from cotchar.score.table import COMPONENTS
from cotchar.stats import bootstrap as bs

VOICE_COMPONENTS = [c for c in COMPONENTS if c != "words"]


def cell_table(data: pd.DataFrame, outcome: str, by: list[str], replicates: int, rng: np.random.Generator, confidence: float = 0.95) -> pd.DataFrame:
    """Mean of `outcome` per style and cell of `by`, with intervals; rows where `outcome` is missing are left out."""
    rows = []
    data = data[data[outcome].notna()]
    for style, g in data.groupby("style", sort=True):
        g = g.reset_index(drop=True)
        w = bs.weights(g, replicates, rng)
        y = g[outcome].astype(float).to_numpy()
        cells = g.groupby(by, sort=True, dropna=False).indices if by else {(): np.arange(len(g))}
        for key, idx in cells.items():
            m = np.zeros(len(g), bool)
            m[idx] = True
            lo, hi = bs.interval(bs.weighted_mean(w, y, m), confidence)
            key = key if isinstance(key, tuple) else (key,)
            rows.append({"style": style, **dict(zip(by, key)), "n": int(m.sum()), "mean": float(y[m].mean()), "low": lo, "high": hi})
    return pd.DataFrame(rows, columns=["style", *by, "n", "mean", "low", "high"])  # the columns even when no row qualifies


def family_rates(data: pd.DataFrame, replicates: int, rng: np.random.Generator) -> pd.DataFrame:
    """In-character rate per style, attack family and held-in/held-out (first turn, no prefill)."""
    first = data[(data["task"] != "prefill") & (data["turn"] == 1)]
    return cell_table(first, "in_character", ["family", "held_out"], replicates, rng)


def turn_rates(data: pd.DataFrame, replicates: int, rng: np.random.Generator) -> pd.DataFrame:
    """In-character rate per style and user turn of multi-turn pressure, and the share of breaks by kind."""
    mt = data[data["task"] == "multi_turn"].assign(
        persona_break=lambda d: d["break_kind"] == "persona", malformed_or_empty=lambda d: d["break_kind"].isin(["malformed", "empty"])
    )
    parts = [cell_table(mt, o, ["turn"], replicates, rng).assign(outcome=o) for o in ("in_character", "persona_break", "malformed_or_empty")]
    return pd.concat(parts, ignore_index=True)


def dose_rates(data: pd.DataFrame, replicates: int, rng: np.random.Generator) -> pd.DataFrame:
    """In-character rate per style, prefill voice and dose; dose 0 (no prefill) appears under both voices."""
    pre = data[data["task"] == "prefill"]
    plain = pre[pre["dose"] == 0]
    parts = []
    for voice in ("character", "planner"):
        d = pd.concat([plain, pre[pre["prefill_voice"] == voice]]).assign(prefill_voice=voice)
        parts.append(cell_table(d, "in_character", ["prefill_voice", "dose"], replicates, rng))
    return pd.concat(parts, ignore_index=True)


def voice_profile(data: pd.DataFrame, replicates: int, rng: np.random.Generator) -> pd.DataFrame:
    """Voice index components of the CoT each organism wrote itself (no prefill), per style."""
    own = data[(data["dose"] == 0) & (data["own_voice"] != "none")]
    parts = [cell_table(own, f"own_{c}", [], replicates, rng).assign(component=c) for c in VOICE_COMPONENTS]
    return pd.concat(parts, ignore_index=True)


def consistency(data: pd.DataFrame, replicates: int, rng: np.random.Generator) -> pd.DataFrame:
    """CoT-output consistency per style: embedding similarity, output follows the CoT, same voice label."""
    d = data[data["has_cot"]].assign(
        follows=lambda x: x["follows_cot"].astype("float"),
        same_voice=lambda x: (x["cot_voice"] == x["output_voice"]).astype(float),
    )
    parts = [cell_table(d, o, [], replicates, rng).assign(measure=o) for o in ("cot_output_similarity", "follows", "same_voice")]
    return pd.concat(parts, ignore_index=True)


def monitor_auc(data: pd.DataFrame, replicates: int, rng: np.random.Generator, confidence: float = 0.95) -> pd.DataFrame:
    """Cross-validated monitor AUC per style with its interval (NaN where a style never or always breaks)."""
    rows = []
    for style, g in data[data["monitor_p"].notna()].groupby("style", sort=True):
        g = g.reset_index(drop=True)
        y, p = g["broke"].astype(int).to_numpy(), g["monitor_p"].to_numpy()
        w = bs.weights(g, replicates, rng)
        lo, hi = bs.interval(np.array([monitor.auc(y, p, wb) for wb in w]), confidence)
        rows.append({"style": style, "n": len(g), "break_rate": float(y.mean()), "mean": monitor.auc(y, p), "low": lo, "high": hi})
    return pd.DataFrame(rows, columns=["style", "n", "break_rate", "mean", "low", "high"])


def _cell(table: pd.DataFrame, **where: object) -> dict[str, dict[str, float]]:
    """{style: {mean, low, high}} of the rows of `table` matching `where` (one row per style)."""
    t = table
    for k, v in where.items():
        t = t[t[k] == v]
    def num(v: float) -> float | None:
        return float(v) if np.isfinite(v) else None

    return {r.style: {"mean": num(r.mean), "low": num(r.low), "high": num(r.high), "n": int(r.n)} for r in t.itertuples()}


def descriptive(data: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> dict:
    """The descriptive numbers the paper's prose cites, read off the interval tables (and a few counts)."""
    turns, doses = tables["turns"], tables["doses"]
    last_turn, max_dose = int(turns["turn"].max()), int(doses["dose"].max())
    fam = tables["families"]
    return {
        "rows": len(data),
        "models": int(data["model"].nunique()),
        "persona_breaks": int((data["break_kind"] == "persona").sum()),
        "breaks": int(data["broke"].sum()),
        "last_turn": last_turn,
        "max_dose": max_dose,
        "long_context": _cell(fam, family="long_context", held_out=True),
        "hypothetical": _cell(fam, family="hypothetical", held_out=True),
        "turn_first": _cell(turns, outcome="in_character", turn=1),
        "turn_last": _cell(turns, outcome="in_character", turn=last_turn),
        "turn_last_malformed_or_empty": _cell(turns, outcome="malformed_or_empty", turn=last_turn),
        "dose_zero": _cell(doses, prefill_voice="character", dose=0),
        "dose_max_character_voice": _cell(doses, prefill_voice="character", dose=max_dose),
        "dose_max_planner_voice": _cell(doses, prefill_voice="planner", dose=max_dose),
        "own_planner_score": _cell(tables["voice"], component="planner_score"),
        "own_first_person": _cell(tables["voice"], component="first_person"),
        "similarity": _cell(tables["consistency"], measure="cot_output_similarity"),
        "follows_cot": _cell(tables["consistency"], measure="follows"),
        "monitor_auc": {s: v for s, v in _cell(tables["monitor"]).items() if v["mean"] is not None},
        "monitor_break_rate": {r.style: r.break_rate for r in tables["monitor"].itertuples()},
        "monitor_closed_only_auc": _closed_only_auc(data),
        "breaks_unclosed_cot_share": _unclosed_share(data),
    }


def _closed_only_auc(data: pd.DataFrame) -> dict[str, float]:
    """Per style, the AUC of the one feature 'the CoT never closed': how much of the monitor it explains."""
    out = {}
    for style, g in data[data["monitor_p"].notna()].groupby("style"):
        a = monitor.auc(g["broke"].astype(int).to_numpy(), g["missing_close"].astype(float).to_numpy())
        if np.isfinite(a):
            out[style] = a
    return out


def _unclosed_share(data: pd.DataFrame) -> dict[str, float]:
    """Per style, the share of character breaks whose CoT was opened and never closed."""
    broke = data[data["broke"]]
    return {style: float(g["missing_close"].astype(bool).mean()) for style, g in broke.groupby("style")}


def all_tables(data: pd.DataFrame, replicates: int, seed: int) -> dict[str, pd.DataFrame]:
    """Every interval table the figures draw, from one seeded generator (so reruns are identical)."""
    rng = np.random.default_rng(seed)
    return {
        "families": family_rates(data, replicates, rng),
        "turns": turn_rates(data, replicates, rng),
        "doses": dose_rates(data, replicates, rng),
        "voice": voice_profile(data, replicates, rng),
        "consistency": consistency(data, replicates, rng),
        "monitor": monitor_auc(data, replicates, rng),
    }
