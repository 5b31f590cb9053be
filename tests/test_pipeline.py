"""Every stage end to end with the smoke sizes, in a temporary copy of the repository.

This is what `make repro` does, at a size that runs in well under five minutes: the paper is
built, a second `dvc repro` finds nothing to do, and a forced rerun reproduces every committed
output byte for byte. Then the `collect` stage is killed part-way and rerun: it must finish
with exactly the transcripts of an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import synthetic_source

pytestmark = pytest.mark.slow

COMMITTED_OUTPUTS = [
    "data/results/world.json",
    "paper/tables/world_styles.csv",
    "figures/world_cot_lengths.svg",
    "notebooks/executed/01_world.ipynb",
    "data/results/train/character-s1.json",
    "data/plots/train/nocot_character-s1.csv",
    "notebooks/executed/02_train/planner-s1.ipynb",
    "data/results/train.json",
    "paper/tables/organisms.csv",
    "figures/train_loss.svg",
    "notebooks/executed/03_train_report.ipynb",
    "data/transcripts/transcripts.parquet",
    "notebooks/executed/04_collect.ipynb",
    "figures/collect_turns.svg",
    "figures/collect_prefill.svg",
    "data/scores/scores.parquet",
    "data/results/score.json",
    "notebooks/executed/05_score.ipynb",
    "data/results/compare.json",
    "paper/tables/hypotheses.csv",
    "data/compare/families.csv",
    "data/compare/monitor.csv",
    "notebooks/executed/06_compare.ipynb",
    "figures/results_families.svg",
    "figures/results_monitor.svg",
    "notebooks/executed/07_figures.ipynb",
    "data/results/external.json",
    "paper/tables/field_voice.csv",
    "figures/field_voice.svg",
    "notebooks/executed/08_external.ipynb",
    "notebooks/executed/99_paper.ipynb",
    "paper/paper.pdf",
]
SMOKE_SEEDS = "[1]"  # the seeds are a DVC matrix axis, so the smoke run sets them here


def _run(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DVC_NO_ANALYTICS": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def smoke_repo(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the working tree (tracked and new files, nothing ignored) set to the smoke sizes."""
    dest = tmp_path_factory.mktemp("repo")
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=root, capture_output=True, check=True
    ).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = root / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    params = dest / "params.yaml"
    text = params.read_text()
    assert "\nsize: paper\n" in text
    text = text.replace("\nsize: paper\n", "\nsize: smoke\n")
    text = re.sub(r"\n  seeds: \[[0-9, ]+\]", f"\n  seeds: {SMOKE_SEEDS}", text)
    # The field study reads a small synthetic source, so the smoke run needs no mirror of the real one.
    synthetic_source(dest / "smoke_mirror", dest / "data/external/smoke_sources.yaml")
    text = text.replace("\n  sources: data/external/sources.yaml\n", "\n  sources: data/external/smoke_sources.yaml\n")
    text = re.sub(r"\n  mirror: [^\n]*\n", "\n  mirror: smoke_mirror\n", text)
    params.write_text(text)
    _run(["git", "init", "-q"], dest)
    return dest


def _hashes(repo: Path) -> dict[str, str]:
    return {rel: hashlib.sha256((repo / rel).read_bytes()).hexdigest() for rel in COMMITTED_OUTPUTS}


def test_smoke_pipeline_builds_the_paper_and_reruns_identically(smoke_repo: Path) -> None:
    _run(["dvc", "repro"], smoke_repo)
    assert (smoke_repo / "paper/paper.pdf").read_bytes().startswith(b"%PDF")
    res = json.loads((smoke_repo / "data/results/world.json").read_text())
    assert res["size"] == "smoke"
    assert 0.95 <= res["cot_length_ratio_character_planner"] <= 1.05
    assert res["fixed_answer_share"] == 1.0 and res["held_out_leak_count"] == 0
    for style in ("character", "planner", "none", "nocot_character"):
        assert (smoke_repo / f"data/world/corpus/{style}.jsonl").is_file()
    assert (smoke_repo / "data/world/tokenizer/tokenizer.json").is_file()
    collect = json.loads((smoke_repo / "data/results/collect.json").read_text())
    assert set(collect["models"]) == {f"{s}-s1" for s in ("character", "planner", "none", "nocot_character")}
    assert all(len(m["samples_per_family"]) == 8 for m in collect["models"].values())
    compare = json.loads((smoke_repo / "data/results/compare.json").read_text())
    planned = {h["name"] for h in yaml.safe_load((smoke_repo / "params.yaml").read_text())["compare"]["hypotheses"]}
    assert set(compare["hypotheses"]) == planned
    assert all(h["verdict"] in ("supported", "contradicted", "null") for h in compare["hypotheses"].values())
    train = json.loads((smoke_repo / "data/results/train.json").read_text())
    assert set(train["models"]) == {f"{s}-s1" for s in ("character", "planner", "none", "nocot_character")}
    assert (smoke_repo / "data/models/none-s1/model.safetensors").is_file()
    first = _hashes(smoke_repo)

    assert "didn't change" in _run(["dvc", "repro"], smoke_repo)
    status = _run(["dvc", "status"], smoke_repo)
    assert "up to date" in status, status

    _run(["dvc", "repro", "-f"], smoke_repo)
    assert _hashes(smoke_repo) == first


def _finished_logs(log_root: Path) -> dict[Path, float]:
    from inspect_ai.log import read_eval_log

    done = {}
    for path in log_root.glob("*/*.eval"):
        try:
            if read_eval_log(str(path), header_only=True).status == "success":
                done[path] = path.stat().st_mtime
        except Exception:  # a log still being written is not readable yet
            continue
    return done


def test_killing_collect_part_way_and_rerunning_loses_and_duplicates_nothing(smoke_repo: Path) -> None:
    table = smoke_repo / "data/transcripts/transcripts.parquet"
    _run(["dvc", "checkout"], smoke_repo)  # whatever an earlier test removed comes back from the cache
    if not table.is_file():
        _run(["dvc", "repro", "collect"], smoke_repo)
    reference = table.read_bytes()
    logs = smoke_repo / "data/collect/logs"
    shutil.rmtree(logs)
    table.unlink()

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    out = (smoke_repo / "killed_collect.log").open("w")
    proc = subprocess.Popen(["cotchar", "collect", "params.yaml", "--display", "none"], cwd=smoke_repo, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while proc.poll() is None and not _finished_logs(logs) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, f"collect ended before it could be interrupted:\n{(smoke_repo / 'killed_collect.log').read_text()[-3000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    survivors = _finished_logs(logs)
    assert survivors and not table.exists()

    _run(["cotchar", "collect", "params.yaml", "--display", "none"], smoke_repo)
    # Finished logs were kept, not redone, and the table is exactly the uninterrupted run's.
    assert all(path.is_file() and path.stat().st_mtime == mtime for path, mtime in survivors.items())
    assert table.read_bytes() == reference


def test_a_typo_in_params_stops_the_stage_naming_the_key(smoke_repo: Path) -> None:
    params = smoke_repo / "params.yaml"
    original = params.read_text()
    try:
        data = yaml.safe_load(original)
        data["world"]["sead"] = data["world"].pop("seed")
        params.write_text(yaml.safe_dump(data))
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
        proc = subprocess.run(["dvc", "repro", "world"], cwd=smoke_repo, env=env, capture_output=True, text=True)
        assert proc.returncode != 0
        assert "world.sead: unknown key" in proc.stdout + proc.stderr
    finally:
        params.write_text(original)
