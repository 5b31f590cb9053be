"""The training loop of one organism, and saving it as a Hugging Face model.

AdamW with linear warm-up and cosine decay, gradient clipping, packed fixed-shape batches
(`cotchar.organisms.data`), `torch.compile` of the forward and backward pass, optional bf16
autocast (AMX on this CPU; master weights stay fp32) and a fixed thread count. Training length is
counted in epochs, so every style sees each of its training traces equally often. Deterministic:
the same seed and parameters give the same weights, bit for bit (the compiled kernels too; a
test checks it).
"""

from __future__ import annotations

import math
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.utils.deterministic
from tqdm.auto import tqdm
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from cotchar.organisms.data import Batch, Example, collate_packed, pack_plan
from cotchar.params import TrainParams, TrainSize


@dataclass
class TrainLog:
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    tokens_seen: int = 0
    supervised_tokens: int = 0
    steps_total: int = 0
    slots: int = 0  # token positions in all batches, padding included
    seconds: float = 0.0

    @property
    def pack_fill(self) -> float:
        """Share of the batch positions that hold real tokens."""
        return self.tokens_seen / self.slots if self.slots else 0.0

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
    # Deterministic mode also fills every new tensor with NaN to expose reads of uninitialised
    # memory; no op here reads any, and the fill costs about 5% of a training step.
    torch.utils.deterministic.fill_uninitialized_memory = False


def train_step(
    forward: torch.nn.Module, params: list[torch.nn.Parameter], batch: Batch, opt: torch.optim.Optimizer, grad_clip: float, bf16: bool
) -> float:
    """One optimizer step; `forward` is the model or its compiled wrapper."""
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
    with ctx:
        # use_cache=False: in training a KV cache is pure overhead, and transformers only reads
        # example boundaries from position ids when there is no cache.
        out = forward(**batch.model_inputs(), use_cache=False)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(params, grad_clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return out.loss.detach().item()


def train(
    model: LlamaForCausalLM,
    examples: list[Example],
    p: TrainParams,
    size: TrainSize,
    seed: int,
    pad_id: int,
    progress: bool = True,
    max_steps: int | None = None,
) -> TrainLog:
    """Train in place for `size.epochs` epochs of packed batches; returns the loss curve and token counts.

    `max_steps` stops early (the throughput benchmark); the learning-rate schedule stays that of
    the full run.
    """
    configure_torch(p.threads)
    rng = random.Random(f"{seed}:batches")
    plan = pack_plan([len(e.input_ids) for e in examples], size.rows, size.pack_length, size.epochs, rng)
    decay = [w for n, w in model.named_parameters() if w.ndim >= 2]
    no_decay = [w for n, w in model.named_parameters() if w.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": p.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=p.learning_rate,
        betas=(0.9, 0.95),
        foreach=True,
    )
    model.train()
    # Every batch has the same shape, so dynamic=False compiles exactly one graph.
    forward = torch.compile(model, dynamic=False) if p.compile else model
    params = list(model.parameters())
    log, window = TrainLog(steps_total=len(plan)), []
    start = time.perf_counter()
    for step, rows in enumerate(tqdm(plan[:max_steps], desc="train", unit="step", disable=not progress)):
        lr = lr_at(step, len(plan), p)
        for group in opt.param_groups:
            group["lr"] = lr
        batch = collate_packed(examples, rows, size.pack_length, pad_id)
        window.append(train_step(forward, params, batch, opt, p.grad_clip, p.bf16))
        log.tokens_seen += batch.tokens
        log.slots += batch.input_ids.numel()
        log.supervised_tokens += int((batch.labels != -100).sum())
        if (step + 1) % p.log_every == 0 or step + 1 == len(plan[:max_steps]):
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
