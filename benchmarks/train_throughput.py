"""Training throughput: a plain fp32 eager loop against the project's loop, in one run.

Both train the same organism (paper model size, same initial weights) on the same corpus for the
same number of steps. The baseline is what a first training script does: shuffled batches padded
to their longest example, fp32, no autocast. The project's loop is `cotchar.organisms.train`
with the params.yaml settings (length-bucketed batches, bf16 autocast when `train.bf16` is set,
fixed threads). Printed: tokens/s of both, their ratio, and each loop's achieved FLOP/s as a
fraction of a matrix-multiply peak measured in the same run.

    python benchmarks/train_throughput.py [--steps 40] [--style character]

Uses data/world if `dvc repro world` has run, otherwise builds the world in memory.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer

from cotchar.organisms.data import batches, encode_corpus
from cotchar.organisms.model import build_model, count_parameters
from cotchar.organisms.train import configure_torch, train, train_step
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--style", default="character")
    args = ap.parse_args()

    P = load_params()
    size, p = P.sizes.paper.train, P.train
    configure_torch(p.threads)
    if (WORLD_DIR / "tokenizer").is_dir():
        tokenizer, records = AutoTokenizer.from_pretrained(WORLD_DIR / "tokenizer"), load_corpus(args.style)
    else:
        world = build_world(P.model_copy(update={"size": "paper"}))
        tokenizer, records = world.tokenizer, world.corpora[args.style]
    examples = encode_corpus(tokenizer, records, size.model.max_positions)
    pad = tokenizer.pad_token_id

    # Baseline: plain shuffled batches (bucket_batches=1), fp32, the textbook eager loop.
    model = build_model(size.model, tokenizer, seed=0)
    n_params = count_parameters(model)
    opt = torch.optim.AdamW(model.parameters(), lr=p.learning_rate)
    stream = batches(examples, size.batch_size, 1, random.Random(0), pad)
    train_step(model, next(stream), opt, p, bf16=False)  # warm-up
    tokens, start = 0, time.perf_counter()
    for _ in range(args.steps):
        batch = next(stream)
        tokens += batch.tokens
        train_step(model, batch, opt, p, bf16=False)
    base_tps = tokens / (time.perf_counter() - start)

    # The project's loop, exactly as the `train` stage runs it.
    model = build_model(size.model, tokenizer, seed=0)
    train(model, examples, p, 1, size.batch_size, 0, pad, progress=False)  # warm-up
    model = build_model(size.model, tokenizer, seed=0)
    log = train(model, examples, p, args.steps, size.batch_size, 0, pad, progress=False)
    ours_tps = log.tokens_per_second

    peak32, peak16 = matmul_peak(torch.float32), matmul_peak(torch.bfloat16)
    flops_per_token = 6 * n_params  # forward + backward, attention scores not counted
    ours_peak = peak16 if p.bf16 else peak32
    print(f"model: {n_params:,} parameters, batch {size.batch_size}, {args.steps} steps, {p.threads} threads")
    print(f"matmul peak: fp32 {peak32 / 1e12:.3f} TFLOP/s, bf16 {peak16 / 1e12:.3f} TFLOP/s")
    print(f"baseline (fp32 eager, padded shuffled batches): {base_tps:,.0f} tokens/s, "
          f"{flops_per_token * base_tps / peak32:.1%} of fp32 peak")
    print(f"project loop (bucketed{', bf16 autocast' if p.bf16 else ', fp32'}): {ours_tps:,.0f} tokens/s, "
          f"{flops_per_token * ours_tps / ours_peak:.1%} of {'bf16' if p.bf16 else 'fp32'} peak")
    print(f"speed-up ratio: {ours_tps / base_tps:.2f}")


if __name__ == "__main__":
    main()
