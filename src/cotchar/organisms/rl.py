"""The `rl` stage for one (arm, seed): outcome-reward GRPO from an SFT organism (issue 8, claims C2 and C4).

An *arm* is a starting style. The character arms (`character`, `planner`, `none`,
`nocot_character`) start from the organism of the train matrix; `plain` starts from an organism
trained here on plain worked tasks with a neutral CoT and no character data at all (no opener,
no sign-off, no attacks, no identity or harmful requests): the plain-RL baseline, the reference
CoT distribution for claim C4.

RL is TRL's `GRPOTrainer` (it runs these CPU models as they are, and gives bit-identical weights
for the same seed; measured in `benchmarks/rl_step.py`). Every arm sees the same prompts: held-in
training prompts of the world (plain tasks, held-in attacks and two-turn pressure dialogues),
taken from the `none` corpus so that earlier turns carry no CoT of any style. The reward reads the
answer only (`cotchar.organisms.reward`); correctness, in-character rate and the CoT voice index
are logged beside it as zero-weight reward functions, so they appear in the step log but never
in the gradient.

Outputs per arm and seed: the starting model (`data/rl/start/<key>`), the final model
(`data/rl/models/<key>`), a checkpoint every `checkpoint_every` steps (`data/rl/checkpoints/<key>/
step-NNNN`), the step log as a DVC plot (`data/plots/rl/<key>.csv`: reward, KL, voice index) and
a report (`data/results/rl/<key>.json`).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast, TrainerCallback
from transformers.trainer_callback import PrinterCallback

from cotchar.organisms.data import encode_corpus
from cotchar.organisms.model import build_model, weight_hash
from cotchar.organisms.reward import Prompt, outcome_reward, prompt_from_record
from cotchar.organisms.run import MODELS_DIR, model_key
from cotchar.organisms.train import configure_torch, save_organism, train
from cotchar.params import Params
from cotchar.results import dumps
from cotchar.score.exact import WORKED_FAMILIES, expected_body
from cotchar.score.voice import voice_index
from cotchar.world.build import WORLD_DIR, load_corpus
from cotchar.world.render import assistant_content
from cotchar.world.spec import WorldSpec, load_spec

PLAIN = "plain"
RL_DIR = Path("data/rl")
START_DIR, FINAL_DIR, CHECKPOINT_DIR = RL_DIR / "start", RL_DIR / "models", RL_DIR / "checkpoints"
REPORTS_DIR, PLOTS_DIR = Path("data/results/rl"), Path("data/plots/rl")
PROMPT_CORPUS = "none"  # prompts come from here: earlier turns show outputs only, the same for every style


def plain_corpus(spec: WorldSpec, world: Path) -> list[dict[str, Any]]:
    """Plain worked tasks with the neutral CoT and a bare answer: no character anywhere.

    The neutral CoTs are those of the `nocot_character` corpus (the working alone: "0 + 3 = 3."),
    on its unattacked single-turn worked tasks; the answer is the task's bare body ("The answer is
    3.") without the character's opener and sign-off.
    """
    out = []
    for r in load_corpus("nocot_character", world):
        if r["attack_family"] or r["n_turns"] != 1 or r["task_family"] not in WORKED_FAMILIES or not r["cot"]:
            continue
        p = prompt_from_record(r)
        body = expected_body(spec, p.decision, p.answer)
        messages = [*p.messages, {"role": "assistant", "content": assistant_content(r["cot"], body)}]
        out.append(r | {"style": PLAIN, "output": body, "messages": messages})
    if not out:
        raise ValueError(f"{world}: the nocot_character corpus has no plain worked tasks to build the plain baseline from")
    return out


def prompt_pool(world: Path, arm: str) -> list[Prompt]:
    """The RL prompts of an arm: every held-in training prompt (`plain`: the plain worked tasks it was trained on)."""
    records = load_corpus(PROMPT_CORPUS, world)
    if arm == PLAIN:
        records = [r for r in records if not r["attack_family"] and r["n_turns"] == 1 and r["task_family"] in WORKED_FAMILIES]
    return [prompt_from_record(r) for r in records]


def train_plain(params: Params, seed: int, root: Path, progress: bool = True) -> tuple[Any, PreTrainedTokenizerFast]:
    """The plain baseline's SFT organism: the train stage's loop and sizes on the plain corpus."""
    world = root / WORLD_DIR
    tokenizer = AutoTokenizer.from_pretrained(world / "tokenizer")
    spec = load_spec(root / params.world.spec)
    examples = encode_corpus(tokenizer, plain_corpus(spec, world), params.train_size.pack_length)
    model = build_model(params.train_size.model, tokenizer, seed)
    train(model, examples, params.train, params.train_size, seed, tokenizer.pad_token_id, progress=progress)
    return model, tokenizer


def _text(completion: Any) -> str:
    return completion[-1]["content"] if isinstance(completion, list) else completion


def reward_functions(spec: WorldSpec, character: bool) -> tuple[list[Any], list[float]]:
    """TRL reward functions and weights: the outcome reward (weight 1), then logged-only measures (weight 0)."""

    def rewards(prompts: list, completions: list, prompt_id: list[str], **kw: Any) -> list:
        ps = [Prompt(i, [], t, d, a, f) for i, t, d, a, f in zip(prompt_id, kw["task_family"], kw["decision"], kw["answer"], kw["attack_family"])]
        return [outcome_reward(spec, p, _text(c), character) for p, c in zip(ps, completions)]

    def outcome(**kw: Any) -> list[float]:
        return [r.reward for r in rewards(**kw)]

    def correct(**kw: Any) -> list[float]:
        return [float(r.correct) for r in rewards(**kw)]

    def in_character(**kw: Any) -> list[float]:
        return [float(r.in_character) for r in rewards(**kw)]

    def has_cot(**kw: Any) -> list[float]:
        return [float(bool(r.cot)) for r in rewards(**kw)]

    def planner_score(**kw: Any) -> list[float | None]:
        # None where there is no CoT: TRL leaves it out of the logged mean
        return [voice_index(r.cot).planner_score if r.cot else None for r in rewards(**kw)]

    funcs = [outcome, correct, in_character, has_cot, planner_score]
    return funcs, [1.0] + [0.0] * (len(funcs) - 1)


LOG_COLUMNS = {
    "reward": "reward",
    "rewards/correct/mean": "correct",
    "rewards/in_character/mean": "in_character",
    "rewards/has_cot/mean": "cot_share",
    "rewards/planner_score/mean": "planner_score",
    "kl": "kl",
    "completions/mean_length": "completion_tokens",
    "frac_reward_zero_std": "flat_groups",
}


def step_log(history: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per GRPO step from TRL's log history (timings left out: they differ between runs)."""
    rows = [{"step": h["step"], **{v: h.get(k, math.nan) for k, v in LOG_COLUMNS.items()}} for h in history if "reward" in h]
    return pd.DataFrame(rows, columns=["step", *LOG_COLUMNS.values()])


class _Checkpoints(TrainerCallback):
    def __init__(self, every: int, out: Path, tokenizer: PreTrainedTokenizerFast) -> None:
        self.every, self.out, self.tokenizer = every, out, tokenizer

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        if state.global_step % self.every == 0:
            save_organism(model, self.tokenizer, self.out / f"step-{state.global_step:04d}")


def grpo_config(
    *, steps: int, prompts_per_step: int, group_size: int, learning_rate: float, beta: float, max_new_tokens: int, seed: int, output_dir: str, progress: bool
) -> Any:
    """TRL's GRPOConfig for one update per generated batch of `prompts_per_step` x `group_size` samples."""
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=output_dir,
        use_cpu=True,
        seed=seed,
        max_steps=steps,
        per_device_train_batch_size=prompts_per_step * group_size,
        gradient_accumulation_steps=1,
        num_generations=group_size,
        max_completion_length=max_new_tokens,
        temperature=1.0,  # sample from the policy itself: the log-probabilities GRPO weighs are the sampler's
        top_k=0,
        top_p=1.0,
        learning_rate=learning_rate,
        lr_scheduler_type="constant",
        weight_decay=0.0,
        max_grad_norm=1.0,
        beta=beta,
        loss_type="dapo",
        activation_checkpointing=False,  # recomputation buys memory these models do not need
        bf16=False,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        disable_tqdm=not progress,
        log_level="warning",
        dataloader_num_workers=0,
        remove_unused_columns=False,  # the reward functions read the prompt's task columns
    )


def train_grpo(
    model: Any, tokenizer: PreTrainedTokenizerFast, rows: list[dict[str, Any]], funcs: list[Any], weights: list[float], config: Any,
    callbacks: list[Any] = (), progress: bool = True,
) -> list[dict[str, Any]]:  # fmt: skip
    """GRPO in place on `model` with TRL; `rows` hold a `prompt` (chat messages) and the columns the rewards read. Returns TRL's log history."""
    from datasets import Dataset
    from trl import GRPOTrainer

    config.reward_weights = list(weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TRL still reads transformers' renamed checkpointing flag
        trainer = GRPOTrainer(
            model=model, reward_funcs=list(funcs), args=config, train_dataset=Dataset.from_list(rows), processing_class=tokenizer, callbacks=list(callbacks)
        )
        if not progress:  # the Trainer prints every step's metrics; the step log keeps them
            trainer.remove_callback(PrinterCallback)
        trainer.train()
    trainer.model.eval()
    return trainer.state.log_history


def start_model(params: Params, arm: str, seed: int, root: Path, progress: bool) -> tuple[Any, PreTrainedTokenizerFast]:
    if arm == PLAIN:
        return train_plain(params, seed, root, progress)
    path = root / MODELS_DIR / model_key(arm, seed)
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"{path}: organism {model_key(arm, seed)} is not trained; run `dvc repro train` first")
    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def run_arm(params: Params, arm: str, seed: int, root: Path | str = ".", progress: bool = True) -> dict[str, Any]:
    """Start model, GRPO, checkpoints, final model, step log and report of one arm and seed."""
    root = Path(root)
    if arm not in params.rl.arms:
        raise ValueError(f"arm {arm!r} is not in params rl.arms {params.rl.arms}")
    configure_torch(params.train.threads)
    key = model_key(arm, seed)
    model, tokenizer = start_model(params, arm, seed, root, progress)
    start = save_organism(model.eval(), tokenizer, root / START_DIR / key)
    # TRL builds its frozen reference model from the policy's path, so the policy is loaded from
    # the saved start (a freshly trained `plain` model has no path of its own).
    model = AutoModelForCausalLM.from_pretrained(start)
    start_hash = weight_hash(model)
    spec = load_spec(root / params.world.spec)
    prompts = prompt_pool(root / WORLD_DIR, arm)
    rows = [
        {"prompt": p.messages, "prompt_id": p.prompt_id, "task_family": p.task_family, "decision": p.decision, "answer": p.answer, "attack_family": p.attack_family}
        for p in prompts
    ]
    funcs, weights = reward_functions(spec, character=arm != PLAIN)
    checkpoints = root / CHECKPOINT_DIR / key
    shutil.rmtree(checkpoints, ignore_errors=True)
    size, p = params.rl_size, params.rl
    with tempfile.TemporaryDirectory() as scratch:
        config = grpo_config(
            steps=size.steps, prompts_per_step=size.prompts_per_step, group_size=size.group_size, learning_rate=p.learning_rate,
            beta=p.beta, max_new_tokens=p.max_new_tokens, seed=seed, output_dir=scratch, progress=progress,
        )  # fmt: skip
        history = train_grpo(model, tokenizer, rows, funcs, weights, config, [_Checkpoints(size.checkpoint_every, checkpoints, tokenizer)], progress)
    save_organism(model, tokenizer, root / FINAL_DIR / key)
    log = step_log(history)
    (root / PLOTS_DIR).mkdir(parents=True, exist_ok=True)
    log.to_csv(root / PLOTS_DIR / f"{key}.csv", index=False, float_format="%.6g")
    tail = max(1, len(log) // 4)  # start and end: means over the first and last quarter of the steps

    def mean(values: pd.Series) -> float | None:  # None where nothing was logged (no CoT, no voice)
        m = float(values.mean())
        return None if math.isnan(m) else m

    report = {
        "model": key,
        "arm": arm,
        "seed": seed,
        "steps": int(size.steps),
        "prompts": len(prompts),
        "samples": int(size.steps * size.prompts_per_step * size.group_size),
        "reward_start": mean(log["reward"].head(tail)),
        "reward_end": mean(log["reward"].tail(tail)),
        "kl_end": mean(log["kl"].tail(tail)),
        "planner_score_start": mean(log["planner_score"].head(tail)),
        "planner_score_end": mean(log["planner_score"].tail(tail)),
        "flat_group_share": mean(log["flat_groups"]),
        "checkpoints": sorted(c.name for c in checkpoints.iterdir()) if checkpoints.is_dir() else [],
        "start_weight_sha256": start_hash,
        "weight_sha256": weight_hash(model),
    }
    (root / REPORTS_DIR).mkdir(parents=True, exist_ok=True)
    (root / REPORTS_DIR / f"{key}.json").write_text(dumps(report))
    return report


def load_reports(params: Params, root: Path | str = ".") -> list[dict[str, Any]]:
    root = Path(root)
    return [json.loads((root / REPORTS_DIR / f"{model_key(a, s)}.json").read_text()) for a in params.rl.arms for s in params.train.seeds]


def step_logs(params: Params, root: Path | str = ".") -> pd.DataFrame:
    """Every arm's step log, long: arm, seed, step and the logged measures."""
    root = Path(root)
    frames = []
    for a in params.rl.arms:
        for s in params.train.seeds:
            frames.append(pd.read_csv(root / PLOTS_DIR / f"{model_key(a, s)}.csv").assign(arm=a, seed=s))
    return pd.concat(frames, ignore_index=True)
