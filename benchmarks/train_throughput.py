"""Training throughput: a plain fp32 eager loop against the project's loop, in one run.

Both train the same organism (paper model size, same initial weights) on the same corpus. The
baseline is what a first training script does: shuffled batches of `--baseline-batch` examples
padded to their longest, fp32, default torch settings, `model(input_ids, attention_mask, labels)`.
The project's loop is `cotchar.organisms.train.train` exactly as the `train` stage runs it
(packed fixed-shape batches, torch.compile when `train.compile` is set, bf16 autocast when
`train.bf16` is set, deterministic kernels). Its steady-state rate is measured as the difference
of two runs (`--steps` and `--steps` + warm-up steps), so the one-off compile is left out of the
ratio; the compile cost is printed apart. Also printed: each loop's achieved FLOP/s as a fraction
of a matrix-multiply peak measured in the same run.

    python benchmarks/train_throughput.py [--steps 60] [--style character]

Uses data/world if `dvc repro world` has run, otherwise builds the world in memory.
"""

from __future__ import annotations

import argparse
import random
import time

import torch
from transformers import AutoTokenizer

from cotchar.organisms.data import encode_corpus, padded_batches
from cotchar.organisms.model import build_model, count_parameters
from cotchar.organisms.train import train
from cotchar.params import load_params
from cotchar.world.build import WORLD_DIR, build_world, load_corpus


def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 10) -> float:
    """FLOP/s of a large square matrix multiply at `dtype` on the configured threads."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    start = time.perf_counter()
    for _ in range(reps):
        torch.mm(a, b)
    return 2 * n**3 * reps / (time.perf_counter() - start)


def baseline_tokens_per_second(model, examples, batch_size: int, steps: int, lr: float, pad_id: int) -> float:
    """The textbook loop: padded batches, fp32, default torch settings."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    stream = padded_batches(examples, batch_size, random.Random(0), pad_id)
    tokens, start = 0, 0.0
    for step in range(steps + 1):
        if step == 1:  # the first step is warm-up
            tokens, start = 0, time.perf_counter()
        batch = next(stream)
        out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=batch.labels)
        out.loss.backward()
        opt.step()
        opt.zero_grad()
        tokens += batch.tokens
    return tokens / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=60, help="timed steps of each loop")
    ap.add_argument("--warmup", type=int, default=10, help="project-loop steps left out of the rate (compile)")
    ap.add_argument("--style", default="character")
    ap.add_argument("--baseline-batch", type=int, default=16, help="examples per baseline batch")
    args = ap.parse_args()

    P = load_params()
    size, p = P.sizes.paper.train, P.train
    torch.set_num_threads(p.threads)
    if (WORLD_DIR / "tokenizer").is_dir():
        tokenizer, records = AutoTokenizer.from_pretrained(WORLD_DIR / "tokenizer"), load_corpus(args.style)
    else:
        world = build_world(P.model_copy(update={"size": "paper"}))
        tokenizer, records = world.tokenizer, world.corpora[args.style]
    examples = encode_corpus(tokenizer, records, size.pack_length)
    pad = tokenizer.pad_token_id

    model = build_model(size.model, tokenizer, seed=0)
    n_params = count_parameters(model)
    base_tps = baseline_tokens_per_second(model, examples, args.baseline_batch, args.steps, p.learning_rate, pad)

    # The project's loop; the stage's own function, stopped after a fixed number of steps.
    def run(steps: int):
        return train(build_model(size.model, tokenizer, seed=0), examples, p, size, 0, pad, progress=False, max_steps=steps)

    run(2)  # fills the compile cache, as the first organism of a pipeline run does
    short, long = run(args.warmup), run(args.warmup + args.steps)
    ours_tps = (long.tokens_seen - short.tokens_seen) / (long.seconds - short.seconds)
    first_steps = short.seconds - args.warmup * (long.seconds - short.seconds) / args.steps

    peak32, peak16 = matmul_peak(torch.float32), matmul_peak(torch.bfloat16)
    flops_per_token = 6 * n_params  # forward + backward, attention scores not counted
    ours_peak = peak16 if p.bf16 else peak32
    print(f"model: {n_params:,} parameters; {p.threads} threads; {args.steps} timed steps per loop")
    print(f"matmul peak: fp32 {peak32 / 1e12:.3f} TFLOP/s, bf16 {peak16 / 1e12:.3f} TFLOP/s")
    print(f"baseline (fp32 eager, {args.baseline_batch} padded shuffled examples per batch): {base_tps:,.0f} tokens/s, "
          f"{flops_per_token * base_tps / peak32:.1%} of fp32 peak")
    print(f"project loop ({size.rows}x{size.pack_length} packed, {'compiled' if p.compile else 'eager'}, "
          f"{'bf16 autocast' if p.bf16 else 'fp32'}, fill {long.pack_fill:.1%}): {ours_tps:,.0f} tokens/s, "
          f"{flops_per_token * ours_tps / ours_peak:.1%} of {'bf16' if p.bf16 else 'fp32'} peak")
    print(f"one-off cost of the project loop's start (compile, cache warm): {max(0.0, first_steps):.1f} s")
    print(f"speed-up ratio: {ours_tps / base_tps:.2f}")


if __name__ == "__main__":
    main()
