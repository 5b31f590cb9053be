"""The stress battery for real models (DESIGN section 4): natural prompts, any Inspect provider.

The battery (`data/authored/real_battery.yaml`) has the organisms' attack families written as
natural prompts, a character card used as the system prompt, and held-out templates and
personas. `real_battery` is an Inspect task; `model_for` turns a `params.yaml` `models:` entry
into an Inspect model (local weights, OpenAI-compatible servers, hosted APIs), with concurrency,
retries and timeouts from Inspect's GenerateConfig and the API key read from the environment
variable the entry names. `real_table` reads the logs back into the common transcripts schema:
the CoT comes out of whatever format the provider used (`cotchar.parse.from_inspect`), and every
bad response (an error, an empty answer, a CoT that never closed, a length stop) is a flag on its
row, never a crash.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.log import EvalLog
from inspect_ai.model import ChatMessageAssistant, ChatMessageUser, GenerateConfig, Model, get_model
from inspect_ai.solver import Generate, Solver, TaskState, solver, system_message

from cotchar import parse
from cotchar.params import ModelSpec

SINGLE_TURN = ("direct_override", "roleplay", "authority", "hypothetical", "persona_harmful", "long_context")


@dataclass(frozen=True)
class Battery:
    card: str
    personas: list[str]
    held_out_personas: list[str]
    asks: list[str]
    harms: list[str]
    families: dict[str, list[dict[str, Any]]]
    filler: list[str]
    pressure: list[str]


@lru_cache(maxsize=4)
def load_battery(path: str) -> Battery:
    data = yaml.safe_load(Path(path).read_text())
    missing = [k for k in Battery.__dataclass_fields__ if k not in data]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing}")
    unknown = sorted(set(data["families"]) - set(SINGLE_TURN))
    if unknown:
        raise ValueError(f"{path}: unknown attack families {unknown}; known: {list(SINGLE_TURN)}")
    return Battery(**{k: data[k] for k in Battery.__dataclass_fields__})


def _fill(template: str, b: Battery, persona: str, rng: random.Random) -> str:
    return template.format(persona=persona, ask=rng.choice(b.asks), harm=rng.choice(b.harms), filler=" ".join(rng.sample(b.filler, len(b.filler))))


def real_samples(battery: str, items_per_family: int, turns: int, seed: int) -> list[Sample]:
    """Every single-turn family and the multi-turn dialogues; held-out templates and personas marked."""
    b = load_battery(battery)
    rng = random.Random(seed)
    samples = []
    for family in [*SINGLE_TURN, "multi_turn"]:
        templates = b.families["direct_override"] if family == "multi_turn" else b.families.get(family, [])
        for i in range(items_per_family if templates else 0):
            t = templates[i % len(templates)]
            persona = b.personas[rng.randrange(len(b.personas))]
            prompt = _fill(t["text"], b, persona, rng)
            follow = [x.format(persona=persona) for x in b.pressure[: turns - 1]] if family == "multi_turn" else []
            held_template, held_persona = bool(t.get("held_out", False)), persona in b.held_out_personas
            samples.append(
                Sample(
                    input=prompt,
                    id=f"{family}-{i:03d}",
                    metadata={
                        "family": family, "template_id": f"{family}/{t['id']}", "persona": persona, "held_out": held_template or held_persona,
                        "held_out_template": held_template, "held_out_persona": held_persona, "follow_ups": follow,
                    },  # fmt: skip
                )
            )
    return samples


@solver
def dialogue() -> Solver:
    """Answer the opening prompt, then each follow-up of the sample (multi-turn pressure), generating after each."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        state = await generate(state)
        for follow in state.metadata["follow_ups"]:
            state.messages.append(ChatMessageUser(content=follow))
            state = await generate(state)
        return state

    return solve


@task
def real_battery(battery: str = "data/authored/real_battery.yaml", items_per_family: int = 6, turns: int = 4, seed: int = 0, judge: str | None = None) -> Task:
    """The whole real-model battery as one task, the character card as system prompt; judge scores when a judge is given."""
    from cotchar.stress.judge import judge_scorer

    b = load_battery(battery)
    return Task(
        dataset=MemoryDataset(real_samples(battery, items_per_family, turns, seed), name="real_battery"),
        solver=[system_message(b.card), dialogue()],
        scorer=judge_scorer(judge, b.card) if judge else None,
        name="real_battery",
    )


def model_for(spec: ModelSpec) -> Model:
    """The Inspect model of a `models:` entry; its key comes from the environment variable it names."""
    kwargs: dict[str, Any] = dict(spec.args)
    if spec.api_key_env:
        key = os.environ.get(spec.api_key_env)
        if not key:
            raise RuntimeError(f"params.yaml models {spec.name}: environment variable {spec.api_key_env} is not set")
        kwargs["api_key"] = key
    return get_model(spec.model, base_url=spec.base_url, config=GenerateConfig(**spec.config), memoize=False, **kwargs)


def planned_requests(samples: list[Sample], models: int, judged: bool) -> int:
    """Model calls the battery will make: one per assistant turn per model, plus one judge call per sample."""
    turns = sum(1 + len(s.metadata["follow_ups"]) for s in samples)
    return models * (turns + (len(samples) if judged else 0))


def _assistant_turns(messages: list) -> list:
    return [m for m in messages if isinstance(m, ChatMessageAssistant)]


def real_rows(log: EvalLog, model_name: str) -> list[dict[str, Any]]:
    """One row per assistant turn (a sample that failed outright gives one row with its error)."""
    rows = []
    for s in log.samples or []:
        m = s.metadata
        base = {
            "model": model_name, "family": m["family"], "sample_id": str(s.id), "template_id": m["template_id"], "persona": m["persona"],
            "held_out": m["held_out"], "held_out_template": m["held_out_template"], "held_out_persona": m["held_out_persona"],
        }  # fmt: skip
        users = [x.text for x in s.messages if isinstance(x, ChatMessageUser)]
        replies = _assistant_turns(s.messages)
        judged = (s.scores or {}).get("judge_scorer")
        if not replies:
            rows.append(base | {"turn": 1, "prompt": users[0] if users else "", "cot": None, "output": "", "cot_kind": "none", "cot_closed": None, "stop_reason": None, "error": str(s.error.message) if s.error else "no reply"})
            continue
        for t, reply in enumerate(replies, start=1):
            split = parse.from_inspect(reply.content)
            last = t == len(replies)
            rows.append(
                base | {
                    "turn": t, "prompt": users[t - 1] if t - 1 < len(users) else "", "cot": split.cot, "output": split.output,
                    "cot_kind": split.cot_kind, "cot_closed": split.closed,
                    "stop_reason": s.output.stop_reason if last and s.output else None,
                    "error": str(s.error.message) if (s.error and last) else None,
                    "judge_output_in_character": (judged.value.get("output_in_character") if judged and last and isinstance(judged.value, dict) else None),
                    "judge_cot_in_character": (judged.value.get("cot_in_character") if judged and last and isinstance(judged.value, dict) else None),
                }  # fmt: skip
            )
    return rows


def real_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The real transcripts, sorted, with the bad-response flags."""
    columns = [
        "model", "family", "sample_id", "turn", "template_id", "persona", "held_out", "held_out_template", "held_out_persona",
        "prompt", "cot", "output", "cot_kind", "cot_closed", "stop_reason", "error", "judge_output_in_character", "judge_cot_in_character",
    ]  # fmt: skip
    df = pd.DataFrame(rows, columns=columns)
    df["empty_output"] = df["output"].fillna("").str.strip() == ""
    df["unclosed_cot"] = df["cot_closed"].eq(False)
    df["length_stop"] = df["stop_reason"].eq("max_tokens")
    df["failed"] = df["error"].notna()
    df = df.sort_values(["model", "sample_id", "turn"], ignore_index=True)
    return df.astype({"cot_closed": "boolean", "judge_output_in_character": "Float64", "judge_cot_in_character": "Float64"})


def bad_response_counts(df: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per model: rows, and how many were failed, empty, unclosed, or stopped at the length limit."""
    return {
        name: {"turns": len(g), **{flag: int(g[flag].sum()) for flag in ("failed", "empty_output", "unclosed_cot", "length_stop")}}
        for name, g in df.groupby("model")
    }
