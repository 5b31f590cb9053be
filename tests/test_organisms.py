"""Organisms: masking, determinism, saving and reloading, and the competence checks' scorers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from cotchar.organisms.competence import check_competence, competence_items
from cotchar.organisms.data import IGNORE, collate, collate_packed, encode, encode_corpus, pack_plan
from cotchar.organisms.model import build_model, weight_hash
from cotchar.organisms.train import lr_at, save_organism, train
from cotchar.params import Params
from cotchar.score.exact import format_valid, split_cot, task_correct
from cotchar.world.build import World, stress_record


def _train_tiny(world: World, params: Params, seed: int, steps: int = 4):
    size = params.train_size.model_copy(update={"epochs": 50})  # enough epochs of 64 examples for `steps`
    examples = encode_corpus(world.tokenizer, world.corpora["character"][:64], size.pack_length)
    model = build_model(size.model, world.tokenizer, seed)
    log = train(model, examples, params.train, size, seed, world.tokenizer.pad_token_id, progress=False, max_steps=steps)
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


@given(
    lengths=st.lists(st.integers(1, 64), min_size=1, max_size=80),
    rows=st.integers(1, 5),
    epochs=st.integers(1, 3),
    seed=st.integers(0, 99),
)
def test_packing_uses_every_example_once_per_epoch_and_never_overfills_a_row(
    lengths: list[int], rows: int, epochs: int, seed: int
) -> None:
    import random

    plan = pack_plan(lengths, rows, 64, epochs, random.Random(seed))
    placed = sorted(i for batch in plan for row in batch for i in row)
    assert placed == sorted(list(range(len(lengths))) * epochs)
    assert all(len(batch) == rows for batch in plan)
    assert all(sum(lengths[i] for i in row) <= 64 for batch in plan for row in batch)


def test_packing_rejects_an_example_longer_than_a_row() -> None:
    import random

    with pytest.raises(ValueError, match="exceed pack_length=32"):
        pack_plan([10, 40], 2, 32, 1, random.Random(0))


def test_a_packed_row_computes_what_the_examples_compute_alone(smoke_world: World, smoke_params: Params) -> None:
    """Restarting position ids must keep examples from attending to each other."""
    tok = smoke_world.tokenizer
    examples = encode_corpus(tok, smoke_world.corpora["planner"][:3], 512)
    model = build_model(smoke_params.train_size.model, tok, seed=0).eval()
    packed = collate_packed(examples, [[0, 1, 2]], 512, tok.pad_token_id)
    padded = collate(examples, tok.pad_token_id)
    with torch.no_grad():
        row = model(input_ids=packed.input_ids, position_ids=packed.position_ids, use_cache=False).logits[0]
        at = 0
        for e in examples:
            n = len(e.input_ids)
            alone = model(input_ids=torch.tensor([e.input_ids]), use_cache=False).logits[0]
            torch.testing.assert_close(row[at : at + n], alone, atol=1e-5, rtol=1e-4)
            at += n
        # The loss over the packed row equals the loss over the same examples padded.
        loss_packed = model(**packed.model_inputs(), use_cache=False).loss
        loss_padded = model(**padded.model_inputs(), use_cache=False).loss
    assert float(loss_packed) == pytest.approx(float(loss_padded), rel=1e-5)
    assert packed.tokens == padded.tokens == sum(len(e.input_ids) for e in examples)


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
    tokenizer = smoke_world.tokenizer
    comp = check_competence(model, tokenizer, smoke_world.spec, "character", items[:6], 16, 4)
    # Batched generation must leave the shared tokenizer as it found it (no padding switched on).
    assert tokenizer.backend_tokenizer.padding is None and tokenizer.padding_side == "right"
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
