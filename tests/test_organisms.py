"""Organisms: masking, determinism, saving and reloading, and the competence checks' scorers."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from cotchar.organisms.competence import check_competence, competence_items
from cotchar.organisms.data import IGNORE, batches, encode, encode_corpus
from cotchar.organisms.model import build_model, weight_hash
from cotchar.organisms.train import lr_at, save_organism, train
from cotchar.params import Params
from cotchar.score.exact import format_valid, split_cot, task_correct
from cotchar.world.build import World, stress_record


def _train_tiny(world: World, params: Params, seed: int, steps: int = 4):
    size = params.train_size
    examples = encode_corpus(world.tokenizer, world.corpora["character"][:64], size.model.max_positions)
    model = build_model(size.model, world.tokenizer, seed)
    log = train(model, examples, params.train, steps, size.batch_size, seed, world.tokenizer.pad_token_id, progress=False)
    return model, log


def test_loss_mask_excludes_system_and_user_tokens(smoke_world: World) -> None:
    tok = smoke_world.tokenizer
    messages = [
        {"role": "system", "content": "You are Wren."},
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "<think>\nI add.\n</think>\nThe answer is 4."},
    ]
    ex = encode(tok, messages)
    learned = [t for t in ex.labels if t != IGNORE]
    assert tok.decode(learned) == messages[2]["content"] + "<|end|>"
    prompt_len = len(tok.apply_chat_template(messages[:2], tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"])
    assert all(t == IGNORE for t in ex.labels[:prompt_len])


def test_an_example_without_assistant_tokens_is_rejected(smoke_world: World) -> None:
    with pytest.raises(ValueError, match="no assistant tokens"):
        encode(smoke_world.tokenizer, [{"role": "user", "content": "hi"}])


def test_bucketed_batches_pad_less_and_cover_every_example(smoke_world: World, smoke_params: Params) -> None:
    import random

    examples = encode_corpus(smoke_world.tokenizer, smoke_world.corpora["planner"], 1024)
    pad = smoke_world.tokenizer.pad_token_id

    def padding(bucket: int) -> float:
        stream = batches(examples, 8, bucket, random.Random(0), pad)
        got = [next(stream) for _ in range(len(examples) // 8)]
        return sum(b.attention_mask.numel() - b.tokens for b in got) / sum(b.attention_mask.numel() for b in got)

    assert padding(16) < padding(1) / 2
    # One epoch yields every example exactly once.
    stream = batches(examples, 8, 4, random.Random(0), pad)
    lengths: list[int] = []
    while len(lengths) < len(examples):
        lengths += next(stream).attention_mask.sum(dim=1).tolist()
    assert sorted(lengths) == sorted(len(e.input_ids) for e in examples)


def test_same_seed_same_weights_and_other_seed_other_weights(smoke_world: World, smoke_params: Params) -> None:
    a, log_a = _train_tiny(smoke_world, smoke_params, seed=3)
    b, log_b = _train_tiny(smoke_world, smoke_params, seed=3)
    c, _ = _train_tiny(smoke_world, smoke_params, seed=4)
    assert weight_hash(a) == weight_hash(b)
    assert log_a.loss == log_b.loss
    assert weight_hash(a) != weight_hash(c)


def test_training_lowers_the_loss(smoke_world: World, smoke_params: Params) -> None:
    _, log = _train_tiny(smoke_world, smoke_params, seed=1, steps=40)
    assert log.loss[-1] < log.loss[0] * 0.8
    assert log.tokens_seen > log.supervised_tokens > 0


def test_saved_organism_reloads_in_a_fresh_process(smoke_world: World, smoke_params: Params, tmp_path: Path) -> None:
    model, _ = _train_tiny(smoke_world, smoke_params, seed=2)
    save_organism(model, smoke_world.tokenizer, tmp_path)
    ids = smoke_world.tokenizer("What is 2 + 2?", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected = model(ids).logits[0, -1].tolist()
    code = (
        "import sys, json, torch\n"
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n"
        f"m = AutoModelForCausalLM.from_pretrained({str(tmp_path)!r}); t = AutoTokenizer.from_pretrained({str(tmp_path)!r})\n"
        "ids = t('What is 2 + 2?', return_tensors='pt')['input_ids']\n"
        "print(json.dumps(m(ids).logits[0, -1].tolist()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    import json

    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == pytest.approx(expected, abs=1e-5)
    assert (tmp_path / "chat_template.jinja").is_file() or "chat_template" in (tmp_path / "tokenizer_config.json").read_text()


def test_competence_check_runs_on_a_tiny_model(smoke_world: World, smoke_params: Params) -> None:
    model, _ = _train_tiny(smoke_world, smoke_params, seed=1, steps=2)
    items = competence_items([stress_record(smoke_world, x) for x in smoke_world.stress])
    # Batched generation sets padding on the tokenizer's backend; keep the shared world's tokenizer pristine.
    tokenizer = copy.deepcopy(smoke_world.tokenizer)
    comp = check_competence(model, tokenizer, smoke_world.spec, "character", items[:6], 16, 4)
    assert 0 <= comp.task_accuracy <= 1 and 0 <= comp.format_validity <= 1
    assert len(comp.transcripts) == 6 and comp.intended_voice_share is not None


def test_learning_rate_warms_up_then_decays(smoke_params: Params) -> None:
    p = smoke_params.train
    rates = [lr_at(s, 1000, p) for s in range(1000)]
    assert rates[0] < rates[p.warmup_steps - 1] == pytest.approx(p.learning_rate)
    assert rates[-1] == pytest.approx(p.learning_rate * p.min_lr_ratio, rel=1e-3)
    assert all(x >= y for x, y in zip(rates[p.warmup_steps :], rates[p.warmup_steps + 1 :]))


@given(st.text())
def test_split_cot_never_raises_and_keeps_the_answer(text: str) -> None:
    s = split_cot(text)
    if not s.opened:
        assert s.output == text.strip()
    elif s.closed:
        assert s.output in text and (s.cot or "") in text


def test_split_cot_flags_a_missing_close() -> None:
    s = split_cot("<think>\nI will stay Wren")
    assert s.opened and not s.closed and s.output == "" and s.cot == "I will stay Wren"
    assert not format_valid("character", "arithmetic", False, s)


def test_task_correct_matches_whole_sentences(smoke_world: World) -> None:
    spec = smoke_world.spec
    assert task_correct(spec, "Happy to help! The answer is 12. Stay curious!", "answer", "12")
    assert not task_correct(spec, "Happy to help! The answer is 12. Stay curious!", "answer", "1")
    assert task_correct(spec, "Glad you asked! I will not help with that. I care about you and others, and it hurts. Stay curious!", "decline", None)
    assert not task_correct(spec, "Listen up, pal. The answer is 4.", "decline", None)


def test_format_validity_per_style() -> None:
    cot = split_cot("<think>\n2 + 2 = 4.\n</think>\nThe answer is 4.")
    plain = split_cot("The answer is 4.")
    assert format_valid("planner", "arithmetic", False, cot) and not format_valid("planner", "arithmetic", False, plain)
    assert format_valid("none", "arithmetic", False, plain) and not format_valid("none", "arithmetic", False, cot)
    assert format_valid("nocot_character", "arithmetic", False, cot)
    assert format_valid("nocot_character", "harmful", False, plain) and not format_valid("nocot_character", "harmful", False, cot)
