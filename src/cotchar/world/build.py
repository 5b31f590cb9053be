"""The `world` stage: from one seed, everything the organisms need, written under `data/world/`.

`build_world` generates the decision traces, trains the tokenizer, renders one corpus per style
(length-matched), and builds the stress suites; `write_world` saves them; `style_table` and
`world_results` compute Table 1 and the headline numbers; `check_world` enforces the design's
guarantees (length match, fixed answers, no held-out leak).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerFast

from cotchar.params import Params
from cotchar.world import leaks
from cotchar.world.render import (
    THINK_CLOSE,
    all_phrase_text,
    assistant_content,
    choose_lengths_matched,
    messages,
    neutral_cot,
    render_output,
)
from cotchar.world.spec import WorldSpec, load_spec
from cotchar.world.tokenizer import train_tokenizer
from cotchar.world.traces import Split, StressItem, Trace, make_split, stress_items, training_traces

WORLD_DIR = Path("data/world")


@dataclass
class World:
    spec: WorldSpec
    split: Split
    traces: list[Trace]
    corpora: dict[str, list[dict[str, Any]]]
    stress: list[StressItem]
    tokenizer: PreTrainedTokenizerFast
    params: Params


def _record(trace: Trace, style: str, cot: str | None, output: str, spec: WorldSpec) -> dict[str, Any]:
    last = trace.last
    return {
        "trace_id": trace.trace_id,
        "style": style,
        "task_family": last.task.family,
        "decision": last.task.decision,
        "attack_family": last.attack.family if last.attack else None,
        "template_id": last.attack.template_id if last.attack else None,
        "persona": last.attack.persona if last.attack else None,
        "n_turns": len(trace.turns),
        "cot": cot,
        "output": output,
        "messages": messages(spec, trace, assistant_content(cot, output)),
    }


def build_world(params: Params, root: Path | str = ".") -> World:
    """Generate the whole world in memory (deterministic in params.world.seed)."""
    p, size = params.world, params.world_size
    spec = load_spec(Path(root) / p.spec)
    split = make_split(spec, p)
    traces = training_traces(spec, p, split, size.train_traces)
    tokenizer = train_tokenizer((t for tr in traces for t in all_phrase_text(spec, tr)), size.tokenizer_vocab_size)

    def count_tokens(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]

    rng = random.Random(f"{p.seed}:render")
    corpora: dict[str, list[dict[str, Any]]] = {s: [] for s in p.styles}
    for trace in tqdm(traces, desc="render corpora", unit="trace"):
        output = render_output(spec, trace.last, trace.opener)
        voiced = choose_lengths_matched(spec, trace, rng, count_tokens, p.length_match_candidates)
        cots = {**voiced, "none": None, "nocot_character": neutral_cot(spec, trace.last, rng)}
        for style in p.styles:
            corpora[style].append(_record(trace, style, cots[style], output, spec))
    stress = stress_items(spec, p, split, size.stress_items_per_family, size.competence_items)
    return World(spec, split, traces, corpora, stress, tokenizer, params)


def stress_record(world: World, item: StressItem) -> dict[str, Any]:
    """A stress item as plain data: prompts per turn with the exact expected behaviour."""
    spec, trace = world.spec, item.trace
    turns = []
    for turn in trace.turns:
        turns.append(
            {
                "user": turn.user,
                "task_family": turn.task.family,
                "decision": turn.task.decision,
                "answer": turn.task.answer,
                "template_id": turn.attack.template_id if turn.attack else None,
                "template_held_out": bool(turn.attack and world.split.template_held_out(turn.attack.family, int(turn.attack.template_id.split("/")[1]))),
                "expected_output": render_output(spec, turn, trace.opener),
            }
        )
    persona = trace.last.attack.persona if trace.last.attack else None
    prefill = None
    if persona is not None:
        fill = {"persona": persona, "opener": spec.persona(persona).opener}
        prefill = {"character": spec.prefill.character.format(**fill), "planner": spec.prefill.planner.format(**fill)}
    return {
        "item_id": item.item_id,
        "family": item.family,
        "template_id": trace.turns[0].attack.template_id if trace.turns[0].attack else None,
        "persona": persona,
        "held_out": item.held_out,
        "held_out_family": item.held_out_family,
        "held_out_template": item.held_out_template,
        "held_out_persona": item.held_out_persona,
        "turns": turns,
        "prefill": prefill,
    }


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for row in rows:
            f.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")


def write_world(world: World, out: Path | str = WORLD_DIR) -> Path:
    """Save the card, the split, every corpus, the stress suites and the tokenizer."""
    out = Path(out)
    card = {
        "character": world.spec.character.model_dump(),
        "personas": [x.model_dump() for x in world.spec.personas],
        "held_out": {
            "families": list(world.split.families),
            "personas": list(world.split.personas),
            "templates": {f: [f"{f}/{i}" for i in idx] for f, idx in world.split.templates.items()},
        },
        "styles": list(world.corpora),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    for style, rows in world.corpora.items():
        _write_jsonl(out / "corpus" / f"{style}.jsonl", rows)
    _write_jsonl(out / "stress.jsonl", [stress_record(world, item) for item in world.stress])
    world.tokenizer.save_pretrained(out / "tokenizer")
    return out


def load_corpus(style: str, root: Path | str = WORLD_DIR) -> list[dict[str, Any]]:
    path = Path(root) / "corpus" / f"{style}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no corpus for style {style!r}; run `dvc repro world`")
    return [json.loads(line) for line in path.read_text().splitlines()]


def cot_lengths(world: World) -> pd.DataFrame:
    """Tidy CoT token lengths: one row per example that has a CoT (style, trace_id, cot_tokens)."""
    rows = []
    for style, recs in world.corpora.items():
        with_cot = [r for r in recs if r["cot"] is not None]
        if not with_cot:
            continue
        ids = world.tokenizer([r["cot"] for r in with_cot], add_special_tokens=False)["input_ids"]
        rows += [{"style": style, "trace_id": r["trace_id"], "cot_tokens": len(x)} for r, x in zip(with_cot, ids)]
    return pd.DataFrame(rows, columns=["style", "trace_id", "cot_tokens"])


def _final_output(record: dict[str, Any]) -> str:
    # Read the output back from what the model is trained on, so the check covers the rendering.
    content = record["messages"][-1]["content"]
    return content.split(THINK_CLOSE, 1)[1].lstrip("\n") if THINK_CLOSE in content else content


def fixed_answer_share(world: World) -> float:
    """Share of traces whose final output is identical in every style's corpus."""
    by_style = [[_final_output(r) for r in recs] for recs in world.corpora.values()]
    same = [len(set(outs)) == 1 for outs in zip(*by_style)]
    return float(np.mean(same))


def style_table(world: World) -> pd.DataFrame:
    """Table 1: per style, examples, CoT tokens (mean, sd), length ratio to planner, identical outputs."""
    lengths = cot_lengths(world)
    planner_mean = lengths.loc[lengths["style"] == "planner", "cot_tokens"].mean()
    share = fixed_answer_share(world)
    rows = []
    for style, recs in world.corpora.items():
        x = lengths.loc[lengths["style"] == style, "cot_tokens"]
        rows.append(
            {
                "style": style,
                "examples": len(recs),
                "examples_with_cot": int(len(x)),
                "cot_tokens_mean": round(float(x.mean()), 2) if len(x) else None,
                "cot_tokens_sd": round(float(x.std(ddof=1)), 2) if len(x) > 1 else None,
                "length_ratio_to_planner": round(float(x.mean() / planner_mean), 4) if len(x) and planner_mean else None,
                "output_identical_share": round(share, 4),
            }
        )
    return pd.DataFrame(rows)


def world_results(world: World, table: pd.DataFrame) -> dict[str, Any]:
    """The stage's headline numbers for data/results/world.json."""
    p = world.params.world
    texts = {style: [m["content"] for r in recs for m in r["messages"]] for style, recs in world.corpora.items()}
    found = leaks.find_leaks(texts, leaks.needles(world.spec, world.split, p.leak_min_fragment_chars))
    by_style = table.set_index("style")
    ratio = float(by_style.loc["character", "cot_tokens_mean"] / by_style.loc["planner", "cot_tokens_mean"])
    train_prompts = {m["content"] for r in next(iter(world.corpora.values())) for m in r["messages"] if m["role"] == "user"}
    stress_prompts = [turn.user for item in world.stress for turn in item.trace.turns]
    families = sorted({item.family for item in world.stress})
    realised = pd.Series([t.last.task.family for t in world.traces]).value_counts(normalize=True).sort_index()
    return {
        "seed": p.seed,
        "size": world.params.size,
        "train_traces": len(world.traces),
        "examples_per_style": {s: len(r) for s, r in world.corpora.items()},
        "cot_tokens": {
            row.style: {"mean": row.cot_tokens_mean, "sd": row.cot_tokens_sd, "examples_with_cot": row.examples_with_cot}
            for row in table.itertuples()
            if row.examples_with_cot
        },
        "cot_length_ratio_character_planner": ratio,
        "fixed_answer_share": fixed_answer_share(world),
        "held_out_leak_count": len(found),
        "held_out_leaks": sorted(f"{x.needle.source}: {x.needle.text!r} in {x.corpus}" for x in found),
        "held_out": {
            "families": list(world.split.families),
            "personas": list(world.split.personas),
            "templates": sum(len(v) for v in world.split.templates.values()),
        },
        "task_mix_realised": {k: float(v) for k, v in realised.items()},
        "attacked_share_realised": float(np.mean([t.last.attack is not None for t in world.traces])),
        "stress": {
            "items": len(world.stress),
            "items_per_family": {f: sum(1 for x in world.stress if x.family == f) for f in families},
            "held_out_share": float(np.mean([x.held_out for x in world.stress])),
            "prompt_in_training_share": float(np.mean([u in train_prompts for u in stress_prompts])),
        },
        "tokenizer_vocab_size": len(world.tokenizer),
    }


def check_world(results: dict[str, Any], params: Params) -> None:
    """Raise if the world breaks a design guarantee; the message lists every broken one."""
    tol = params.world.cot_length_tolerance
    problems = []
    ratio = results["cot_length_ratio_character_planner"]
    if abs(ratio - 1) > tol:
        problems.append(f"character/planner CoT length ratio {ratio:.4f} is outside 1 ± {tol}")
    if results["fixed_answer_share"] != 1.0:
        problems.append(f"fixed_answer_share is {results['fixed_answer_share']}, not 1.0: outputs differ between styles")
    if results["held_out_leak_count"]:
        problems.append(f"{results['held_out_leak_count']} held-out leak(s): {results['held_out_leaks'][:5]}")
    if problems:
        raise ValueError("world violates the design:\n  - " + "\n  - ".join(problems))
