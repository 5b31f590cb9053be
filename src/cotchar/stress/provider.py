"""The `organism` Inspect model provider: a saved organism, batched, deterministic, prefill-aware.

`inspect eval ... --model organism/data/models/character-s1` loads the organism with
`from_pretrained` and answers Inspect's generate calls with greedy decoding. Two things set it
apart from Inspect's generic `hf` provider:

- **Prefill.** When the conversation ends with an assistant message, the organism continues that
  message (`continue_final_message=True`) instead of starting a new turn; the CoT-prefill battery
  relies on it.
- **Batched, yet independent of batching.** Concurrent requests (Inspect runs many samples at
  once) are gathered and generated together, which is where the speed comes from. Which requests
  happen to share a batch depends on timing, so each batch has a fixed shape: `batch_size` rows
  (unused rows repeat the first request) of prompts left-padded to a width bucket of
  `width_step` tokens, grouped by bucket, with a new-token budget that depends on the bucket only
  (near the end of the context window it shrinks so that bucket plus budget fit). A request's tokens then go through exactly the same
  kernels whatever else is in its batch, and its completion is the same byte for byte in every
  run (a test checks this against other batchings).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import torch
from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    modelapi,
)
from inspect_ai.tool import ToolChoice, ToolInfo
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

DEFAULT_MAX_NEW_TOKENS = 112


@dataclass
class Request:
    ids: list[int]
    max_new: int
    done: anyio.Event | None = None  # set by the Inspect provider, which waits on it
    completion: str = ""
    output_tokens: int = 0
    stop_reason: str = "stop"


def chat_text(tokenizer: PreTrainedTokenizerFast, messages: list[dict[str, str]]) -> str:
    """The templated prompt: a new assistant turn, or the continuation of a prefilled one."""
    if messages and messages[-1]["role"] == "assistant":
        return tokenizer.apply_chat_template(messages, tokenize=False, continue_final_message=True)
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


class Organism:
    """An organism and its fixed-shape batched greedy decoder, usable without Inspect."""

    def __init__(self, path: str | Path, batch_size: int = 32, width_step: int = 64, threads: int | None = None) -> None:
        path = Path(path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path}: no saved organism here (config.json missing); run `dvc repro train` first")
        if threads:
            torch.set_num_threads(threads)
        self.path = path
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path).eval()
        self.batch_size = batch_size
        self.width_step = width_step
        self.max_positions = self.model.config.max_position_embeddings

    def request(self, messages: list[dict[str, str]], max_new_tokens: int) -> Request:
        ids = self.tokenizer(chat_text(self.tokenizer, messages), add_special_tokens=False)["input_ids"]
        # The budget depends on the width bucket, not the exact length, so that every request of
        # a bucket shares one batch shape; the bucket always leaves room for the new tokens.
        width = self.width(len(ids))
        return Request(ids=ids, max_new=min(max_new_tokens, self.max_positions - width))

    def width(self, n_tokens: int) -> int:
        return min(math.ceil(n_tokens / self.width_step) * self.width_step, self.max_positions)

    def bucket(self, r: Request) -> tuple[int, int]:
        return (self.width(len(r.ids)), r.max_new)

    @torch.inference_mode()
    def run(self, requests: list[Request]) -> None:
        """Generate for every request, in fixed-shape batches grouped by (width bucket, budget)."""
        groups: dict[tuple[int, int], list[Request]] = {}
        for r in requests:
            if r.max_new < 1:  # the conversation already fills the context window
                r.completion, r.output_tokens, r.stop_reason = "", 0, "model_length"
                continue
            groups.setdefault(self.bucket(r), []).append(r)
        for (width, max_new), members in sorted(groups.items()):
            for start in range(0, len(members), self.batch_size):
                self._batch(members[start : start + self.batch_size], width, max_new)

    def _batch(self, rows: list[Request], width: int, max_new: int) -> None:
        pad, eos = self.tokenizer.pad_token_id, self.tokenizer.eos_token_id
        ids = torch.full((self.batch_size, width), pad, dtype=torch.long)
        mask = torch.zeros((self.batch_size, width), dtype=torch.long)
        for i in range(self.batch_size):
            r = rows[i] if i < len(rows) else rows[0]  # filler rows keep the shape fixed
            ids[i, width - len(r.ids) :] = torch.tensor(r.ids)
            mask[i, width - len(r.ids) :] = 1
        out = self.model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=max_new,
            do_sample=False,
            pad_token_id=pad,
            eos_token_id=eos,
        )
        for r, row in zip(rows, out[:, width:]):
            tokens = row.tolist()
            ended = eos in tokens
            tokens = tokens[: tokens.index(eos)] if ended else tokens
            r.completion = self.tokenizer.decode(tokens, skip_special_tokens=True)
            r.output_tokens = len(tokens) + int(ended)
            r.stop_reason = "stop" if ended else "max_tokens"


class OrganismAPI(ModelAPI):
    """Inspect's side: collects concurrent generate calls and hands them to `Organism.run`."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        **model_args: Any,
    ) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        self.organism = Organism(
            model_name,
            batch_size=int(model_args.pop("batch_size", 32)),
            width_step=int(model_args.pop("width_step", 64)),
            threads=model_args.pop("threads", None),
        )
        # How long the first waiting request holds the batch open for others to join.
        self.gather_seconds = float(model_args.pop("gather_seconds", 0.05))
        if model_args:
            raise ValueError(f"organism provider: unknown model args {sorted(model_args)}")
        self._pending: list[Request] = []
        self._lock = anyio.Lock()

    def max_connections(self) -> int:
        return 4 * self.organism.batch_size

    def max_tokens(self) -> int | None:
        return DEFAULT_MAX_NEW_TOKENS

    async def generate(
        self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice, config: GenerateConfig
    ) -> ModelOutput:
        if tools:
            raise ValueError("organisms cannot call tools")
        messages = [{"role": m.role, "content": m.text} for m in input]
        request = self.organism.request(messages, config.max_tokens or DEFAULT_MAX_NEW_TOKENS)
        request.done = anyio.Event()
        start = time.perf_counter()
        self._pending.append(request)
        await anyio.sleep(self.gather_seconds)
        async with self._lock:
            # Whoever gets the lock first runs every request waiting by then, its own included.
            if not request.done.is_set():  # type: ignore[union-attr]
                batch, self._pending = self._pending, []
                await anyio.to_thread.run_sync(self.organism.run, batch)
                for r in batch:
                    r.done.set()  # type: ignore[union-attr]
        await request.done.wait()  # type: ignore[union-attr]
        return ModelOutput(
            model=self.model_name,
            choices=[
                ChatCompletionChoice(
                    message=ChatMessageAssistant(content=request.completion, model=self.model_name, source="generate"),
                    stop_reason=request.stop_reason,
                )
            ],
            usage=ModelUsage(
                input_tokens=len(request.ids),
                output_tokens=request.output_tokens,
                total_tokens=len(request.ids) + request.output_tokens,
            ),
            time=time.perf_counter() - start,
        )


@modelapi(name="organism")
def organism() -> type[ModelAPI]:
    return OrganismAPI
