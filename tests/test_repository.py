"""The repository's contracts: lock and conda file agree, the two commands, clean notebooks."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from cotchar.lockfile import environment_pins, environment_yml, lock_pins, parse_pins
from cotchar.notebook import has_outputs, normalize, normalize_notebook


def test_environment_yml_installs_exactly_the_lock(root: Path) -> None:
    python, env = environment_pins(root / "environment.yml")
    lock = lock_pins(root / "requirements.lock")
    assert python == "3.11"
    lock_without_pip = {k: v for k, v in lock.items() if k != "pip"}
    missing = sorted(set(lock_without_pip) - set(env))
    extra = sorted(set(env) - set(lock_without_pip))
    differ = sorted(k for k in set(env) & set(lock) if env[k] != lock[k])
    assert not (missing or extra or differ), f"environment.yml vs requirements.lock: missing {missing}, extra {extra}, differ {differ}; run `make lock`"
    assert (root / "environment.yml").read_text() == environment_yml(root / "requirements.lock")


def test_parse_pins_ignores_comments_and_normalizes_names() -> None:
    assert parse_pins(["# via x", "Foo_Bar==1.2  # c", "    # via y", "baz==2.0+cpu", "-e ."]) == {"foo-bar": "1.2", "baz": "2.0+cpu"}


def test_lock_pins_every_declared_dependency_and_torch(root: Path) -> None:
    meta = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert "torch==2.13.0" in meta["dependencies"]
    lock = lock_pins(root / "requirements.lock")
    declared = meta["dependencies"] + [d for extra in meta["optional-dependencies"].values() for d in extra]
    names = {d.split("==")[0].split(">")[0].split("[")[0].strip().lower().replace("_", "-") for d in declared}
    assert not names - set(lock), f"declared but not locked: {sorted(names - set(lock))}; run `make lock`"
    assert lock["torch"].startswith("2.13.0")


def test_readme_shows_the_two_commands_and_ci_runs_the_test_one(root: Path) -> None:
    readme = (root / "README.md").read_text()
    assert "make repro" in readme and "make test" in readme
    ci = (root / ".ci/run").read_text()
    assert "make test" in ci
    assert (root / ".ci/run").stat().st_mode & 0o111


@pytest.mark.parametrize("nb", sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_source_notebooks_have_no_outputs_and_a_parameters_cell(nb: Path) -> None:
    assert not has_outputs(nb), f"{nb} is committed with outputs; clear them"
    cells = json.loads(nb.read_text())["cells"]
    assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in cells), f"{nb} has no `parameters` cell"


def test_has_outputs_detects_outputs(tmp_path: Path) -> None:
    nb = {"cells": [{"cell_type": "code", "execution_count": 1, "outputs": [{"output_type": "stream", "name": "stdout", "text": "x"}]}]}
    (tmp_path / "a.ipynb").write_text(json.dumps(nb))
    assert has_outputs(tmp_path / "a.ipynb")


def test_every_stage_has_an_executed_notebook_without_timestamps(root: Path) -> None:
    # A stage that runs once per matrix item (train) executes into a folder of notebooks.
    for source in (root / "notebooks").glob("*.ipynb"):
        folder = root / "notebooks/executed" / source.stem
        assert (root / "notebooks/executed" / source.name).is_file() or any(folder.glob("*.ipynb")), source.name
    for nb in sorted((root / "notebooks/executed").rglob("*.ipynb")):
        text = nb.read_text()
        assert '"start_time"' not in text and "iopub.execute_input" not in text, nb


def _executed_like() -> dict:
    return {
        "metadata": {
            "papermill": {"start_time": "2026-11-28T10:00:00", "duration": 3.2, "parameters": {"params_file": "p.yaml"}, "version": "2.7.0"},
            "language_info": {"name": "python", "version": "3.11.7"},
        },
        "cells": [
            {
                "cell_type": "code",
                "id": "a1b2c3",
                "metadata": {"execution": {"iopub.execute_input": "2026-11-28T10:00:01"}, "papermill": {"duration": 1.0, "exception": False}},
                "outputs": [
                    {"output_type": "stream", "name": "stderr", "text": "100%|#####| 3/3 [00:01<00:00]"},
                    {"output_type": "display_data", "data": {"application/vnd.jupyter.widget-view+json": {"model_id": "f00"}, "text/plain": "bar"}},
                    {"output_type": "stream", "name": "stdout", "text": "kept"},
                    {"output_type": "error", "ename": "ValueError", "evalue": "kept too", "traceback": []},
                ],
            }
        ],
    }


def test_normalize_strips_run_stamps_but_keeps_results_and_errors(tmp_path: Path) -> None:
    nb = normalize_notebook(_executed_like())
    assert nb["metadata"]["papermill"] == {"parameters": {"params_file": "p.yaml"}}
    assert "version" not in nb["metadata"]["language_info"]
    cell = nb["cells"][0]
    assert cell["id"] == "cell-000" and cell["metadata"] == {}
    assert [o.get("text", o.get("evalue")) for o in cell["outputs"]] == ["kept", "kept too"]
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps(_executed_like()))
    normalize(path)
    once = path.read_bytes()
    normalize(path)
    assert path.read_bytes() == once  # idempotent
