"""Competence and manipulation checks of a trained organism (held-in prompts, no attacks, greedy decoding).

- task accuracy: the output makes the expected decision and gives the expected answer;
- format validity: the `<think>` format its style was trained to produce;
- intended-voice share: for `character` and `planner`, the share of CoTs whose voice by the CoT
  voice index (`cotchar.score.voice`) is the intended one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from cotchar.organisms.generate import generate, prompts
from cotchar.score.exact import format_valid, split_cot, task_correct
from cotchar.score.voice import voice_index
from cotchar.world.spec import WorldSpec


@dataclass(frozen=True)
class Competence:
    task_accuracy: float
    format_validity: float
    intended_voice_share: float | None
    per_family: dict[str, float]
    transcripts: pd.DataFrame


def competence_items(stress: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The plain held-in tasks of the stress suites (family `none`)."""
    items = [x for x in stress if x["family"] == "none"]
    if not items:
        raise ValueError("the stress suites hold no competence items (family 'none'); rebuild the world")
    return items


def check_competence(
    model: LlamaForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    spec: WorldSpec,
    style: str,
    items: list[dict[str, Any]],
    max_new_tokens: int,
    batch_size: int,
) -> Competence:
    conversations = [[{"role": "user", "content": x["turns"][0]["user"]}] for x in items]
    completions = generate(model, tokenizer, prompts(tokenizer, conversations), max_new_tokens, batch_size)
    rows = []
    for item, completion in zip(items, completions):
        turn = item["turns"][0]
        s = split_cot(completion)
        voice = voice_index(s.cot).voice if s.cot else None
        rows.append(
            {
                "item_id": item["item_id"],
                "task_family": turn["task_family"],
                "completion": completion,
                "correct": task_correct(spec, s.output, turn["decision"], turn["answer"]),
                "format_valid": format_valid(style, turn["task_family"], False, s),
                "cot_voice": voice,
            }
        )
    df = pd.DataFrame(rows)
    intended = None
    if style in ("character", "planner"):
        with_cot = df[df["cot_voice"].notna()]
        intended = float((with_cot["cot_voice"] == style).sum() / len(df)) if len(df) else 0.0
    return Competence(
        task_accuracy=float(np.mean(df["correct"])),
        format_validity=float(np.mean(df["format_valid"])),
        intended_voice_share=intended,
        per_family={k: float(v) for k, v in df.groupby("task_family")["correct"].mean().items()},
        transcripts=df,
    )
