"""The `train_report` stage: every organism's report and loss curve, side by side.

Reads `data/results/train/<style>-s<seed>.json` and `data/plots/train/<style>-s<seed>.csv` for the
params' matrix, and builds `data/results/train.json`, the paper's organism table and the
competence gate. Kept apart from `run` so that changing a summary does not retrain an organism.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from cotchar.organisms.run import PLOTS_DIR, REPORTS_DIR, model_key
from cotchar.params import Params


def collect_reports(params: Params, root: Path | str = ".") -> pd.DataFrame:
    """One row per organism of the params' matrix; a missing report is an error naming it."""
    rows = []
    for style in params.world.styles:
        for seed in params.train.seeds:
            path = Path(root) / REPORTS_DIR / f"{model_key(style, seed)}.json"
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no report for {model_key(style, seed)}; run `dvc repro train`")
            rows.append(json.loads(path.read_text()))
    return pd.DataFrame(rows)


def collect_curves(params: Params, root: Path | str = ".") -> pd.DataFrame:
    frames = []
    for style in params.world.styles:
        for seed in params.train.seeds:
            df = pd.read_csv(Path(root) / PLOTS_DIR / f"{model_key(style, seed)}.csv")
            frames.append(df.assign(style=style, seed=seed))
    return pd.concat(frames, ignore_index=True)


def style_summary(reports: pd.DataFrame) -> pd.DataFrame:
    """The paper's organism table: per style, model size, training and the competence checks."""
    g = reports.groupby("style", sort=False)
    return pd.DataFrame(
        {
            "models": g.size(),
            "parameters": g["parameters"].first(),
            "epochs": g["epochs"].first(),
            "steps_mean": g["steps"].mean().round(0).astype(int),
            "tokens_seen_mean": g["tokens_seen"].mean().round(0).astype(int),
            "final_loss_mean": g["final_loss"].mean().round(4),
            "task_accuracy_min": g["task_accuracy"].min().round(4),
            "task_accuracy_mean": g["task_accuracy"].mean().round(4),
            "format_validity_min": g["format_validity"].min().round(4),
            "intended_voice_share_min": g["intended_voice_share"].min().round(4),
        }
    ).reset_index()


def train_summary(params: Params, reports: pd.DataFrame) -> dict[str, Any]:
    voiced = reports[reports["style"].isin(["character", "planner"])]
    per_model = reports.drop(columns=["task_accuracy_by_family"]).set_index("model")
    per_model = per_model.astype(object).where(per_model.notna(), None)  # no voice share for CoT-less styles: null, not NaN
    return {
        "size": params.size,
        "models": per_model.to_dict(orient="index"),
        "task_accuracy_min": float(reports["task_accuracy"].min()),
        "format_validity_min": float(reports["format_validity"].min()),
        "intended_voice_share_min": float(voiced["intended_voice_share"].min()) if len(voiced) else None,
        "model": params.train_size.model.model_dump(),
        "epochs": params.train_size.epochs,
        "rows": params.train_size.rows,
        "pack_length": params.train_size.pack_length,
        "compile": params.train.compile,
        "seeds": list(params.train.seeds),
        "competence_gate": competence_gate(reports, params),
    }


def competence_gate(reports: pd.DataFrame, params: Params) -> dict[str, Any]:
    """Which organisms fall below the competence bar of the size set (`sizes.<size>.train.gate`).

    Recorded, not raised: the pipeline still builds the paper, which states the result, and a
    robustness comparison must check `passed` before it draws conclusions.
    """
    gate = params.train_size.gate
    if gate is None:
        return {"checked": False, "passed": None, "failures": []}
    failures = []
    for r in reports.itertuples():
        if r.task_accuracy < gate.min_task_accuracy:
            failures.append(f"{r.model}: task accuracy {r.task_accuracy:.3f} < {gate.min_task_accuracy}")
        voice = r.intended_voice_share
        if r.style in ("character", "planner") and voice is not None and voice == voice and voice < gate.min_intended_voice_share:
            failures.append(f"{r.model}: intended-voice share {voice:.3f} < {gate.min_intended_voice_share}")
    return {
        "checked": True,
        "passed": not failures,
        "failures": failures,
        "min_task_accuracy": gate.min_task_accuracy,
        "min_intended_voice_share": gate.min_intended_voice_share,
    }
