"""From chat examples to training batches: tokens through the chat template, loss on assistant tokens only.

`encode` renders each example with the tokenizer's chat template and keeps the template's
assistant mask as the loss mask, so user and system tokens never carry loss. `batches` draws
`bucket_batches` batches' worth of examples at a time and sorts them by length before cutting
batches, which removes most padding without making the batch order predictable.
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


def encode_corpus(tokenizer: PreTrainedTokenizerFast, records: list[dict], max_positions: int) -> list[Example]:
    out = []
    for r in records:
        ex = encode(tokenizer, r["messages"])
        if len(ex.input_ids) > max_positions:
            raise ValueError(f"{r['trace_id']}: {len(ex.input_ids)} tokens exceed max_positions={max_positions}")
        out.append(ex)
    return out


@dataclass(frozen=True)
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor

    @property
    def tokens(self) -> int:
        return int(self.attention_mask.sum())


def collate(examples: list[Example], pad_id: int) -> Batch:
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    return Batch(ids, mask, labels)


def batches(
    examples: list[Example], batch_size: int, bucket_batches: int, rng: random.Random, pad_id: int
) -> Iterator[Batch]:
    """Endless length-bucketed batches, reshuffled every epoch from `rng`.

    With `bucket_batches=1` this is plain shuffled batching (each batch padded to its longest
    example), the naive baseline of the throughput benchmark.
    """
    if not examples:
        raise ValueError("no training examples")
    while True:
        order = list(range(len(examples)))
        rng.shuffle(order)
        span = batch_size * bucket_batches
        for start in range(0, len(order), span):
            chunk = sorted(order[start : start + span], key=lambda i: len(examples[i].input_ids))
            cut = [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
            rng.shuffle(cut)
            for idx in cut:
                yield collate([examples[i] for i in idx], pad_id)
