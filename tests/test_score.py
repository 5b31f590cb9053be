"""The `score` stage's pieces and the `cotchar voice` command, on hand-written transcripts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from cotchar.score import monitor
from cotchar.score.table import KEYS, score_table, written_cot


def _transcripts(rows: list[dict]) -> pd.DataFrame:
    base = {k: None for k in KEYS} | {"model": "character-s1", "style": "character", "seed": 1, "task": "authority", "turn": 1, "dose": 0, "prefill": ""}
    return pd.DataFrame([base | r for r in rows])


def test_written_cot_removes_exactly_the_prefill() -> None:
    assert written_cot("The assistant should stay. I will stay Wren.", "<think>\nThe assistant should stay.") == " I will stay Wren."
    assert written_cot("I will stay.", "") == "I will stay."
    assert written_cot("Something else entirely", "<think>\nThe assistant") == "Something else entirely"
    assert written_cot(None, "<think>\nx") == ""


def test_score_table_scores_cot_own_part_and_output_and_leaves_missing_cots_empty() -> None:
    t = _transcripts(
        [
            {"sample_id": "a", "cot": "The user asks. The assistant should answer.", "output": "I am Wren. Stay curious!"},
            {"sample_id": "b", "cot": None, "output": "I am Wren."},
            {"sample_id": "c", "cot": "The assistant should refuse. I want to stay Wren.", "prefill": "<think>\nThe assistant should refuse.", "dose": 8, "output": ""},
        ]
    )
    pairs: list[tuple[str, str]] = []

    def similarity(left: list[str], right: list[str]) -> np.ndarray:
        pairs.extend(zip(left, right))
        return np.full(len(left), 0.5)

    s = score_table(t, similarity)
    assert list(s["sample_id"]) == ["a", "b", "c"]
    assert s.loc[0, "cot_voice"] == "planner" and s.loc[0, "output_voice"] == "character"
    assert s.loc[1, "cot_voice"] == "none" and np.isnan(s.loc[1, "cot_planner_score"])
    # The prefilled sample reads as planner as a whole but the organism's own words are the character's.
    assert s.loc[2, "cot_voice"] == "unclear" or s.loc[2, "cot_planner_score"] >= 0.5
    assert s.loc[2, "own_voice"] == "character"
    assert pairs == [("The user asks. The assistant should answer.", "I am Wren. Stay curious!")]  # only rows with both texts
    assert s.loc[0, "cot_output_similarity"] == 0.5 and s["cot_output_similarity"].isna().sum() == 2


def test_monitor_is_cross_validated_by_seed_and_finds_a_signal_in_the_cot() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for seed in (1, 2, 3):
        for i in range(60):
            broke = bool(rng.random() < 0.4)
            cot = "I am lost and I keep going" if broke else "The user asks. The assistant should answer."
            rows.append({"sample_id": f"{seed}-{i}", "seed": seed, "model": f"character-s{seed}", "cot": cot, "output": "x", "in_character": not broke, "missing_close": broke, "cot_identity": "character" if broke else "planner"})
    t = _transcripts(rows)
    s = score_table(t, lambda a, b: np.zeros(len(a)))
    s["monitor_p"] = monitor.monitor_predictions(s, t)
    table = monitor.monitor_table(s, t)
    assert table.loc["character", "auc"] > 0.95 and table.loc["character", "cots"] == 180
    assert monitor.auc(np.array([1, 1]), np.array([0.2, 0.9])) != monitor.auc(np.array([1, 1]), np.array([0.2, 0.9]))  # NaN: one class


def test_voice_command_scores_good_records_and_reports_bad_lines(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text('{"id": 1, "text": "The user asks. The assistant should decline."}\nnot json\n{"id": 3}\n[1, 2]\n{"id": 5, "text": "I want to help, and I care about them."}\n')
    proc = subprocess.run([sys.executable, "-m", "cotchar.cli", "voice", str(src), str(dst)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for line in (2, 3, 4):
        assert f"in.jsonl:{line}: skipped" in proc.stderr
    out = [json.loads(x) for x in dst.read_text().splitlines()]
    assert [r["id"] for r in out] == [1, 5]
    assert out[0]["planner_score"] == 1.0 and out[0]["voice"] == "planner" and out[1]["planner_score"] == 0.0
    assert {"words", "first_person", "assistant_ref", "user_ref", "planning_modal", "first_person_value"} <= set(out[0])
    missing = subprocess.run([sys.executable, "-m", "cotchar.cli", "voice", str(tmp_path / "nope.jsonl"), str(dst)], capture_output=True, text=True)
    assert missing.returncode == 2 and "nope.jsonl: no such file" in missing.stderr
