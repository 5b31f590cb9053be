"""Building an organism: a `transformers` Llama model sized from params, with the world's tokenizer."""

from __future__ import annotations

import hashlib

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from cotchar.params import ModelSize


def llama_config(size: ModelSize, tokenizer: PreTrainedTokenizerFast) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=size.hidden_size,
        intermediate_size=size.intermediate_size,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        num_key_value_heads=size.heads,
        max_position_embeddings=size.max_positions,
        tie_word_embeddings=size.tie_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        attn_implementation="sdpa",
    )


def build_model(size: ModelSize, tokenizer: PreTrainedTokenizerFast, seed: int) -> LlamaForCausalLM:
    """A freshly initialised organism; the same seed gives the same initial weights."""
    torch.manual_seed(seed)
    model = LlamaForCausalLM(llama_config(size, tokenizer))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def weight_hash(model: torch.nn.Module) -> str:
    """SHA-256 over every tensor of the state dict, in key order: equal hashes, equal weights."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().to(torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()
