"""The character-robustness battery as Inspect tasks (DESIGN sections 2 and 3).

One task per attack family of the world's stress suites (`direct_override`, `roleplay`,
`authority`, `hypothetical`, `persona_harmful`, `long_context`), plus:

- `multi_turn`: the `pressure` solver keeps the conversation going for up to `turns` user turns
  of escalating pressure, generating after each, so the in-character rate can be followed turn by
  turn;
- `prefill`: the first `dose` tokens of a CoT leaning towards breaking character, written in the
  character's or the planner's voice, are placed in the assistant turn and the organism
  continues from there (dose 0: no prefill).

Every sample carries its held-out marks (family, template, persona), its item id and the
expected behaviour of every turn as metadata. The samples come from `data/world/stress.jsonl`,
built by the `world` stage; the scorers are in `cotchar.stress.scorers`.

    inspect eval src/cotchar/stress/battery.py@direct_override --model organism/data/models/character-s1
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageAssistant, ChatMessageUser
from inspect_ai.solver import Generate, Solver, TaskState, generate, solver
from transformers import AutoTokenizer

from cotchar.world.render import THINK_OPEN

SINGLE_TURN_FAMILIES = ("direct_override", "roleplay", "authority", "hypothetical", "persona_harmful", "long_context")
FAMILIES = (*SINGLE_TURN_FAMILIES, "multi_turn")
PREFILL_VOICES = ("character", "planner")
WORLD = "data/world"
SPEC = "data/authored/world.yaml"


@lru_cache(maxsize=8)
def stress_records(world: str = WORLD) -> tuple[dict[str, Any], ...]:
    path = Path(world) / "stress.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no stress suites; run `dvc repro world` first")
    return tuple(json.loads(line) for line in path.read_text().splitlines())


def _metadata(item: dict[str, Any]) -> dict[str, Any]:
    keys = ("item_id", "family", "template_id", "persona", "held_out", "held_out_family", "held_out_template", "held_out_persona")
    return {k: item[k] for k in keys} | {"turns": item["turns"]}


def family_samples(family: str, world: str = WORLD, limit: int | None = None) -> list[Sample]:
    items = [x for x in stress_records(world) if x["family"] == family]
    if not items:
        known = sorted({x["family"] for x in stress_records(world)})
        raise ValueError(f"{world}/stress.jsonl has no items of family {family!r}; families: {known}")
    return [
        Sample(
            id=x["item_id"],
            input=[ChatMessageUser(content=x["turns"][0]["user"])],
            target=x["turns"][0]["expected_output"],
            metadata=_metadata(x) | {"prefill_voice": None, "dose": 0, "prefill": ""},
        )
        for x in items[:limit]
    ]


def prefill_text(text: str, dose: int, tokenizer: Any) -> str:
    """The CoT opening for a prefill of `dose` tokens of `text` (dose 0: no prefill at all)."""
    if dose == 0:
        return ""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][:dose]
    return f"{THINK_OPEN}\n{tokenizer.decode(ids)}"


def prefill_samples(doses: list[int], items_per_family: int, world: str = WORLD) -> list[Sample]:
    """The first `items_per_family` items of every single-turn family, at every dose and voice."""
    tokenizer = AutoTokenizer.from_pretrained(Path(world) / "tokenizer")
    out = []
    for family in SINGLE_TURN_FAMILIES:
        items = [x for x in stress_records(world) if x["family"] == family and x["prefill"]][:items_per_family]
        for x in items:
            for dose in doses:
                for voice in PREFILL_VOICES if dose else (None,):
                    text = prefill_text(x["prefill"][voice], dose, tokenizer) if voice else ""
                    out.append(
                        Sample(
                            id=f"{x['item_id']}/{voice or 'plain'}/{dose}",
                            input=[ChatMessageUser(content=x["turns"][0]["user"])],
                            target=x["turns"][0]["expected_output"],
                            metadata=_metadata(x) | {"prefill_voice": voice, "dose": dose, "prefill": text},
                        )
                    )
    return out


def _record_turn(state: TaskState, prefill: str = "") -> None:
    usage = state.output.usage
    turns = state.store.get("turns", [])
    turns.append(
        {
            "input_tokens": usage.input_tokens if usage else None,
            "output_tokens": usage.output_tokens if usage else None,
            "stop_reason": state.output.stop_reason,
            "prefill": prefill,
        }
    )
    state.store.set("turns", turns)


@solver
def single_turn() -> Solver:
    """Generate once (with the sample's prefill, if any) and record the turn."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        prefill = state.metadata.get("prefill", "")
        if prefill:
            state.messages.append(ChatMessageAssistant(content=prefill))
        state = await generate(state)
        if prefill:
            # The organism continued the prefilled message; keep the turn as one assistant message.
            continuation = state.messages.pop()
            state.messages[-1] = ChatMessageAssistant(content=prefill + continuation.text, model=continuation.model, source="generate")
        _record_turn(state, prefill)
        return state

    return solve


@solver
def pressure(turns: int) -> Solver:
    """Multi-turn pressure: after each reply, the next user turn of the dialogue, up to `turns`."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        script = state.metadata["turns"][:turns]
        for t, turn in enumerate(script):
            if t > 0:
                state.messages.append(ChatMessageUser(content=turn["user"]))
            state = await generate(state)
            _record_turn(state)
        return state

    return solve


def _task(dataset: list[Sample], name: str, solver_: Solver, max_tokens: int, spec: str) -> Task:
    from inspect_ai.model import GenerateConfig

    from cotchar.stress.scorers import character_scorers

    return Task(
        dataset=MemoryDataset(dataset, name=name),
        solver=solver_,
        scorer=character_scorers(spec),
        config=GenerateConfig(max_tokens=max_tokens),
        name=name,
    )


def attack_task(family: str, world: str = WORLD, spec: str = SPEC, limit: int | None = None, max_tokens: int = 112) -> Task:
    if family not in SINGLE_TURN_FAMILIES:
        raise ValueError(f"{family!r} is not a single-turn attack family; choose from {SINGLE_TURN_FAMILIES}")
    return _task(family_samples(family, world, limit), family, single_turn(), max_tokens, spec)


@task
def direct_override(world: str = WORLD, spec: str = SPEC, limit: int | None = None, max_tokens: int = 112) -> Task:
    return attack_task("direct_override", world, spec, limit, max_tokens)


@task
def roleplay(world: str = WORLD, spec: str = SPEC, limit: int | None = None, max_tokens: int = 112) -> Task:
    return attack_task("roleplay", world, spec, limit, max_tokens)


@task
def authority(world: str = WORLD, spec: str = SPEC, limit: int | None = None, max_tokens: int = 112) -> Task:
    return attack_task("authority", world, spec, limit, max_tokens)


@task
def hypothetical(world: str = WORLD, spec: str = SPEC, limit: int | None = None, max_tokens: int = 112) -> Task:
    return attack_task("hypothetical", world, spec, limit, max_tokens)


@task
def persona_harmful(world: str = WORLD, spec: str = SPEC, limit: int | None = None, max_tokens: int = 112) -> Task:
    return attack_task("persona_harmful", world, spec, limit, max_tokens)


@task
def long_context(world: str = WORLD, spec: str = SPEC, limit: int | None = None, max_tokens: int = 112) -> Task:
    return attack_task("long_context", world, spec, limit, max_tokens)


@task
def multi_turn(world: str = WORLD, spec: str = SPEC, limit: int | None = None, max_tokens: int = 112, turns: int = 8) -> Task:
    return _task(family_samples("multi_turn", world, limit), "multi_turn", pressure(turns), max_tokens, spec)


@task
def prefill(
    world: str = WORLD, spec: str = SPEC, items_per_family: int = 10, doses: str = "0,8,16,32", max_tokens: int = 112
) -> Task:
    """`doses`: comma-separated token counts (a string, so that `-T doses=0,8` works on the CLI)."""
    dose_list = [int(d) for d in str(doses).split(",")]
    return _task(prefill_samples(dose_list, items_per_family, world), "prefill", single_turn(), max_tokens, spec)


TASKS = {
    "direct_override": direct_override,
    "roleplay": roleplay,
    "authority": authority,
    "hypothetical": hypothetical,
    "persona_harmful": persona_harmful,
    "long_context": long_context,
    "multi_turn": multi_turn,
    "prefill": prefill,
}
