"""Headline numbers of a stage: `data/results/<stage>.json`, the only place the paper reads numbers from.

Floats are rounded and keys sorted so that rerunning a stage rewrites the file byte for byte.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

RESULTS_DIR = Path("data/results")
DIGITS = 6


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"results must be finite numbers, got {value!r}")
        return round(value, DIGITS)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _clean(value.item())
    return value


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(_clean(data), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_results(stage: str, data: dict[str, Any], root: Path | str = ".") -> Path:
    """Write a stage's headline numbers; returns the path written."""
    path = Path(root) / RESULTS_DIR / f"{stage}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(data))
    return path


def read_results(stage: str, root: Path | str = ".") -> dict[str, Any]:
    path = Path(root) / RESULTS_DIR / f"{stage}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no results yet; run `dvc repro {stage}` first")
    return json.loads(path.read_text())
