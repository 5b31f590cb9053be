"""The one place where reasoning-model text is split into chain of thought (CoT) and answer.

Formats: `<think>` tags (DeepSeek-R1, Qwen), OpenAI's harmony channels (gpt-oss), plain answers
without a CoT, and Inspect AI's structured message content. Other modules call `split` or
`from_inspect` instead of looking for tags themselves, so a new format is added here only. Odd or
truncated text is never an error: a CoT that never closed is a flag (`closed=False`), and text
outside the recognised structure is kept in the answer rather than dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from inspect_ai.model import ContentReasoning

CotKind = Literal["raw", "summary", "redacted", "none"]
FORMATS = ("auto", "think", "harmony", "plain")

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
CHANNEL, MESSAGE = "<|channel|>", "<|message|>"
# A body ends at its end marker, or at the next message's `<|start|>` when the marker is missing.
_BODY_END = re.compile(r"<\|(end|return|call|start)\|>")
# Harmony framing between messages (`<|start|>assistant to=...`, bare special tokens) is not text.
_FRAMING = re.compile(r"<\|start\|>[^<]*|<\|[a-z]+\|>")
_CHANNEL_NAME = re.compile(r"[^\s<]*")
# Inspect reasoning blocks, most visible first: the most visible block of a message names its kind.
_VISIBILITY: tuple[CotKind, ...] = ("raw", "summary", "redacted")


@dataclass(frozen=True)
class Split:
    cot: str | None  # the CoT text, None when there is none
    output: str  # the answer the user sees
    cot_kind: CotKind  # raw | summary | redacted | none
    # True: the CoT closed (closing tag, end of its channel); False: it never closed, so the output
    # holds only text found before the CoT (normally ""); None: no CoT
    closed: bool | None
    commentary: str | None = None  # harmony `commentary` channel text, kept apart from CoT and answer
    fmt: str = "plain"  # the format actually used (think, harmony or plain)


def detect(text: str) -> str:
    """The format of `text`: harmony wins because its CoT may quote `<think>` tags."""
    if CHANNEL in text:
        return "harmony"
    if THINK_OPEN in text or THINK_CLOSE in text:
        return "think"
    return "plain"


def split(text: str, fmt: str = "auto") -> Split:
    """CoT and answer of raw model text; never raises on a string, whatever it holds."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    used = detect(text) if fmt == "auto" else fmt
    return _PARSERS[used](text)


def _join(*parts: str) -> str:
    return "\n".join(p.strip() for p in parts if p.strip())


def _split_plain(text: str) -> Split:
    return Split(None, text.strip(), "none", None)


def _split_think(text: str) -> Split:
    open_at, close_at = text.find(THINK_OPEN), text.find(THINK_CLOSE)
    if open_at == close_at == -1:
        return Split(None, text.strip(), "none", None, fmt="think")
    if open_at == -1 or -1 < close_at < open_at:  # the chat template opened the CoT inside the prompt
        cot, after = text[:close_at], text[close_at + len(THINK_CLOSE) :]
        return Split(cot.strip(), after.strip(), "raw", True, fmt="think")
    before, body = text[:open_at], text[open_at + len(THINK_OPEN) :]
    cot, closing, after = body.partition(THINK_CLOSE)
    return Split(cot.strip(), _join(before, after), "raw", bool(closing), fmt="think")


def _harmony_message(chunk: str) -> tuple[str, str, bool, str]:
    """Channel, body, whether an end marker closed it, and the rest of a chunk after `<|channel|>`."""
    header, sep, rest = chunk.partition(MESSAGE)
    channel = _CHANNEL_NAME.match(header).group()  # `commentary to=functions.f <|constrain|>json`
    if not sep:  # no `<|message|>`: truncated or malformed, so what follows the name is the body
        rest = chunk[len(channel) :]
    end = _BODY_END.search(rest)
    if end is None:
        return channel, rest, False, ""
    return channel, rest[: end.start()], end.group(1) != "start", rest[end.start() :]


def _split_harmony(text: str) -> Split:
    first, *chunks = text.split(CHANNEL)
    analysis: list[str] = []
    commentary: list[str] = []
    output = [_FRAMING.sub("", first)]
    final = analysis_ended = False
    for chunk in chunks:
        channel, body, ended, rest = _harmony_message(chunk)
        if channel == "analysis":
            analysis.append(body)
            analysis_ended = ended
        elif channel == "commentary":
            commentary.append(body)
        else:  # final, or a channel harmony does not define: shown to the user, so it is answer
            output.append(body)
            final = final or channel == "final"
        output.append(_FRAMING.sub("", rest))
    if not analysis:
        return Split(None, _join(*output), "none", None, _join(*commentary) or None, "harmony")
    closed = final or analysis_ended
    return Split(_join(*analysis), _join(*output), "raw", closed, _join(*commentary) or None, "harmony")


_PARSERS = {"think": _split_think, "harmony": _split_harmony, "plain": _split_plain}


def from_inspect(content: str | list) -> Split:
    """Split an Inspect assistant message's content: reasoning blocks first, `<think>` tags in its text next."""
    if isinstance(content, str):
        return split(content)
    from inspect_ai.model import ContentReasoning, ContentText  # slow to import; only Inspect logs need it

    text = split("\n".join(c.text for c in content if isinstance(c, ContentText)))  # joined as Inspect's .text does
    blocks = [_reasoning(c) for c in content if isinstance(c, ContentReasoning)]
    if not blocks:
        return text
    kind = min((k for k, _ in blocks), key=_VISIBILITY.index)
    cots = [c for _, c in blocks if c is not None] + ([text.cot] if text.cot is not None else [])
    closed = True if text.cot is None else text.closed
    return Split("\n".join(cots) if cots else None, text.output, kind, closed, text.commentary, text.fmt)


def _reasoning(block: ContentReasoning) -> tuple[CotKind, str | None]:
    """Kind and readable text of one ContentReasoning; a redacted block's `reasoning` is an opaque blob.

    Providers that hide the raw reasoning usually still return a readable summary with it: that
    is labelled `summary` (what a reader sees is a summary); `redacted` is kept for reasoning of
    which nothing readable came back.
    """
    if block.redacted:
        summary = (block.summary or "").strip()
        return ("summary", summary) if summary else ("redacted", None)
    if block.summary and not block.reasoning.strip():
        return "summary", block.summary.strip()
    return "raw", block.reasoning.strip()
