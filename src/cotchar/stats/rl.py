"""Measures of the RL arm (issue 8): the battery before and after RL, scored and compared with the main code.

- `collect_rl` runs the collect stage's battery (`cotchar.stress.collect.run_battery`) on every
  arm's final model (`phase` 1) and on the plain baseline's starting model (`phase` 0), with the
  first `rl.collect` items of every family. The organisms' "before" rows are the same samples of
  the main collection (greedy and batch-independent decoding, so rerunning them would give the
  same bytes), taken from `data/transcripts/transcripts.parquet`.
- `rl_analysis` scores both phases with the `score` stage's code (each phase on its own, so the
  monitor is fitted within a phase) and joins them into one analysis table with `phase`.
- The pre-registered `rl.compare.hypotheses` then run through `cotchar.stats.compare` unchanged:
  the arm plays the role of the style, and one organism's rows before and after RL are one
  cluster, so the hierarchical bootstrap and the GEE treat the two phases as paired.
- `divergence` measures claim C4: how well a classifier on the voice index tells an arm's own
  CoTs from the plain-RL baseline's CoTs on the same battery (leave-one-seed-out AUC), and the
  Wasserstein distance between their planner-score distributions, before and after RL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import wasserstein_distance

from cotchar.organisms.rl import FINAL_DIR, PLAIN, START_DIR
from cotchar.organisms.run import model_key
from cotchar.params import CollectParams, Params
from cotchar.score import monitor
from cotchar.score.stage import score_transcripts
from cotchar.score.table import COMPONENTS
from cotchar.stats import bootstrap as bs
from cotchar.stats.compare import analysis_table
from cotchar.stress.collect import TRANSCRIPTS, run_battery, transcripts_table, write_transcripts

RL_TRANSCRIPTS = Path("data/transcripts/rl.parquet")
RL_LOGS = Path("data/rl/logs")


def rl_settings(params: Params) -> CollectParams:
    """The collect settings with the RL arm's (smaller) item counts."""
    return params.collect.model_copy(update=params.rl.collect.model_dump())


def collect_rl(params: Params, root: Path | str = ".", display: str = "none") -> tuple[pd.DataFrame, dict[str, Any]]:
    """Battery after RL for every arm, before RL for the plain baseline; organisms' before rows from the main table."""
    root = Path(root)
    settings, seeds = rl_settings(params), params.train.seeds
    after = run_battery(params, root, display, models=[root / FINAL_DIR / model_key(a, s) for a in params.rl.arms for s in seeds], logs=RL_LOGS / "after", settings=settings)
    plain = run_battery(params, root, display, models=[root / START_DIR / model_key(PLAIN, s) for s in seeds], logs=RL_LOGS / "before", settings=settings)
    after_t = transcripts_table(after.logs).assign(phase=1)
    plain_t = transcripts_table(plain.logs).assign(phase=0)
    main = pd.read_parquet(root / TRANSCRIPTS)
    samples = after_t[["task", "sample_id"]].drop_duplicates()
    organisms = [model_key(a, s) for a in params.rl.arms if a != PLAIN for s in seeds]
    before_t = main[main["model"].isin(organisms)].merge(samples, on=["task", "sample_id"]).assign(phase=0)
    missing = set(organisms) - set(before_t["model"])
    if missing:
        raise ValueError(f"{root / TRANSCRIPTS}: no transcripts of {sorted(missing)}; run `dvc repro collect` with collect.models covering the RL arms")
    df = pd.concat([before_t, plain_t, after_t], ignore_index=True)
    df = df.sort_values(["phase", "model", "task", "sample_id", "turn"], ignore_index=True)
    write_transcripts(df, root / RL_TRANSCRIPTS)
    summary = {
        "rows": int(len(df)),
        "samples_per_model": int(after_t[after_t["turn"] == 1].groupby("model").size().iloc[0]),
        "models_after": int(after_t["model"].nunique()),
        "collection_wall_seconds": round(after.wall_seconds + plain.wall_seconds, 1),
    }
    return df, summary


def rl_analysis(transcripts: pd.DataFrame, threads: int = 2) -> pd.DataFrame:
    """Scores of each phase (monitor fitted within the phase), joined into one analysis table."""
    parts = []
    for _, t in transcripts.groupby("phase", sort=True):
        t = t.reset_index(drop=True)
        parts.append(analysis_table(t, score_transcripts(t, threads)))
    return pd.concat(parts, ignore_index=True)


def rate_table(data: pd.DataFrame, subset: str, outcome: str, replicates: int, seed: int, confidence: float) -> pd.DataFrame:
    """Rate of `outcome` per arm and phase on a subset, with hierarchical-bootstrap intervals."""
    rows = []
    rng = np.random.default_rng(seed)
    d = data.query(subset).reset_index(drop=True)
    for (arm, phase), g in d.groupby(["style", "phase"], sort=True):
        g = g.reset_index(drop=True)
        y = g[outcome].astype(float).to_numpy()
        w = bs.weights(g, replicates, rng)
        rows.append({"style": arm, "phase": int(phase), "mean": float(y.mean()), **dict(zip(("low", "high"), bs.interval(bs.weighted_mean(w, y), confidence)))})
    return pd.DataFrame(rows)


def monitor_aucs(data: pd.DataFrame) -> pd.DataFrame:
    """Monitor AUC per arm and phase (fitted within each phase, leave-one-seed-out)."""
    rows = []
    for (arm, phase), g in data[data["monitor_p"].notna()].groupby(["style", "phase"], sort=True):
        rows.append({"style": arm, "phase": int(phase), "cots": len(g), "auc": monitor.auc(g["broke"].to_numpy(), g["monitor_p"].to_numpy())})
    return pd.DataFrame(rows, columns=["style", "phase", "cots", "auc"])


OWN = [f"own_{c}" for c in COMPONENTS if c != "words"] + ["own_words"]


def _loso(x: np.ndarray, y: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Out-of-fold probability that a row is the arm's (not the baseline's), leaving one seed out (the monitor's classifier)."""
    p = np.full(len(y), np.nan)
    for s in np.unique(seeds):
        test, train = seeds == s, seeds != s
        p[test] = monitor._fit_predict(x[train], y[train], x[test])
    return p


def divergence(data: pd.DataFrame, replicates: int, seed: int, confidence: float) -> pd.DataFrame:
    """Per arm and phase: how far its own CoTs are from the plain baseline's (claim C4), with intervals.

    Rows are the CoT text each model wrote itself (prefill removed) across the battery. `auc`: a
    logistic regression on the voice components and log length, leave-one-seed-out, telling the
    arm's CoTs from the baseline's (0.5: indistinguishable). `wasserstein`: distance between the
    two planner-score distributions. Intervals: the hierarchical bootstrap (seeds within arm and
    baseline, then prompts), applied to the out-of-fold predictions.
    """
    rng = np.random.default_rng(seed)
    own = data[data["own_words"].fillna(0) > 0].copy()
    own["own_words"] = np.log1p(own["own_words"])
    rows = []
    for phase, ph in own.groupby("phase", sort=True):
        base = ph[ph["style"] == PLAIN]
        for arm in sorted(set(ph["style"]) - {PLAIN}):
            d = pd.concat([ph[ph["style"] == arm], base], ignore_index=True)
            if d["style"].nunique() < 2:
                continue
            y = (d["style"] == arm).to_numpy().astype(int)
            p = _loso(d[OWN].fillna(0).to_numpy(float), y, d["seed"].to_numpy())
            w = bs.weights(d, replicates, rng)
            s = d["own_planner_score"].to_numpy(float)
            auc_b = np.array([monitor.auc(y, p, wb) for wb in w])
            wd_b = np.array([wasserstein_distance(s[y == 1], s[y == 0], wb[y == 1] + 1e-12, wb[y == 0] + 1e-12) for wb in w])
            rows.append(
                {
                    "style": arm, "phase": int(phase), "cots": int(y.sum()), "baseline_cots": int((1 - y).sum()),
                    "auc": monitor.auc(y, p), **dict(zip(("auc_low", "auc_high"), bs.interval(auc_b, confidence))),
                    "wasserstein": float(wasserstein_distance(s[y == 1], s[y == 0])),
                    **dict(zip(("wasserstein_low", "wasserstein_high"), bs.interval(wd_b, confidence))),
                }
            )  # fmt: skip
    return pd.DataFrame(rows)


def _finite(value: Any) -> Any:
    """NaN (an undefined statistic: no CoT, one class) as None, recursively; numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _phases(table: pd.DataFrame, value: str, low: str = "low", high: str = "high") -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for r in table.to_dict(orient="records"):
        out.setdefault(r["style"], {})["before" if r["phase"] == 0 else "after"] = {"estimate": r[value], "low": r[low], "high": r[high]}
    return out


def arm_summary(
    reports: pd.DataFrame, tables: dict[str, pd.DataFrame], voice: pd.Series, monitors: pd.DataFrame, div: pd.DataFrame
) -> dict[str, dict[str, Any]]:
    """`rl.json`'s per-arm block: reward, KL and voice over steps (seed means), then before/after measures with intervals."""
    arms: dict[str, dict[str, Any]] = {}
    for arm, g in reports.groupby("arm"):
        arms[arm] = {
            "reward": {"before": g["reward_start"].mean(), "after": g["reward_end"].mean()},
            "kl_end": g["kl_end"].mean(),
            "flat_group_share": g["flat_group_share"].mean(),
            "voice_over_steps": {"before": g["planner_score_start"].mean(), "after": g["planner_score_end"].mean()},
            "own_planner_score": {("before" if ph == 0 else "after"): v for (a, ph), v in voice.items() if a == arm},
            "monitor_auc": {("before" if r["phase"] == 0 else "after"): r["auc"] for r in monitors.to_dict(orient="records") if r["style"] == arm},
        }
    for name, table in tables.items():
        for arm, v in _phases(table, "mean").items():
            arms[arm][name] = v
    for name, cols in {"divergence_auc": ("auc", "auc_low", "auc_high"), "divergence_wasserstein": ("wasserstein", "wasserstein_low", "wasserstein_high")}.items():
        if len(div):
            for arm, v in _phases(div, *cols).items():
                arms[arm][name] = v
    return _finite(arms)
