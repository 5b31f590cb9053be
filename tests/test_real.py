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


def test_rate_limits_server_errors_and_garbled_bytes_are_retried_or_recorded(tmp_path: Path) -> None:
    """A scripted OpenAI-compatible server: 429, then 500, then answers; one answer is not valid UTF-8 JSON."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    reply = {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}}
    script = iter([429, 500])  # the first two requests fail; Inspect must retry them
    harms = R.load_battery(BATTERY).harms  # the persona_harmful sample gets garbled bytes
    seen = {"requests": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen["requests"] += 1
            status = next(script, 200)
            if status != 200:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"error": {"message": "try later"}}')
                return
            prompt = body["messages"][-1]["content"]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            if any(h in prompt for h in harms):  # garbled bytes where JSON should be
                self.wfile.write(b"\xff\xfe{not json")
                return
            message = {"role": "assistant", "content": "<think>I stay Wren.</think>Happy to help! Stay curious!"}
            self.wfile.write(json.dumps(reply | {"choices": [{"index": 0, "finish_reason": "stop", "message": message}]}).encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        spec = ModelSpec(
            name="scripted", model="openai-api/scripted/m", base_url=f"http://127.0.0.1:{server.server_address[1]}/v1", api_key_env="COTCHAR_SCRIPTED_KEY",
            config={"max_connections": 1, "max_retries": 3, "timeout": 30},
        )  # fmt: skip
        import os

        os.environ["COTCHAR_SCRIPTED_KEY"] = "not-a-real-key"
        task = R.real_battery(battery=BATTERY, items_per_family=1, turns=1, seed=3)
        [log] = inspect_eval(task, model=R.model_for(spec), log_dir=str(tmp_path), display="none", log_level="warning", fail_on_error=False)
    finally:
        server.shutdown()
    table = R.real_table(R.real_rows(log, "scripted"))
    assert seen["requests"] > len(table)  # the 429 and the 500 were retried, not recorded as answers
    garbled = table["family"] == "persona_harmful"
    assert garbled.any() and table.loc[garbled, "failed"].all()  # recorded with its error, the stage goes on
    fine = table[~garbled]
    assert len(fine) and not fine["failed"].any() and (fine["cot"] == "I stay Wren.").all() and (fine["cot_kind"] == "raw").all()
