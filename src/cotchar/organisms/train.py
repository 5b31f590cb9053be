"""The training loop of one organism, and saving it as a Hugging Face model.

AdamW with linear warm-up and cosine decay, gradient clipping, bf16 autocast (AMX on this CPU;
master weights stay fp32), length-bucketed batches and a fixed thread count. Deterministic: the
same seed and parameters give the same weights, bit for bit.
"""

from __future__ import annotations

import math
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from cotchar.organisms.data import Batch, Example, batches
from cotchar.params import TrainParams


@dataclass
class TrainLog:
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    tokens_seen: int = 0
    supervised_tokens: int = 0
    seconds: float = 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens_seen / self.seconds if self.seconds else 0.0


def lr_at(step: int, total: int, p: TrainParams) -> float:
    """Linear warm-up to the peak rate, then cosine decay to `min_lr_ratio` of it."""
    if step < p.warmup_steps:
        return p.learning_rate * (step + 1) / p.warmup_steps
    progress = (step - p.warmup_steps) / max(1, total - p.warmup_steps)
    return p.learning_rate * (p.min_lr_ratio + (1 - p.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def configure_torch(threads: int) -> None:
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def train_step(model: LlamaForCausalLM, batch: Batch, opt: torch.optim.Optimizer, p: TrainParams, bf16: bool) -> float:
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
    with ctx:
        out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=batch.labels)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), p.grad_clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return float(out.loss)


def train(
    model: LlamaForCausalLM,
    examples: list[Example],
    p: TrainParams,
    steps: int,
    batch_size: int,
    seed: int,
    pad_id: int,
    progress: bool = True,
) -> TrainLog:
    """Train in place for `steps` optimizer steps; returns the loss curve and token counts."""
    configure_torch(p.threads)
    rng = random.Random(f"{seed}:batches")
    decay = [w for n, w in model.named_parameters() if w.ndim >= 2]
    no_decay = [w for n, w in model.named_parameters() if w.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": p.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=p.learning_rate,
        betas=(0.9, 0.95),
        foreach=True,
    )
    model.train()
    log, window = TrainLog(), []
    stream = batches(examples, batch_size, p.bucket_batches, rng, pad_id)
    start = time.perf_counter()
    for step in tqdm(range(steps), desc="train", unit="step", disable=not progress):
        lr = lr_at(step, steps, p)
        for group in opt.param_groups:
            group["lr"] = lr
        batch = next(stream)
        window.append(train_step(model, batch, opt, p, p.bf16))
        log.tokens_seen += batch.tokens
        log.supervised_tokens += int((batch.labels != -100).sum())
        if (step + 1) % p.log_every == 0 or step + 1 == steps:
            log.steps.append(step + 1)
            log.loss.append(sum(window) / len(window))
            log.lr.append(lr)
            log.tokens.append(log.tokens_seen)
            window = []
    log.seconds = time.perf_counter() - start
    model.eval()
    return log


def save_organism(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, out: Path | str) -> Path:
    """Weights, config, generation config, tokenizer and chat template, loadable with from_pretrained."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
