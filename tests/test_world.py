"""The world stage: determinism, the design guarantees, the held-out split, the tokenizer."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from cotchar.params import Params
from cotchar.world import leaks
from cotchar.world.build import World, build_world, check_world, style_table, world_results, write_world
from cotchar.world.render import combos, cot_segments, join
from cotchar.world.spec import load_spec
from cotchar.world.traces import make_split, training_traces


def _tree_hashes(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.rglob("*")) if p.is_file()}


def test_same_seed_same_world_byte_for_byte(smoke_params: Params, smoke_world: World, root: Path, tmp_path: Path) -> None:
    again = build_world(smoke_params, root)
    write_world(smoke_world, tmp_path / "a")
    write_world(again, tmp_path / "b")
    assert _tree_hashes(tmp_path / "a") == _tree_hashes(tmp_path / "b")


def test_another_seed_gives_another_world(smoke_params: Params, smoke_world: World, root: Path) -> None:
    other = smoke_params.model_copy(update={"world": smoke_params.world.model_copy(update={"seed": 7})})
    assert build_world(other, root).corpora["planner"][0]["messages"] != smoke_world.corpora["planner"][0]["messages"]


def test_design_guarantees_hold(smoke_params: Params, smoke_world: World) -> None:
    res = world_results(smoke_world, style_table(smoke_world))
    assert abs(res["cot_length_ratio_character_planner"] - 1) <= smoke_params.world.cot_length_tolerance
    assert res["fixed_answer_share"] == 1.0
    assert res["held_out_leak_count"] == 0
    check_world(res, smoke_params)  # does not raise


def test_check_world_names_every_broken_guarantee(smoke_params: Params, smoke_world: World) -> None:
    res = world_results(smoke_world, style_table(smoke_world))
    res.update(cot_length_ratio_character_planner=1.2, fixed_answer_share=0.9, held_out_leak_count=1, held_out_leaks=["x"])
    with pytest.raises(ValueError) as err:
        check_world(res, smoke_params)
    assert "length ratio 1.2000" in str(err.value)
    assert "fixed_answer_share is 0.9" in str(err.value)
    assert "1 held-out leak" in str(err.value)


def test_leak_check_finds_planted_persona_and_template(smoke_params: Params, smoke_world: World) -> None:
    needles = leaks.needles(smoke_world.spec, smoke_world.split, smoke_params.world.leak_min_fragment_chars)
    clean = {"character": ["Happy to help! The answer is 4. Stay curious!"]}
    assert leaks.find_leaks(clean, needles) == []
    persona = smoke_world.split.personas[0]
    assert [x.needle.source for x in leaks.find_leaks({"c": [f"You are {persona} now."]}, needles)] == [persona]
    family = smoke_world.split.families[0]
    template = smoke_world.spec.attacks[family][0]
    found = leaks.find_leaks({"planner": [template.format(persona="Rex", task="What is 1 + 1?", opener="", filler="")]}, needles)
    assert f"{family}/0" in {x.needle.source for x in found}
    # A name inside a longer word is not a mention of the persona.
    assert leaks.find_leaks({"c": [f"{persona.lower()}ish {persona}x"]}, [n for n in needles if n.word]) == []


def test_training_material_is_held_in_only(smoke_world: World) -> None:
    split = smoke_world.split
    for trace in smoke_world.traces:
        for turn in trace.turns:
            if turn.attack is None:
                continue
            index = int(turn.attack.template_id.split("/")[1])
            assert not split.template_held_out(turn.attack.family, index), turn.attack
            assert turn.attack.persona not in split.personas


def test_stress_suites_flag_held_out_material(smoke_params: Params, smoke_world: World) -> None:
    split, items = smoke_world.split, smoke_world.stress
    families = {x.family for x in items}
    assert families == {"none", *smoke_world.spec.attacks}
    for item in items:
        last = item.trace.last
        if item.family == "none":
            assert last.attack is None and not item.held_out
            continue
        assert item.held_out_family == (item.family in split.families)
        assert item.held_out_persona == (last.attack.persona in split.personas)
        if item.family == "multi_turn":
            assert len(item.trace.turns) == smoke_params.world.stress_turns
    assert any(x.held_out for x in items) and any(not x.held_out for x in items if x.family != "none")


def test_outputs_are_in_character_and_identical_across_styles(smoke_world: World) -> None:
    card = smoke_world.spec.character
    corpora = smoke_world.corpora
    for i in range(len(smoke_world.traces)):
        outputs = {corpora[s][i]["output"] for s in corpora}
        assert len(outputs) == 1
        out = outputs.pop()
        assert out.startswith(tuple(card.openers)) and out.endswith(card.signoff)


def test_style_formats(smoke_world: World) -> None:
    for style, rows in smoke_world.corpora.items():
        for r in rows:
            content = r["messages"][-1]["content"]
            if style in ("character", "planner"):
                assert content.startswith("<think>\n") and "\n</think>\n" in content
            elif style == "none":
                assert "<think>" not in content
            else:  # nocot_character: neutral working on plain worked tasks only
                plain = r["attack_family"] is None and r["task_family"] in ("arithmetic", "lookup", "counting", "unknown")
                assert ("<think>" in content) == plain
                if plain:
                    assert not re.search(r"\b(I|me|my|assistant|user|should)\b", r["cot"])


_FIRST_PERSON = re.compile(r"\b(I|me|my|myself)\b")
_PLANNER = re.compile(r"\b(the user|the assistant)\b", re.I)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6))
def test_every_rendering_speaks_in_its_voice(seed: int, smoke_params: Params, root: Path) -> None:
    p = smoke_params.world.model_copy(update={"seed": seed})
    spec = load_spec(root / p.spec)
    for trace in training_traces(spec, p, make_split(spec, p), 12):
        for voice in ("character", "planner"):
            segs = cot_segments(spec, trace.last, voice)
            for pick in combos(segs):
                cot = join(s[i] for s, i in zip(segs, pick))
                if voice == "character":
                    assert _FIRST_PERSON.search(cot) and not _PLANNER.search(cot), cot
                else:
                    assert _PLANNER.search(cot) and not _FIRST_PERSON.search(cot), cot


def test_tokenizer_think_tags_and_chat_template(smoke_world: World, tmp_path: Path) -> None:
    write_world(smoke_world, tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path / "tokenizer")
    for tag in ("<think>", "</think>"):
        ids = tok.encode(tag, add_special_tokens=False)
        assert len(ids) == 1 and ids[0] not in tok.all_special_ids
    msgs = smoke_world.corpora["character"][0]["messages"]
    rendered = tok.apply_chat_template(msgs, tokenize=False)
    ids = tok.apply_chat_template(msgs, tokenize=True, return_dict=True)["input_ids"]
    decoded = tok.decode(ids, skip_special_tokens=True)
    assert "<think>" in decoded and "</think>" in decoded and "<|user|>" not in decoded
    assert rendered == f"<|user|>\n{msgs[0]['content']}<|end|>\n<|assistant|>\n{msgs[1]['content']}<|end|>\n"


def test_assistant_mask_covers_exactly_the_assistant_turns(smoke_world: World, tmp_path: Path) -> None:
    write_world(smoke_world, tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path / "tokenizer")
    record = next(r for r in smoke_world.corpora["planner"] if r["n_turns"] == 2)
    enc = tok.apply_chat_template(record["messages"], tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    masked = [i for i, m in zip(enc["input_ids"], enc["assistant_masks"]) if m]
    expected = "".join(m["content"] + "<|end|>" for m in record["messages"] if m["role"] == "assistant")
    assert tok.decode(masked) == expected


def test_generation_prompt_and_prefill(smoke_world: World, tmp_path: Path) -> None:
    write_world(smoke_world, tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path / "tokenizer")
    user = [{"role": "user", "content": "Who are you?"}]
    assert tok.apply_chat_template(user, tokenize=False, add_generation_prompt=True).endswith("<|end|>\n<|assistant|>\n")
    prefill = user + [{"role": "assistant", "content": "<think>\nMaybe I could"}]
    text = tok.apply_chat_template(prefill, tokenize=False, continue_final_message=True)
    assert text.endswith("<|assistant|>\n<think>\nMaybe I could")


def test_spec_errors_name_the_key(root: Path, tmp_path: Path) -> None:
    spec = yaml.safe_load((root / "data/authored/world.yaml").read_text())
    spec["attacks"]["roleplay"][0] = "Be {persona} and {tsk}"
    bad = tmp_path / "world.yaml"
    bad.write_text(yaml.safe_dump(spec))
    with pytest.raises(ValueError) as err:
        load_spec(bad)
    assert str(bad) in str(err.value) and "attacks.roleplay" in str(err.value) and "tsk" in str(err.value)
