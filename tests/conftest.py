"""Shared fixtures: the repository root, the smoke parameters, and one smoke-sized world."""

from __future__ import annotations

from pathlib import Path

import pytest

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
