"""From chat examples to training batches: tokens through the chat template, loss on assistant tokens only.

`encode` renders each example with the tokenizer's chat template and keeps the template's
assistant mask as the loss mask, so user and system tokens never carry loss.

Training batches are *packed*: every batch is `rows` rows of exactly `pack_length` tokens, each
row holding several whole examples back to back. Position ids restart at 0 for every example,
and `transformers` turns restarting positions into a block-diagonal causal mask (attention never
crosses from one example into the next), so a packed batch computes the same thing as a padded
one without the padding. The fixed shape also lets `torch.compile` build one graph per run.
`padded_batches` is the textbook alternative, kept as the throughput benchmark's baseline.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerFast

IGNORE = -100  # label of tokens that carry no loss (the convention of transformers' loss)


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]  # IGNORE where the token is not the assistant's


def encode(tokenizer: PreTrainedTokenizerFast, messages: list[dict[str, str]]) -> Example:
    enc = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = enc["input_ids"], enc["assistant_masks"]
    if not any(mask):
        raise ValueError(f"example has no assistant tokens to learn from: {messages!r:.200}")
    return Example(ids, [t if m else IGNORE for t, m in zip(ids, mask)])


def encode_corpus(tokenizer: PreTrainedTokenizerFast, records: list[dict], max_tokens: int) -> list[Example]:
    out = []
    for r in records:
        ex = encode(tokenizer, r["messages"])
        if len(ex.input_ids) > max_tokens:
            raise ValueError(f"{r['trace_id']}: {len(ex.input_ids)} tokens exceed the limit of {max_tokens}")
        out.append(ex)
    return out


@dataclass(frozen=True)
class Batch:
    input_ids: torch.Tensor
    labels: torch.Tensor
    tokens: int  # real (non-padding) tokens
    attention_mask: torch.Tensor | None = None  # padded batches
    position_ids: torch.Tensor | None = None  # packed batches: restarting positions mark example boundaries

    def model_inputs(self) -> dict[str, torch.Tensor]:
        extra = {"attention_mask": self.attention_mask} if self.attention_mask is not None else {"position_ids": self.position_ids}
        return {"input_ids": self.input_ids, "labels": self.labels, **extra}


# A packing plan: batch -> row -> indices of the examples laid end to end in that row.
Plan = list[list[list[int]]]


def pack_plan(
    lengths: list[int], rows: int, pack_length: int, epochs: int, rng: random.Random, patience: int = 16
) -> Plan:
    """Every example exactly `epochs` times, in a fresh shuffled order each epoch, packed first-fit.

    Each example goes into the first row of the open batch with room for it. An example that
    fits nowhere waits; once `patience` examples are waiting the batch is closed and the waiting
    ones open the next. Waiting a little instead of closing at the first miss lets short examples
    fill the gaps (a few points more of the positions hold real tokens). The last batch may be
    part-empty.
    """
    if not lengths:
        raise ValueError("no training examples")
    too_long = [i for i, n in enumerate(lengths) if n > pack_length]
    if too_long:
        raise ValueError(f"{len(too_long)} examples exceed pack_length={pack_length} (longest {max(lengths)} tokens)")
    plan: Plan = []
    batch: list[list[int]] = [[] for _ in range(rows)]
    fill = [0] * rows

    def place(i: int) -> bool:
        for r in range(rows):
            if fill[r] + lengths[i] <= pack_length:
                batch[r].append(i)
                fill[r] += lengths[i]
                return True
        return False

    def close() -> None:
        plan.append([list(row) for row in batch])
        for r in range(rows):
            batch[r].clear()
            fill[r] = 0

    waiting: list[int] = []
    for _ in range(epochs):
        order = list(range(len(lengths)))
        rng.shuffle(order)
        for i in order:
            if place(i):
                continue
            waiting.append(i)
            if len(waiting) >= patience:
                close()
                waiting = [w for w in waiting if not place(w)]
    while waiting:  # an empty batch always takes the first waiting example, so this ends
        close()
        waiting = [w for w in waiting if not place(w)]
    if any(batch):
        close()
    return plan


def collate_packed(examples: list[Example], batch: list[list[int]], pack_length: int, pad_id: int) -> Batch:
    rows = len(batch)
    ids = torch.full((rows, pack_length), pad_id, dtype=torch.long)
    labels = torch.full((rows, pack_length), IGNORE, dtype=torch.long)
    pos = torch.zeros((rows, pack_length), dtype=torch.long)
    tokens = 0
    for r, members in enumerate(batch):
        at = 0
        for i in members:
            e = examples[i]
            n = len(e.input_ids)
            if at + n > pack_length:
                raise ValueError(f"row {r} of the batch holds more than pack_length={pack_length} tokens")
            ids[r, at : at + n] = torch.tensor(e.input_ids)
            labels[r, at : at + n] = torch.tensor(e.labels)
            pos[r, at : at + n] = torch.arange(n)
            at += n
        tokens += at
        pos[r, at:] = torch.arange(pack_length - at)  # the padding tail is a sequence of its own, with no loss
    return Batch(ids, labels, tokens, position_ids=pos)


def collate(examples: list[Example], pad_id: int) -> Batch:
    """Right-padded to the longest example, with an attention mask (generation-style batching)."""
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    return Batch(ids, labels, int(mask.sum()), attention_mask=mask)


def padded_batches(examples: list[Example], batch_size: int, rng: random.Random, pad_id: int) -> Iterator[Batch]:
    """Endless shuffled batches, each padded to its longest example: the benchmark's naive baseline."""
    if not examples:
        raise ValueError("no training examples")
    while True:
        order = list(range(len(examples)))
        rng.shuffle(order)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield collate([examples[i] for i in order[start : start + batch_size]], pad_id)
