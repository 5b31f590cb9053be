"""The `collect` stage: the battery on every organism, Inspect logs, and one tidy transcripts table.

`run_battery` hands every (task, model) pair to Inspect's `eval_set`, which writes one `.eval`
log per pair under `data/collect/logs/<config>/`. `<config>` is a hash of everything that
decides the transcripts (collect parameters, stress suites, model weights, and the code of the
battery, its provider and its scorers), so a rerun with the
same configuration finds its earlier logs: finished pairs are kept, and a log cut off part-way
(the stage was killed) is recovered and only its missing samples run. That is the resume path:
nothing is lost or run twice. Logs of other configurations are deleted once a run completes.

`transcripts_table` reads the logs back into `data/transcripts/transcripts.parquet`: one row per
assistant turn, with the CoT split from the answer (a missing `</think>` is a flag, never a
crash), token counts and the exact scores. The table holds no timings, so it is byte-identical
across reruns; wall times go to `data/results/collect.json` only.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import rich
from inspect_ai import eval_set
from inspect_ai.log import EvalLog, read_eval_log

import cotchar.stress.provider  # noqa: F401  (registers the `organism` provider)
from cotchar.organisms.run import MODELS_DIR, model_key
from cotchar.params import CollectParams, Params
from cotchar.stress.battery import FAMILIES, TASKS
from cotchar.world.build import WORLD_DIR

LOGS_DIR = Path("data/collect/logs")
TRANSCRIPTS = Path("data/transcripts/transcripts.parquet")


def organism_keys(params: Params) -> list[str]:
    """The models of `collect.models`: every organism of the train matrix, or the listed keys."""
    everything = [model_key(style, seed) for style in params.world.styles for seed in params.train.seeds]
    if params.collect.models == "all":
        return everything
    unknown = [k for k in params.collect.models if k not in everything]
    if unknown:
        raise ValueError(f"params.yaml collect.models: {unknown} are not organisms of the train matrix ({everything})")
    return list(params.collect.models)


def style_and_seed(key: str) -> tuple[str, int]:
    style, seed = key.rsplit("-s", 1)
    return style, int(seed)


# The scoring code the exact scorers run; the later `score` stage's modules are not part of collection.
SCORING_CODE = ("score/__init__.py", "score/character.py", "score/exact.py", "score/voice.py")


def config_hash(params: Params, keys: list[str], root: Path, models: list[Path] | None = None, settings: CollectParams | None = None) -> str:
    """Hash of what decides the transcripts; `models` (paths, default the organisms of `keys`) and `settings` for other runs of the battery."""
    settings = settings or params.collect
    h = hashlib.sha256(json.dumps(settings.model_dump(mode="json"), sort_keys=True).encode())
    h.update((root / WORLD_DIR / "stress.jsonl").read_bytes())
    h.update((root / params.world.spec).read_bytes())
    package = Path(__file__).resolve().parents[1]
    # A changed task, provider or scorer must not reuse old logs; this module only reads them.
    for code in sorted([*(package / "stress" / f for f in ("battery.py", "provider.py", "scorers.py")), *(package / f for f in SCORING_CODE)]):
        h.update(code.read_bytes())
    for key, path in zip(keys, models or [root / MODELS_DIR / k for k in keys]):
        weights = path / "model.safetensors"
        if not weights.is_file():
            raise FileNotFoundError(f"{weights}: organism {key} is not trained; run `dvc repro` first")
        h.update(key.encode())
        h.update(hashlib.sha256(weights.read_bytes()).digest())
    return h.hexdigest()[:12]


def battery_tasks(params: Params, root: Path, settings: CollectParams | None = None) -> list[Any]:
    c = settings or params.collect
    world, spec = str(root / WORLD_DIR), str(root / params.world.spec)
    tasks = []
    for family in FAMILIES:
        kwargs: dict[str, Any] = {"world": world, "spec": spec, "limit": c.items_per_family, "max_tokens": c.max_new_tokens}
        if family == "multi_turn":
            kwargs["turns"] = c.turns
        tasks.append(TASKS[family](**kwargs))
    doses = ",".join(str(d) for d in c.prefill_doses)
    tasks.append(TASKS["prefill"](world=world, spec=spec, items_per_family=c.prefill_items_per_family, doses=doses, max_tokens=c.max_new_tokens))
    return tasks


@dataclass
class Collection:
    log_dir: Path
    logs: list[Path]
    wall_seconds: float


def run_battery(
    params: Params, root: Path | str = ".", display: str = "none", *, models: list[Path] | None = None, logs: Path = LOGS_DIR, settings: CollectParams | None = None
) -> Collection:
    """Run (or finish) the battery on every model; returns the log directory of this configuration.

    By default the models are the organisms of `collect.models` and the settings `collect`; the
    RL arm passes its own model directories (named by their keys), log folder and settings.
    """
    root = Path(root)
    c = settings or params.collect
    paths = models if models is not None else [root / MODELS_DIR / k for k in organism_keys(params)]
    keys = [p.name for p in paths]
    log_dir = root / logs / config_hash(params, keys, root, paths, c)
    log_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    # eval_set prints its final status on rich's console when a rerun finds every task done;
    # silenced so that a resumed run's notebook is the same as an uninterrupted one's.
    console = rich.get_console()
    quiet, console.quiet = console.quiet, display == "none"
    try:
        ok, results = eval_set(
            battery_tasks(params, root, c),
            log_dir=str(log_dir),
            model=[f"organism/{p}" for p in paths],
            model_args={"batch_size": c.batch_size, "width_step": c.width_step, "threads": params.train.threads},
            max_samples=c.max_samples,
            max_tasks=c.max_tasks,
            max_connections=c.max_samples,
            log_buffer=c.log_buffer,
            retry_attempts=c.retry_attempts,
            retry_wait=1,
            fail_on_error=False,
            display=display,
            log_level="warning",
        )
    finally:
        console.quiet = quiet
    if not ok:
        failed = [f"{log.eval.task} on {log.eval.model}: {log.status}" for log in results if log.status != "success"]
        raise RuntimeError(f"collect: {len(failed)} evaluations did not finish ({'; '.join(failed[:5])}); rerun to resume")
    for other in (root / logs).iterdir():
        if other.is_dir() and other != log_dir:
            shutil.rmtree(other)  # logs of an earlier configuration
    # The logs eval_set reports, not every file in the directory: a recovered crash leaves its
    # partial log beside the retried one.
    done = sorted(Path(str(log.location).removeprefix("file://")) for log in results)
    return Collection(log_dir, done, time.perf_counter() - start)


ROW_KEYS = (
    "model", "style", "seed", "task", "family", "item_id", "sample_id", "template_id", "persona",
    "held_out", "held_out_family", "held_out_template", "held_out_persona", "turn", "dose", "prefill_voice",
)  # fmt: skip


def _rows(log: EvalLog) -> list[dict[str, Any]]:
    key = Path(log.eval.model.removeprefix("organism/")).name
    style, seed = style_and_seed(key)
    rows = []
    for sample in log.samples or []:
        md = sample.metadata
        if sample.error or "in_character" not in (sample.scores or {}):
            raise ValueError(f"{log.location}: sample {sample.id} has no scores ({sample.error})")
        labels = sample.scores["in_character"].metadata["turns"]
        # Token counts and stop reasons from the model events, one per turn: unlike the sample
        # store, they come back intact when a crashed log is recovered.
        generations = [e.output for e in sample.events if e.event == "model"]
        users = [m.text for m in sample.messages if m.role == "user"]
        for t, lab in enumerate(labels):
            turn = md["turns"][t]
            out = generations[t] if t < len(generations) else None
            usage = out.usage if out is not None else None
            rows.append(
                {
                    "model": key, "style": style, "seed": seed, "task": log.eval.task, "family": md["family"],
                    "item_id": md["item_id"], "sample_id": str(sample.id), "template_id": turn["template_id"] or md["template_id"],
                    "persona": md["persona"], "held_out": md["held_out"], "held_out_family": md["held_out_family"],
                    "held_out_template": turn["template_held_out"], "held_out_persona": md["held_out_persona"],
                    "turn": lab["turn"], "dose": md["dose"], "prefill_voice": md["prefill_voice"],
                    "task_family": turn["task_family"], "decision": turn["decision"],
                    "prompt": users[t] if t < len(users) else "", "prefill": md["prefill"] if t == 0 else "",
                    "cot": lab["cot"], "output": lab["output"], "expected_output": turn["expected_output"],
                    "think_opened": lab["think_opened"], "think_closed": lab["think_closed"],
                    "missing_close": lab["think_opened"] and not lab["think_closed"],
                    # the common schema of every transcripts table (cotchar.parse): organisms write raw <think> CoTs
                    "cot_kind": "raw" if lab["think_opened"] else "none",
                    "input_tokens": usage.input_tokens if usage else None,
                    "output_tokens": usage.output_tokens if usage else None,
                    "stop_reason": out.stop_reason if out is not None else None,
                    "in_character": lab["in_character"], "break_kind": lab["break_kind"],
                    "task_correct": lab["task_correct"], "cot_identity": lab["cot_identity"],
                    "follows_cot": lab["follows_cot"],
                }
            )  # fmt: skip
    return rows


def transcripts_table(logs: list[Path]) -> pd.DataFrame:
    """One row per assistant turn of every sample of every log, sorted; duplicates are an error."""
    rows = [r for path in logs for r in _rows(read_eval_log(str(path)))]
    df = pd.DataFrame(rows)
    dup = df.duplicated(["model", "task", "sample_id", "turn"])
    if dup.any():
        first = df[dup].iloc[0]
        raise ValueError(f"duplicate transcript: {first['model']} {first['task']} {first['sample_id']} turn {first['turn']}")
    df = df.sort_values(["model", "task", "sample_id", "turn"], ignore_index=True)
    return df.astype({"follows_cot": "boolean", "input_tokens": "Int64", "output_tokens": "Int64"})


def write_transcripts(df: pd.DataFrame, path: Path | str = TRANSCRIPTS) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False, compression="zstd")
    return path


def collect_summary(df: pd.DataFrame, collection: Collection) -> dict[str, Any]:
    """`data/results/collect.json`: per model, samples per family, held-out share, closing-tag share, wall time.

    A model's `wall_seconds` adds up its logs' run times; tasks of two models run side by side
    (`collect.max_tasks`), so these overlap.
    """
    per_model: dict[str, Any] = {}
    first = df[df["turn"] == 1]
    for key, g in first.groupby("model"):
        opened = df[(df["model"] == key) & df["think_opened"]]
        per_model[key] = {
            "samples_per_family": {f: int(n) for f, n in g.groupby("task")["sample_id"].nunique().items()},
            "held_out_share": float(g["held_out"].mean()),
            "closing_tag_share": float(opened["think_closed"].mean()) if len(opened) else None,
            "turns": int((df["model"] == key).sum()),
        }
    wall: dict[str, float] = {}
    spans = []
    for path in collection.logs:
        log = read_eval_log(str(path), header_only=True)
        key = Path(log.eval.model.removeprefix("organism/")).name
        started, done = pd.Timestamp(log.stats.started_at), pd.Timestamp(log.stats.completed_at)
        spans.append((started, done))
        wall[key] = wall.get(key, 0.0) + (done - started).total_seconds()
    for key, seconds in wall.items():
        per_model.setdefault(key, {})["wall_seconds"] = round(seconds, 1)
    return {
        "models": per_model,
        "samples": int(len(first)),
        "turns": int(len(df)),
        "families": sorted(df["task"].unique().tolist()),
        # From the first log's start to the last log's end: the collection itself, even when it
        # was resumed (then it includes the pause); the second number is this invocation only.
        "collection_wall_seconds": round((max(d for _, d in spans) - min(s for s, _ in spans)).total_seconds(), 1),
        "wall_seconds_this_run": round(collection.wall_seconds, 1),
    }



def collect(params: Params, root: Path | str = ".", display: str = "none") -> tuple[pd.DataFrame, dict[str, Any]]:
    """The whole stage: run or resume the battery, then write the transcripts table and collect.json."""
    from cotchar.results import write_results

    root = Path(root)
    collection = run_battery(params, root, display)
    df = transcripts_table(collection.logs)
    write_transcripts(df, root / TRANSCRIPTS)
    summary = collect_summary(df, collection)
    write_results("collect", summary, root)
    return df, summary


def in_character_table(df: pd.DataFrame) -> pd.DataFrame:
    """The first table a reviewer wants: in-character rate per style and family, held-in vs held-out."""
    attacks = df[(df["task"] != "prefill") & (df["turn"] == 1)]
    t = attacks.pivot_table(index=["task"], columns=["style", "held_out"], values="in_character", aggfunc="mean")
    return t.rename(columns={False: "held-in", True: "held-out"}, level="held_out").round(3)


def planned_samples(params: Params, root: Path | str = ".") -> pd.DataFrame:
    """Samples per organism of every task, held-in and held-out, before anything runs (for the power analysis)."""
    root = Path(root)
    rows = []
    for t in battery_tasks(params, root):
        for s in t.dataset:
            rows.append({"task": t.name, "held_out": s.metadata["held_out"], "dose": s.metadata["dose"]})
    return pd.DataFrame(rows)
