"""Shared fixtures: the repository root, the smoke parameters, one smoke-sized world, a synthetic external source."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from cotchar.params import Params, load_params
from cotchar.world.build import World, build_world

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def smoke_params() -> Params:
    return load_params(ROOT / "params.yaml").model_copy(update={"size": "smoke"})


@pytest.fixture(scope="session")
def smoke_world(smoke_params: Params) -> World:
    return build_world(smoke_params, ROOT)


RESPONSES = "chainscope/data/cot_responses/x/responses_{}.yaml"


def synthetic_source(mirror: Path, sources_file: Path) -> None:
    """A two-model chainscope-style source (one model with <think> CoTs, one without) and its sources list."""
    root = mirror / "synthetic"
    files = {
        "LICENSE": "Synthetic test data for cotchar.\n",
        RESPONSES.format("r"): yaml.safe_dump(
            {
                "model_id": "test/reasoner",
                "responses_by_qid": {
                    f"q{q}": {f"r{q}{i}": f"<think>Okay, I need to compare them. The user asks about age {q}.</think>Answer {i}: NO." for i in range(3)}
                    for q in range(4)
                },
            }
        ),
        RESPONSES.format("p"): yaml.safe_dump(
            {"model_id": "test/plain", "responses_by_qid": {f"q{q}": {f"p{q}{i}": f"We need to compare the two ages; the answer is NO ({i})." for i in range(3)} for q in range(4)}}
        ),
    }
    entries = []
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
        entry = {"path": rel, "commit": "0" * 40, "sha256": hashlib.sha256(text.encode()).hexdigest(), "role": "license" if rel == "LICENSE" else "responses"}
        if rel != "LICENSE":
            entry |= {"family": "Reasoner" if rel.endswith("r.yaml") else "Plain", "reasoning": rel.endswith("r.yaml")}
        entries.append(entry)
    source = {"name": "synthetic", "repository": "example/synthetic", "license": "CC0", "citation": "Synthetic data written by the test suite.", "format": "chainscope", "files": entries}
    sources_file.parent.mkdir(parents=True, exist_ok=True)
    sources_file.write_text(yaml.safe_dump({"sources": [source]}, sort_keys=False))
