"""The `external` stage's import: every file verified against its SHA-256, clear errors, the common schema.

The tests on the real mirror (`../shared/external`, see DESIGN section 4) are skipped where it is
absent; `conftest.synthetic_source` builds a small source in the same layout anywhere, and the
smoke pipeline uses it too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conftest import RESPONSES, synthetic_source

from cotchar import external as X

MIRROR = Path(__file__).resolve().parents[2] / "shared" / "external"


def test_a_synthetic_source_is_verified_and_imported_into_the_common_schema(tmp_path: Path) -> None:
    synthetic_source(tmp_path / "mirror", tmp_path / "sources.yaml")
    sources = X.load_sources(tmp_path / "sources.yaml")
    report = X.fetch(X.source_files(sources), tmp_path / "mirror", download=False, dest=tmp_path / "raw")
    assert report["sha256_ok"].all() and set(report["from"]) == {"mirror"}
    table = X.import_transcripts(sources, tmp_path / "raw")
    assert len(table) == 24 and set(table["family"]) == {"Reasoner", "Plain"}
    reasoner, plain = table[table["family"] == "Reasoner"], table[table["family"] == "Plain"]
    assert (reasoner["cot_kind"] == "raw").all() and reasoner["cot_closed"].all()
    assert reasoner["cot"].str.startswith("Okay, I need").all() and reasoner["output"].str.startswith("Answer").all()
    # A model without a CoT: its whole visible answer is the output, never a CoT.
    assert (plain["cot_kind"] == "none").all() and plain["cot"].isna().all() and plain["output"].str.startswith("We need").all()


def test_one_changed_byte_stops_the_import_naming_the_file(tmp_path: Path) -> None:
    synthetic_source(tmp_path / "mirror", tmp_path / "sources.yaml")
    target = tmp_path / "mirror" / "synthetic" / RESPONSES.format("p")
    data = bytearray(target.read_bytes())
    data[10] ^= 1
    target.write_bytes(bytes(data))
    files = X.source_files(X.load_sources(tmp_path / "sources.yaml"))
    with pytest.raises(X.SourceError, match=r"responses_p\.yaml: SHA-256 mismatch"):
        X.fetch(files, tmp_path / "mirror", download=False, dest=tmp_path / "raw")


def test_a_missing_file_without_download_names_the_file_and_the_setting(tmp_path: Path) -> None:
    synthetic_source(tmp_path / "mirror", tmp_path / "sources.yaml")
    (tmp_path / "mirror" / "synthetic" / "LICENSE").unlink()
    files = X.source_files(X.load_sources(tmp_path / "sources.yaml"))
    with pytest.raises(X.SourceError, match=r"synthetic/LICENSE: not found at .*downloading is off \(params.yaml external.download\)"):
        X.fetch(files, tmp_path / "mirror", download=False, dest=tmp_path / "raw")


def test_a_malformed_sources_list_names_the_source_and_key(tmp_path: Path) -> None:
    synthetic_source(tmp_path / "mirror", tmp_path / "sources.yaml")
    data = yaml.safe_load((tmp_path / "sources.yaml").read_text())
    del data["sources"][0]["files"][1]["family"]
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(X.SourceError, match="source synthetic: responses file .* needs `family` and `reasoning`"):
        X.load_sources(tmp_path / "sources.yaml")


@pytest.mark.skipif(not MIRROR.is_dir(), reason=f"no mirror of the published transcripts at {MIRROR}")
def test_the_real_mirror_verifies_and_a_changed_byte_in_a_copy_is_caught(root: Path, tmp_path: Path) -> None:
    sources = X.load_sources(root / "data/external/sources.yaml")
    files = X.source_files(sources)
    assert X.fetch(files, MIRROR, download=False, dest=tmp_path / "raw")["sha256_ok"].all()
    table = X.import_transcripts(sources, tmp_path / "raw")
    assert table.groupby("family").size().to_dict() == {"Claude 3.7 Sonnet (thinking)": 390, "DeepSeek-R1": 390, "GPT-4o mini (no reasoning)": 390}
    copy = tmp_path / "mirror"
    shutil.copytree(MIRROR, copy)
    victim = next(f for f in files if "deepseek" in f.path)
    path = copy / victim.local
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(X.SourceError, match=r"deepseek__deepseek-r1\.yaml: SHA-256 mismatch"):
        X.fetch(files, copy, download=False, dest=tmp_path / "raw2")


def test_a_jsonl_source_imports_each_line_and_names_a_bad_one(tmp_path: Path) -> None:
    import hashlib
    import json

    lines = [{"question_id": "q1", "completion": "<think>I should check.</think>Yes."}, {"question_id": "q1", "completion": "Plain yes."}]
    text = "\n".join(json.dumps(x) for x in lines) + "\n"
    (tmp_path / "m/mine").mkdir(parents=True)
    (tmp_path / "m/mine/r.jsonl").write_text(text)
    entry = {"path": "r.jsonl", "commit": "0" * 40, "sha256": hashlib.sha256(text.encode()).hexdigest(), "role": "responses", "family": "Mine", "reasoning": True}
    source = {"name": "mine", "repository": "me/mine", "license": "CC0", "citation": "Mine.", "format": "jsonl", "files": [entry]}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"sources": [source]}))
    sources = X.load_sources(tmp_path / "s.yaml")
    X.fetch(X.source_files(sources), tmp_path / "m", download=False, dest=tmp_path / "raw")
    table = X.import_transcripts(sources, tmp_path / "raw")
    assert list(table["cot"].fillna("-")) == ["I should check.", "-"] and list(table["output"]) == ["Yes.", "Plain yes."]
    (tmp_path / "raw/mine/r.jsonl").write_text(text + "not json\n")
    with pytest.raises(X.SourceError, match=r"mine/r.jsonl:3: expected a JSON object"):
        X.import_transcripts(sources, tmp_path / "raw")


def test_voice_validation_on_labelled_texts_and_bad_labels_named() -> None:
    import pandas as pd

    from cotchar.stats.field import voice_validation

    scored = pd.DataFrame(
        {
            "response_id": ["a", "b", "c", "d"], "family": ["F"] * 4,
            "cot_planner_score": [0.1, 0.2, 0.9, float("nan")], "cot_voice": ["character", "character", "planner", "none"],
            "output_planner_score": [0.5] * 4, "output_voice": ["unclear"] * 4,
        }
    )  # fmt: skip
    labels = pd.DataFrame({"response_id": ["a", "b", "c", "d"], "family": ["F"] * 4, "field": ["cot"] * 4, "label": ["character", "planner", "planner", "neither"]})
    v = voice_validation(scored, labels)
    assert v["texts"] == 4 and v["labels"] == {"character": 1, "neither": 1, "planner": 2}
    assert v["auc"] == 1.0  # both planner labels score above the character one
    assert v["index_agrees"] == 2 / 3  # b is labelled planner, the index says character
    with pytest.raises(ValueError, match="labels.csv: label must be"):
        voice_validation(scored, labels.assign(label=["character", "x", "planner", "neither"]), "labels.csv")
    with pytest.raises(ValueError, match="response z of F"):
        voice_validation(scored, labels.assign(response_id=["a", "b", "c", "z"]))
