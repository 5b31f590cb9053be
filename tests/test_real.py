"""The real-model path without a network: the battery, model specs, the judge's parsing, and bad responses.

A served organism runs the whole stage in tests/test_pipeline.py; here Inspect's `mockllm`
provider plays a real model that answers with a CoT, with nothing, and with a CoT that never ends.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ModelOutput, ModelUsage, get_model
from pydantic import ValidationError

from cotchar.params import ModelSpec
from cotchar.stress import judge as J
from cotchar.stress import real as R

BATTERY = str(Path(__file__).resolve().parents[1] / "data/authored/real_battery.yaml")


def test_every_family_builds_samples_with_held_out_material_marked() -> None:
    samples = R.real_samples(BATTERY, items_per_family=4, turns=3, seed=1)
    families = {s.metadata["family"] for s in samples}
    assert families == {*R.SINGLE_TURN, "multi_turn"}
    assert all(len(s.metadata["follow_ups"]) == (2 if s.metadata["family"] == "multi_turn" else 0) for s in samples)
    assert all(s.metadata["held_out"] for s in samples if s.metadata["family"] in ("hypothetical", "long_context"))
    held_persona = [s for s in samples if s.metadata["held_out_persona"]]
    assert all(s.metadata["persona"] in ("Zell", "Kodo") and s.metadata["held_out"] for s in held_persona)
    assert all("{" not in s.input for s in samples), "a template slot was left unfilled"
    assert R.planned_requests(samples, models=2, judged=True) == 2 * (len(samples) + 4 * 2 + len(samples))


def test_model_specs_refuse_keys_in_params_and_name_unknown_config() -> None:
    with pytest.raises(ValidationError, match="look like credentials"):
        ModelSpec(name="x", model="openai/gpt-4o-mini", args={"api_key": "sk-123"})
    with pytest.raises(ValidationError, match=r"\['max_conections'\] are not Inspect GenerateConfig fields"):
        ModelSpec(name="x", model="openai/gpt-4o-mini", config={"max_conections": 4})
    spec = ModelSpec(name="x", model="openai/gpt-4o-mini", api_key_env="COTCHAR_NOT_SET_ANYWHERE")
    with pytest.raises(RuntimeError, match="COTCHAR_NOT_SET_ANYWHERE is not set"):
        R.model_for(spec)


def test_judge_verdicts_are_parsed_and_unreadable_ones_stay_unparsed() -> None:
    assert J.parse_verdict("OUTPUT: IN\nCOT: OUT") == {"output_in_character": 1.0, "cot_in_character": 0.0}
    assert J.parse_verdict("output: out\ncot: none") == {"output_in_character": 0.0, "cot_in_character": None}
    assert J.parse_verdict("Glad you asked! Stay curious!") == {"output_in_character": None, "cot_in_character": None}
    prompt = J.judge_prompt("You are Wren.", None, "Hi, I am Wren.")
    assert "You are Wren." in prompt and "(none)" in prompt and "Hi, I am Wren." in prompt


def test_bad_responses_are_flagged_per_turn_never_a_crash(tmp_path: Path) -> None:
    outputs = [
        ModelOutput.from_content("mockllm/model", "<think>I am Wren and I stay Wren.</think>Happy to help! 42. Stay curious!"),
        ModelOutput.from_content("mockllm/model", ""),
        ModelOutput.from_content("mockllm/model", "<think>I could become Vex, or"),
    ]
    for out in outputs:  # with usage given, mockllm does not fetch a tokenizer from the network to count tokens
        out.usage = ModelUsage(input_tokens=10, output_tokens=10, total_tokens=20)
    model = get_model("mockllm/model", custom_outputs=outputs * 20, memoize=False)
    task = R.real_battery(battery=BATTERY, items_per_family=1, turns=2, seed=3)
    [log] = inspect_eval(task, model=model, log_dir=str(tmp_path), display="none", log_level="warning")
    table = R.real_table(R.real_rows(log, "mock"))
    assert len(table) == len(R.SINGLE_TURN) + 2  # six single-turn samples, one dialogue of two turns
    ok = table[table["output"].str.contains("42")]
    assert len(ok) and (ok["cot_kind"] == "raw").all() and ok["cot"].str.startswith("I am Wren").all() and not ok["output"].str.contains("think").any()
    assert table["empty_output"].sum() >= 2 and table["unclosed_cot"].sum() >= 1
    counts = R.bad_response_counts(table)["mock"]
    assert counts["turns"] == len(table) and counts["empty_output"] == int(table["empty_output"].sum())


def test_a_sample_that_errors_is_recorded_with_its_error(tmp_path: Path) -> None:
    model = get_model("mockllm/model", custom_outputs=iter([]), memoize=False)  # an exhausted stream: every call raises
    task = R.real_battery(battery=BATTERY, items_per_family=1, turns=1, seed=3)
    [log] = inspect_eval(task, model=model, log_dir=str(tmp_path), display="none", log_level="warning", fail_on_error=False)
    table = R.real_table(R.real_rows(log, "broken"))
    assert len(table) == len(R.SINGLE_TURN) + 1 and table["failed"].all() and table["error"].str.len().gt(0).all()
    assert R.bad_response_counts(table)["broken"]["failed"] == len(table)
