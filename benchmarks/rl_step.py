"""RL step speed: GRPO steps per second, and how a step splits into generation and update.

Runs `cotchar.organisms.rl.train_grpo` (TRL's GRPOTrainer, the `rl` stage's configuration and
reward) from one paper organism for `--steps` steps, twice in one run:

- **project**: the `rl` stage's configuration (`cotchar.organisms.rl.grpo_config`);
- **baseline**: the same with TRL's defaults for what the project changes for speed
  (activation checkpointing on, as in `GRPOConfig()`).

For each it prints steps/s and the share of a step spent generating (`model.generate`, timed by
a wrapper) against the rest (rewards, reference and policy log-probabilities, backward,
optimizer), then the ratio project/baseline. The first step is left out (warm-up).

    python benchmarks/rl_step.py [--steps 12] [--arm character] [--seed 1]

Needs `dvc repro train` (the organism) and `dvc repro world`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from cotchar.organisms.rl import grpo_config, prompt_pool, reward_functions, train_grpo
from cotchar.organisms.run import MODELS_DIR, model_key
from cotchar.organisms.train import configure_torch
from cotchar.params import load_params
from cotchar.world.build import WORLD_DIR
from cotchar.world.spec import load_spec


class StepTimer(TrainerCallback):
    def __init__(self) -> None:
        self.marks: list[float] = []

    def on_step_begin(self, *a: object, **k: object) -> None:
        self.marks.append(time.perf_counter())

    def on_step_end(self, *a: object, **k: object) -> None:
        self.marks.append(time.perf_counter())


def run(params_file: str, arm: str, seed: int, steps: int, checkpointing: bool) -> tuple[float, float]:
    """(steps per second, share of step time in generation), first step left out."""
    P = load_params(params_file)
    configure_torch(P.train.threads)
    path = MODELS_DIR / model_key(arm, seed)
    model, tokenizer = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    generate, spent = model.generate, []

    def timed(*a: object, **k: object) -> object:
        t = time.perf_counter()
        out = generate(*a, **k)
        spent.append(time.perf_counter() - t)
        return out

    model.generate = timed
    prompts = prompt_pool(WORLD_DIR, arm)
    rows = [{"prompt": p.messages, "prompt_id": p.prompt_id, "task_family": p.task_family, "decision": p.decision, "answer": p.answer, "attack_family": p.attack_family} for p in prompts]
    funcs, weights = reward_functions(load_spec(P.world.spec), character=True)
    size, p = P.rl_size, P.rl
    timer = StepTimer()
    with tempfile.TemporaryDirectory() as out:
        config = grpo_config(
            steps=steps, prompts_per_step=size.prompts_per_step, group_size=size.group_size, learning_rate=p.learning_rate,
            beta=p.beta, max_new_tokens=p.max_new_tokens, seed=seed, output_dir=out, progress=False,
        )  # fmt: skip
        config.activation_checkpointing = checkpointing
        train_grpo(model, tokenizer, rows, funcs, weights, config, [timer], progress=False)
    # TRL generates a step's completions inside that step; one generate call per step here
    durations = [b - a for a, b in zip(timer.marks[0::2], timer.marks[1::2])][1:]
    gen = spent[1 : 1 + len(durations)]
    return len(durations) / sum(durations), sum(gen) / sum(durations)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--arm", default="character")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=12)
    args = ap.parse_args()
    if not (Path(MODELS_DIR) / model_key(args.arm, args.seed)).is_dir():
        raise SystemExit(f"{MODELS_DIR / model_key(args.arm, args.seed)}: no organism; run `dvc repro train` first")
    base = run(args.params, args.arm, args.seed, args.steps, checkpointing=True)
    proj = run(args.params, args.arm, args.seed, args.steps, checkpointing=False)
    for name, (rate, share) in (("baseline (TRL defaults)", base), ("project (rl stage)", proj)):
        print(f"{name:26s} {rate:6.3f} steps/s   generation {share * 100:5.1f}% of a step, update and rewards {100 - share * 100:5.1f}%")
    print(f"ratio project/baseline: {proj[0] / base[0]:.2f}")


if __name__ == "__main__":
    main()
