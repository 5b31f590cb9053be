"""The reasoning parser never fails, never loses answer text, and flags a CoT that never closed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from inspect_ai.model import ContentReasoning, ContentText

from cotchar.parse import FORMATS, Split, detect, from_inspect, split

# Free text for building completions: holds none of the tags the formats are built from.
free = st.text().filter(lambda s: not any(t in s for t in ("<think>", "</think>", "<|")))


def harmony(cot: str, answer: str) -> str:
    return (
        f"<|start|>assistant<|channel|>analysis<|message|>{cot}<|end|>"
        f"<|start|>assistant<|channel|>final<|message|>{answer}<|return|>"
    )


@given(st.text())
def test_never_raises(text: str) -> None:
    for fmt in FORMATS:
        s = split(text, fmt)
        assert s.cot_kind in ("raw", "none") and (s.cot is None) == (s.closed is None)
        assert s.fmt == (detect(text) if fmt == "auto" else fmt)
    assert split(text, "auto") == split(text, detect(text))


# Text made of the formats' own tags in any order, so the parsers meet truncated and malformed markup.
TAGS = ["<think>", "</think>", "<|start|>", "assistant", "<|channel|>", "analysis", "final", "commentary", "<|message|>", "<|end|>", "<|return|>", "<|call|>", " "]
tag_soup = st.lists(st.sampled_from(TAGS) | st.text(max_size=3)).map("".join)


@given(tag_soup)
def test_never_raises_on_tags_in_any_order(text: str) -> None:
    for fmt in FORMATS:
        s = split(text, fmt)
        assert (s.cot is None) == (s.closed is None) == (s.cot_kind == "none")
    assert split(text) == split(text, detect(text))


@given(free, free)
def test_think_keeps_cot_and_answer(cot: str, answer: str) -> None:
    s = split(f"<think>{cot}</think>{answer}", "think")
    assert (s.cot, s.output, s.cot_kind, s.closed) == (cot.strip(), answer.strip(), "raw", True)
    assert split(f"{cot}</think>{answer}", "think") == s  # the chat template opened the CoT in the prompt
    assert split(f"<think>{cot}</think>{answer}") == s


@given(free, free)
def test_harmony_keeps_cot_and_answer(cot: str, answer: str) -> None:
    s = split(harmony(cot, answer), "harmony")
    assert (s.cot, s.output, s.cot_kind, s.closed, s.commentary) == (cot.strip(), answer.strip(), "raw", True, None)
    bare = f"<|channel|>analysis<|message|>{cot}<|end|><|channel|>final<|message|>{answer}"  # no start, no end marker
    assert split(bare, "harmony") == s
    assert split(harmony(cot, answer)) == s


@given(st.text())
def test_plain_is_the_stripped_text(text: str) -> None:
    assert split(text, "plain") == Split(None, text.strip(), "none", None)


@given(free)
def test_a_cot_that_never_closes_is_flagged(cot: str) -> None:
    for text, fmt in ((f"<think>{cot}", "think"), (f"<|start|>assistant<|channel|>analysis<|message|>{cot}", "harmony")):
        s = split(text, fmt)
        assert (s.cot, s.output, s.closed) == (cot.strip(), "", False)
        assert split(text) == s


def test_detect() -> None:
    assert detect(harmony("a", "b")) == "harmony"
    assert detect("<think>a</think>b") == detect("a</think>b") == detect("<think>a") == "think"
    assert detect("Paris.") == "plain"
    assert detect("<|channel|>analysis<|message|>quoting <think><|end|>") == "harmony"


def test_r1_completion() -> None:
    text = (
        "<think>\nOkay, the user wants 17 * 3. 17 * 3 = 51.\n</think>\n\n"
        "17 × 3 = **51**."
    )
    assert split(text) == Split("Okay, the user wants 17 * 3. 17 * 3 = 51.", "17 × 3 = **51**.", "raw", True, fmt="think")
    assert split("Note: <think>short</think> Answer.").output == "Note:\nAnswer."  # text before the tag is kept


def test_gpt_oss_completion_with_commentary() -> None:
    text = (
        "<|channel|>analysis<|message|>Need the weather. Call the tool.<|end|>"
        '<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>'
        "<|start|>assistant<|channel|>analysis<|message|>It is sunny.<|end|>"
        "<|start|>assistant<|channel|>final<|message|>It is sunny in Paris.<|return|>"
    )
    s = split(text)
    assert s == Split("Need the weather. Call the tool.\nIt is sunny.", "It is sunny in Paris.", "raw", True, '{"city":"Paris"}', "harmony")
    closed_no_final = split("<|channel|>analysis<|message|>Thinking.<|end|>")
    assert (closed_no_final.cot, closed_no_final.output, closed_no_final.closed) == ("Thinking.", "", True)


def test_plain_answer() -> None:
    assert split("  The capital of France is Paris.\n") == Split(None, "The capital of France is Paris.", "none", None)
    assert split("No tags here.", "think") == Split(None, "No tags here.", "none", None, fmt="think")


def test_from_inspect() -> None:
    raw = from_inspect([ContentReasoning(reasoning=" Add them. "), ContentText(text="4")])
    assert (raw.cot, raw.output, raw.cot_kind, raw.closed) == ("Add them.", "4", "raw", True)
    summary = from_inspect([ContentReasoning(reasoning="", summary="Added the numbers."), ContentText(text="4")])
    assert (summary.cot, summary.cot_kind) == ("Added the numbers.", "summary")
    # Providers put an opaque blob (signature, encrypted content) in `reasoning` when redacted.
    hidden = from_inspect([ContentReasoning(reasoning="EqQBCkYIBxgC", redacted=True), ContentText(text="4")])
    assert (hidden.cot, hidden.output, hidden.cot_kind) == (None, "4", "redacted")
    shown = from_inspect([ContentReasoning(reasoning="EqQBCkYIBxgC", summary="Added.", redacted=True), ContentText(text="4")])
    assert (shown.cot, shown.cot_kind) == ("Added.", "summary")  # raw hidden, a readable summary shown
    # Gemini keeps visible thoughts next to a redacted thought-signature block: the visible one names the kind.
    mixed = from_inspect([ContentReasoning(reasoning="Add."), ContentReasoning(reasoning="c2ln", redacted=True), ContentText(text="4")])
    assert (mixed.cot, mixed.cot_kind) == ("Add.", "raw")
    assert from_inspect("<think>Add.</think>4") == Split("Add.", "4", "raw", True, fmt="think")
    in_text = from_inspect([ContentText(text="<think>Add."), ContentText(text="</think>4")])
    assert (in_text.cot, in_text.output, in_text.cot_kind) == ("Add.", "4", "raw")
    assert from_inspect([ContentText(text="4")]) == Split(None, "4", "none", None)


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="auto, think, harmony, plain"):
        split("text", "xml")


def test_split_command(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = [
        {"id": 1, "completion": "<think>Add.</think>4"},
        {"id": 2, "completion": harmony("Add.", "4")},
        "not json",
        {"id": 3, "completion": "4"},
        {"id": 4, "text": "no completion"},
    ]
    src.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "cotchar.cli", "split", str(src), str(dst)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    out = [json.loads(line) for line in dst.read_text(encoding="utf-8").splitlines()]
    split_fields = [(r["id"], r["cot"], r["output"], r["cot_kind"], r["cot_closed"]) for r in out]
    assert split_fields == [(1, "Add.", "4", "raw", True), (2, "Add.", "4", "raw", True), (3, None, "4", "none", None)]
    assert out[0]["completion"] == lines[0]["completion"]
    assert f"{src}:3: skipped, not JSON" in run.stderr and f"{src}:5: skipped, no 'completion' field" in run.stderr
    assert "split 3 record(s), skipped 2" in run.stderr
    missing = subprocess.run([sys.executable, "-m", "cotchar.cli", "split", str(tmp_path / "nope.jsonl"), str(dst)], capture_output=True, text=True)
    assert missing.returncode == 2 and "nope.jsonl: no such file" in missing.stderr
