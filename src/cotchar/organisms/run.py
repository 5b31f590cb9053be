"""The `train` stage for one (style, seed).

`train_organism` loads the world, trains the organism, saves it under `data/models/<style>-s<seed>/`,
runs the competence checks and writes the model's numbers to `data/results/train/<key>.json` and
its loss curve to `data/plots/train/<key>.csv` (a DVC plot). `cotchar.organisms.report` gathers
those files for the `train_report` stage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from transformers import AutoTokenizer

from cotchar.organisms.competence import Competence, check_competence, competence_items
from cotchar.organisms.data import encode_corpus
from cotchar.organisms.model import build_model, count_parameters, weight_hash
from cotchar.organisms.train import TrainLog, save_organism, train
from cotchar.params import Params
from cotchar.results import dumps
from cotchar.world.build import WORLD_DIR, load_corpus
from cotchar.world.spec import load_spec

MODELS_DIR = Path("data/models")
REPORTS_DIR = Path("data/results/train")
PLOTS_DIR = Path("data/plots/train")


def model_key(style: str, seed: int) -> str:
    return f"{style}-s{seed}"


@dataclass
class Organism:
    key: str
    report: dict[str, Any]
    log: TrainLog
    competence: Competence


def loss_curve(log: TrainLog) -> pd.DataFrame:
    return pd.DataFrame({"step": log.steps, "loss": log.loss, "lr": log.lr, "tokens": log.tokens})


def train_organism(params: Params, style: str, seed: int, root: Path | str = ".", progress: bool = True) -> Organism:
    """Train, save and check one organism; writes its model dir, report and loss curve."""
    root = Path(root)
    if style not in params.world.styles:
        raise ValueError(f"style {style!r} is not in params world.styles {params.world.styles}")
    size, p = params.train_size, params.train
    world = root / WORLD_DIR
    tokenizer = AutoTokenizer.from_pretrained(world / "tokenizer")
    spec = load_spec(root / params.world.spec)
    examples = encode_corpus(tokenizer, load_corpus(style, world), size.pack_length)
    model = build_model(size.model, tokenizer, seed)
    log = train(model, examples, p, size, seed, tokenizer.pad_token_id, progress=progress)
    key = model_key(style, seed)
    out = save_organism(model, tokenizer, root / MODELS_DIR / key)

    stress = [json.loads(line) for line in (world / "stress.jsonl").read_text().splitlines()]
    comp = check_competence(model, tokenizer, spec, style, competence_items(stress), p.max_new_tokens, p.eval_batch_size)
    comp.transcripts.to_json(out / "competence.jsonl", orient="records", lines=True)

    tail = max(1, len(log.loss) // 10)  # final loss: mean of the last tenth of the logged curve
    report = {
        "model": key,
        "style": style,
        "seed": seed,
        "parameters": count_parameters(model),
        "epochs": size.epochs,
        "steps": log.steps_total,
        "examples": len(examples),
        "pack_fill": log.pack_fill,
        "tokens_seen": log.tokens_seen,
        "supervised_tokens": log.supervised_tokens,
        "final_loss": sum(log.loss[-tail:]) / tail,
        "task_accuracy": comp.task_accuracy,
        "task_accuracy_by_family": comp.per_family,
        "format_validity": comp.format_validity,
        "intended_voice_share": comp.intended_voice_share,
        "competence_items": len(comp.transcripts),
        "weight_sha256": weight_hash(model),
    }
    (root / REPORTS_DIR).mkdir(parents=True, exist_ok=True)
    (root / REPORTS_DIR / f"{key}.json").write_text(dumps(report))
    (root / PLOTS_DIR).mkdir(parents=True, exist_ok=True)
    loss_curve(log).to_csv(root / PLOTS_DIR / f"{key}.csv", index=False, float_format="%.6g")
    return Organism(key, report, log, comp)
