"""Collection throughput: one prompt at a time against the project's collection path, in one run.

Both generate greedy completions of the same battery prompts with the same organism. The
baseline is the obvious loop: `model.generate` on one prompt at a time. The project's path is
what the `collect` stage runs: an Inspect task through the `organism` provider, which gathers
concurrent requests into fixed-shape batches, with the exact scorers and the log included.
Printed: generated tokens/s of both and their ratio, and, to show where the time goes, the
provider's batched generation on its own (no Inspect).

    python benchmarks/collect_throughput.py [--model data/models/character-s1] [--prompts 192]

Needs `dvc repro world train` (a world and a trained organism).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import MemoryDataset
from inspect_ai.model import GenerateConfig

from cotchar.params import load_params
from cotchar.stress.battery import SINGLE_TURN_FAMILIES, family_samples, single_turn
from cotchar.stress.provider import Organism, chat_text
from cotchar.stress.scorers import character_scorers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="data/models/character-s1")
    ap.add_argument("--prompts", type=int, default=192, help="battery prompts, taken evenly from the single-turn families")
    args = ap.parse_args()
    P = load_params()
    c = P.collect
    torch.set_num_threads(P.train.threads)

    per_family = -(-args.prompts // len(SINGLE_TURN_FAMILIES))
    samples = [s for f in SINGLE_TURN_FAMILIES for s in family_samples(f, limit=per_family)][: args.prompts]

    # Baseline: one prompt at a time, plain greedy `generate`.
    org = Organism(args.model, batch_size=1)
    tok, model = org.tokenizer, org.model
    base_tokens, start = 0, time.perf_counter()
    with torch.inference_mode():
        for s in samples:
            text = chat_text(tok, [{"role": "user", "content": s.input[0].text}])
            ids = tok(text, return_tensors="pt", add_special_tokens=False)
            out = model.generate(**ids, max_new_tokens=c.max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
            base_tokens += out.shape[1] - ids["input_ids"].shape[1]
    base_seconds = time.perf_counter() - start

    # The provider's batched generation alone (what the collection path runs under Inspect).
    batched = Organism(args.model, batch_size=c.batch_size, width_step=c.width_step)
    requests = [batched.request([{"role": "user", "content": s.input[0].text}], c.max_new_tokens) for s in samples]
    start = time.perf_counter()
    batched.run(requests)
    raw_seconds = time.perf_counter() - start
    raw_tokens = sum(r.output_tokens for r in requests)

    # The collection path: Inspect, the organism provider's fixed-shape batches, scorers, log.
    def collect(batch: list, logs: str):
        task = Task(
            dataset=MemoryDataset(batch, name="throughput"),
            solver=single_turn(),
            scorer=character_scorers(P.world.spec.as_posix()),
            config=GenerateConfig(max_tokens=c.max_new_tokens),
            name="throughput",
        )
        [log] = inspect_eval(
            task,
            model=f"organism/{args.model}",
            model_args={"batch_size": c.batch_size, "width_step": c.width_step, "threads": P.train.threads},
            max_samples=c.max_samples,
            max_connections=c.max_samples,
            log_dir=logs,
            display="none",
        )
        return log

    with tempfile.TemporaryDirectory() as logs:
        collect(samples[:4], logs)  # warm-up: Inspect's lazy imports, as the baseline's model is already loaded
        start = time.perf_counter()
        log = collect(samples, logs)
        ours_seconds = time.perf_counter() - start
        ours_tokens = sum(t["output_tokens"] for s in log.samples for t in s.store["turns"])

    base_tps, ours_tps = base_tokens / base_seconds, ours_tokens / ours_seconds
    print(f"organism {args.model}; {len(samples)} prompts; up to {c.max_new_tokens} new tokens; {P.train.threads} threads")
    print(f"one prompt at a time: {base_tokens:,} tokens in {base_seconds:.1f} s = {base_tps:,.0f} tokens/s")
    print(f"provider batches alone (no Inspect): {raw_tokens:,} tokens in {raw_seconds:.1f} s = {raw_tokens / raw_seconds:,.0f} tokens/s "
          f"(ratio {raw_tokens / raw_seconds / base_tps:.2f})")
    print(f"collection path (Inspect, batches of {c.batch_size}): {ours_tokens:,} tokens in {ours_seconds:.1f} s = {ours_tps:,.0f} tokens/s")
    print(f"speed-up ratio: {ours_tps / base_tps:.2f}")


if __name__ == "__main__":
    main()
