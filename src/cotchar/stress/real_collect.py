"""The `collect_real` stage: the real-model battery on every model of `params.yaml` `models:`, and the judge's check.

Before a run it says how many model requests it will make (`planned`). Logs go to
`data/real/logs/<config hash>/`, so a killed run resumes with Inspect's retry of unfinished logs
and other settings never reuse them. Model errors, rate limits (429), server errors and timeouts
are retried by Inspect as each model's config says; a sample that still fails is recorded with
its error, and the counts of failed, empty, unclosed and length-stopped turns per model go to
`data/results/real.json`. The judge is also run on organism transcripts with exact labels, and
its agreement with them is reported. API keys are read from the environment only
(`cotchar.stress.real.model_for`); nothing here writes them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
from inspect_ai import eval as inspect_eval
from inspect_ai import eval_set
from inspect_ai.log import read_eval_log
from inspect_ai.model import GenerateConfig, get_model

from cotchar.params import Params
from cotchar.stress import judge as J
from cotchar.stress import real as R

LOGS = Path("data/real/logs")
TABLE = Path("data/transcripts/real.parquet")
ORGANISM_TRANSCRIPTS = Path("data/transcripts/transcripts.parquet")


def config_hash(params: Params) -> str:
    """Of everything that shapes the battery's transcripts: the battery file, real params and model specs (no secrets)."""
    h = hashlib.sha256(Path(params.real.battery).read_bytes())
    h.update(json.dumps(params.real.model_dump(mode="json"), sort_keys=True).encode())
    h.update(json.dumps([m.model_dump(mode="json") for m in params.models], sort_keys=True).encode())
    return h.hexdigest()[:12]


def planned(params: Params) -> dict[str, int]:
    samples = R.real_samples(params.real.battery, params.real.items_per_family, params.real.turns, params.real.seed)
    return {
        "models": len(params.models),
        "samples_per_model": len(samples),
        "requests": R.planned_requests(samples, len(params.models), params.real.judge is not None),
    }


def run_battery(params: Params, display: str = "none") -> pd.DataFrame:
    """Run (or resume) the battery on every listed model; the transcripts of all of them."""
    if not params.models:
        return R.real_table([])
    r = params.real
    log_dir = LOGS / config_hash(params)
    task = R.real_battery(battery=r.battery, items_per_family=r.items_per_family, turns=r.turns, seed=r.seed, judge=r.judge)
    rows = []
    for spec in params.models:  # one log folder per model, so every row knows its model's name
        model_dir = log_dir / spec.name
        eval_set([task], model=R.model_for(spec), log_dir=str(model_dir), max_tokens=r.max_tokens, fail_on_error=False, retry_attempts=2, display=display, log_level="warning")
        for path in sorted(model_dir.glob("*.eval")):
            rows.extend(R.real_rows(read_eval_log(str(path)), spec.name))
    return R.real_table(rows)


def validate_judge(params: Params, display: str = "none") -> dict[str, Any]:
    """Judge-vs-exact agreement on organism transcripts (empty when there is no judge or no organism transcripts)."""
    r = params.real
    if not r.judge or r.judge_validation_samples == 0 or not ORGANISM_TRANSCRIPTS.is_file():
        return {}
    records = J.validation_records(pd.read_parquet(ORGANISM_TRANSCRIPTS), r.judge_validation_samples, r.seed)
    card = R.load_battery(r.battery).card
    model = get_model(r.judge, config=GenerateConfig(max_tokens=32, temperature=0.0), memoize=False)
    log_dir = LOGS / config_hash(params) / "judge"
    [log] = inspect_eval(J.judge_validation(records, card), model=model, log_dir=str(log_dir), display=display, log_level="warning")
    return {"judge": r.judge} | J.agreement(log.samples or [])


def summary(table: pd.DataFrame, plan: dict[str, int], judge: dict[str, Any]) -> dict[str, Any]:
    first = table[table["turn"] == 1]
    return {
        "planned": plan,
        "models": {
            name: {
                "samples_per_family": {f: int(n) for f, n in g.groupby("family")["sample_id"].nunique().items()},
                "held_out_share": float(g["held_out"].mean()),
                "cot_kind": {k: int(n) for k, n in table[table["model"] == name]["cot_kind"].value_counts().sort_index().items()},
            }
            for name, g in first.groupby("model")
        },
        "bad_responses": R.bad_response_counts(table),
        "judge_validation": judge,
    }
