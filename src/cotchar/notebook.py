"""Executed notebooks that are byte-identical when a stage reruns with the same parameters.

Papermill and the kernel stamp every run: start and end times, durations, random cell ids, the
Python patch version, and progress bars on stderr. `normalize` removes exactly those and nothing
a reader needs (code, parameters, tables, figures and errors stay).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Papermill's notebook-level record: keep what says how the notebook was run, drop when and how long.
_KEEP_PAPERMILL = ("parameters", "input_path", "output_path", "default_parameters")


def _volatile(output: dict[str, Any]) -> bool:
    """Progress bars and timings: stderr streams and widget views (random model ids; GitHub shows neither).

    Errors are error outputs, not stderr streams, so a failed cell keeps its traceback."""
    if output.get("output_type") == "stream":
        return output.get("name") == "stderr"
    return "application/vnd.jupyter.widget-view+json" in output.get("data", {})


def normalize_notebook(nb: dict[str, Any]) -> dict[str, Any]:
    """Strip run timestamps, random ids and volatile outputs from a notebook (as loaded JSON)."""
    meta = nb.setdefault("metadata", {})
    if "papermill" in meta:
        meta["papermill"] = {k: meta["papermill"][k] for k in _KEEP_PAPERMILL if k in meta["papermill"]}
    meta.pop("widgets", None)
    if "language_info" in meta:
        meta["language_info"].pop("version", None)
    for i, cell in enumerate(nb.get("cells", [])):
        cell["id"] = f"cell-{i:03d}"
        cmeta = cell.get("metadata", {})
        cmeta.pop("execution", None)
        if "papermill" in cmeta:
            # Keep only whether the cell failed; its timing changes every run.
            status = {k: cmeta["papermill"][k] for k in ("exception",) if cmeta["papermill"].get(k)}
            if status:
                cmeta["papermill"] = status
            else:
                cmeta.pop("papermill")
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", []) if not _volatile(o)]
    return nb


def normalize(path: Path | str) -> None:
    """Normalize an executed notebook file in place."""
    path = Path(path)
    nb = json.loads(path.read_text())
    path.write_text(json.dumps(normalize_notebook(nb), indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def has_outputs(path: Path | str) -> bool:
    """Whether a (source) notebook carries any outputs or execution counts."""
    nb = json.loads(Path(path).read_text())
    return any(
        c.get("outputs") or c.get("execution_count") is not None for c in nb.get("cells", []) if c.get("cell_type") == "code"
    )
