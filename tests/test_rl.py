"""The RL arm: the outcome reward on hand-written transcripts, the plain baseline's corpus, GRPO itself."""

from __future__ import annotations

import tempfile

import pytest
import torch
from transformers import AutoModelForCausalLM

from cotchar.organisms.model import build_model, weight_hash
from cotchar.organisms.reward import Prompt, outcome_reward, prompt_from_record
from cotchar.organisms.rl import PLAIN, grpo_config, plain_corpus, prompt_pool, reward_functions, step_log, train_grpo
from cotchar.organisms.train import save_organism
from cotchar.params import ModelSize, Params
from cotchar.world.build import World, write_world

ADD = Prompt("t-1", [{"role": "user", "content": "What is 1 + 2?"}], "arithmetic", "answer", "3", None)


def _say(world: World, body: str) -> str:
    c = world.spec.character
    return f"{c.openers[0]} {body} {c.signoff}"


def test_outcome_reward_reads_the_answer_only(smoke_world: World) -> None:
    spec, persona = smoke_world.spec, smoke_world.spec.personas[0]
    cases = {
        # (completion, reward for a character arm, reward for the plain baseline)
        "right, in character": (f"<think>\nI add them.\n</think>\n{_say(smoke_world, 'The answer is 3.')}", 1.0, 1.0),
        "wrong answer": (f"<think>\nI add them.\n</think>\n{_say(smoke_world, 'The answer is 4.')}", 0.0, 0.0),
        "right, but in the persona's voice": (f"<think>\nok\n</think>\n{persona.opener} The answer is 3. {persona.signoff}", 0.0, 1.0),
        "bare answer, no character frame": ("<think>\n1 + 2 = 3.\n</think>\nThe answer is 3.", 0.0, 1.0),
        "CoT never closes: no answer to grade": ("<think>\nI add them. The answer is 3.", 0.0, 0.0),
        "no CoT at all": (_say(smoke_world, "The answer is 3."), 1.0, 1.0),
        # the CoT talks of becoming the persona; the reward never reads it
        "persona talk in the CoT only": (f"<think>\nI will become {persona.name}.\n</think>\n{_say(smoke_world, 'The answer is 3.')}", 1.0, 1.0),
    }
    for name, (completion, character, plain) in cases.items():
        assert outcome_reward(spec, ADD, completion, character=True).reward == character, name
        assert outcome_reward(spec, ADD, completion, character=False).reward == plain, name
    unclosed = outcome_reward(spec, ADD, cases["CoT never closes: no answer to grade"][0], character=True)
    assert not unclosed.closed and unclosed.cot == "I add them. The answer is 3."


def test_prompts_come_from_the_corpus_and_a_bad_record_is_named(smoke_world: World) -> None:
    record = next(r for r in smoke_world.corpora["none"] if r["decision"] == "answer")
    p = prompt_from_record(record)
    assert p.messages == record["messages"][:-1] and p.answer in record["output"]
    with pytest.raises(ValueError, match=record["trace_id"]):
        prompt_from_record(record | {"output": "no number here"})


def test_plain_baseline_corpus_has_no_character(smoke_world: World, tmp_path) -> None:
    world = write_world(smoke_world, tmp_path / "world")
    corpus = plain_corpus(smoke_world.spec, world)
    c = smoke_world.spec.character
    assert corpus and all(r["style"] == PLAIN and r["cot"] and not r["attack_family"] for r in corpus)
    for r in corpus:
        text = r["messages"][-1]["content"]
        assert c.signoff not in text and not any(o in text for o in c.openers) and c.name not in text
    pool = prompt_pool(world, PLAIN)
    assert len(pool) == len(corpus)  # the baseline's RL prompts are the tasks it was trained on
    assert len(prompt_pool(world, "character")) == len(smoke_world.corpora["none"])


def _tiny(world: World, seed: int, path) -> AutoModelForCausalLM:
    size = ModelSize(hidden_size=32, intermediate_size=64, layers=1, heads=2, max_positions=256, tie_embeddings=True)
    save_organism(build_model(size, world.tokenizer, seed), world.tokenizer, path)
    return AutoModelForCausalLM.from_pretrained(path)  # TRL's reference model is built from this path


def _low_ids(prompts: list, completion_ids: list, **kw) -> list[float]:
    """An easy task: the share of completion tokens from the lower half of the vocabulary."""
    half = 200
    return [sum(t < half for t in ids) / max(1, len(ids)) for ids in completion_ids]


def _run(world: World, seed: int, steps: int, tmp_path) -> tuple[str, list[dict]]:
    torch.set_num_threads(1)
    model = _tiny(world, 7, tmp_path / f"start-{seed}")
    rows = [{"prompt": [{"role": "user", "content": r["messages"][0]["content"]}]} for r in world.corpora["none"][:16]]
    with tempfile.TemporaryDirectory() as out:
        config = grpo_config(steps=steps, prompts_per_step=4, group_size=4, learning_rate=0.02, beta=0.0, max_new_tokens=8, seed=seed, output_dir=out, progress=False)
        history = train_grpo(model, world.tokenizer, rows, [_low_ids], [1.0], config, progress=False)
    return weight_hash(model), history


def test_a_few_grpo_steps_learn_an_easy_reward_and_the_same_seed_repeats(smoke_world: World, tmp_path) -> None:
    first, history = _run(smoke_world, 1, 12, tmp_path)
    rewards = [h["reward"] for h in history if "reward" in h]
    assert len(rewards) == 12
    assert sum(rewards[-3:]) / 3 > sum(rewards[:3]) / 3 + 0.15, rewards
    assert _run(smoke_world, 1, 12, tmp_path)[0] == first  # same seed, same weights, bit for bit
    assert _run(smoke_world, 2, 12, tmp_path)[0] != first


def test_reward_functions_log_measures_without_weight(smoke_world: World) -> None:
    funcs, weights = reward_functions(smoke_world.spec, character=True)
    assert weights[0] == 1.0 and not any(weights[1:])
    kw = {"prompts": [ADD.messages] * 2, "prompt_id": ["a", "b"], "task_family": ["arithmetic"] * 2, "decision": ["answer"] * 2, "answer": ["3"] * 2, "attack_family": [None] * 2}
    done = [[{"role": "assistant", "content": f"<think>\nI add.\n</think>\n{_say(smoke_world, 'The answer is 3.')}"}], [{"role": "assistant", "content": "The answer is 3."}]]
    values = {f.__name__: f(completions=done, **kw) for f in funcs}
    assert values["outcome"] == [1.0, 0.0] and values["correct"] == [1.0, 1.0] and values["in_character"] == [1.0, 0.0]
    assert values["planner_score"][1] is None  # no CoT, nothing to score
    log = step_log([{"step": 1, "reward": 0.5, "kl": 0.1, "step_time": 1.3}, {"train_runtime": 2.0}])
    assert list(log["step"]) == [1] and "step_time" not in log.columns


def test_rl_arms_must_include_the_baseline(smoke_params: Params) -> None:
    from cotchar.params import ParamsError, parse_params

    data = smoke_params.model_dump(mode="json")
    data["rl"]["arms"] = ["character", "planner"]
    with pytest.raises(ParamsError, match="plain"):
        parse_params(data)
