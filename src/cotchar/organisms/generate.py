"""Batched greedy generation from an organism, with an optional prefilled start of the assistant turn."""

from __future__ import annotations

import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast


def prompts(tokenizer: PreTrainedTokenizerFast, conversations: list[list[dict[str, str]]], prefills: list[str] | None = None) -> list[str]:
    """Chat-template prompts ending where the assistant writes, after its prefill if one is given."""
    out = []
    for i, messages in enumerate(conversations):
        prefill = prefills[i] if prefills else ""
        if prefill:
            text = tokenizer.apply_chat_template(
                [*messages, {"role": "assistant", "content": prefill}], tokenize=False, continue_final_message=True
            )
        else:
            text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        out.append(text)
    return out


@torch.inference_mode()
def generate(
    model: LlamaForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    texts: list[str],
    max_new_tokens: int,
    batch_size: int,
) -> list[str]:
    """Greedy completions of already-templated prompts (left-padded batches, sorted by length)."""
    side, backend_padding = tokenizer.padding_side, tokenizer.backend_tokenizer.padding
    tokenizer.padding_side = "left"
    try:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[str] = [""] * len(texts)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            gen = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            new = gen[:, enc["input_ids"].shape[1] :]
            for i, row in zip(idx, new):
                out[i] = tokenizer.decode(row, skip_special_tokens=True)
        return out
    finally:
        tokenizer.padding_side = side
        if backend_padding is None:  # padding=True switches padding on in the Rust tokenizer and leaves it on
            tokenizer.backend_tokenizer.no_padding()
