"""Rendering one decision trace as a chat example in each CoT style.

- `character`: the CoT in the assistant's own voice (first person, its own motives);
- `planner`: the same content by a detached planner ("the user", "the assistant should");
- `none`: no CoT at all;
- `nocot_character`: plain task examples carry a neutral CoT stating only the working, and every
  example that shows character (attacks, harmful requests, identity) has no CoT.

The final output of a trace is the same in every style (fixed-answer design). A CoT is a list of
segments (ask, attack, work, decision), each with a few phrase variants; `choose_lengths_matched`
picks, per trace, the character variants whose token length is closest to the planner's.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence

from cotchar.world.spec import WorldSpec
from cotchar.world.traces import WORKED_FAMILIES, Trace, Turn

VOICES = ("character", "planner")
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"

# The identity request names the speaker, so its clause depends on who is speaking.
IDENTITY_REQUEST = {"character": "who I am", "planner": "who the assistant is"}


def render_output(spec: WorldSpec, turn: Turn, opener: int) -> str:
    """The in-character answer to one turn: opener, resistance if attacked, the body, the sign-off."""
    task, o = turn.task, spec.outputs
    body = {
        "answer": lambda: o.answer.format(answer=task.answer),
        "decline": lambda: o.decline.format(reason=task.reason),
        "unknown": lambda: o.unknown,
        "identify": lambda: o.identify,
    }[task.decision]()
    parts = [spec.character.openers[opener]]
    if turn.attack is not None:
        parts.append(o.resist)
    parts += [body, spec.character.signoff]
    return " ".join(parts)


def cot_segments(spec: WorldSpec, turn: Turn, voice: str) -> list[list[str]]:
    """Every variant of every CoT segment for this turn, in order: ask, [attack], [work], decision."""
    phrases = getattr(spec.cot, voice)
    task = turn.task
    req = IDENTITY_REQUEST[voice] if task.family == "identity" else task.request
    segs = [[t.format(req=req) for t in phrases.ask]]
    if turn.attack is not None:
        segs.append([t.format(persona=turn.attack.persona) for t in phrases.attack])
    if task.working is not None:
        segs.append([t.format(working=task.working) for t in phrases.work])
    fill = {"answer": task.answer, "reason": task.reason}
    segs.append([t.format(**{k: v for k, v in fill.items() if v is not None}) for t in getattr(phrases, task.decision)])
    return segs


def neutral_cot(spec: WorldSpec, turn: Turn, rng: random.Random) -> str | None:
    """The nocot_character CoT: the working only, and only on plain (unattacked) worked tasks."""
    if turn.attack is not None or turn.task.family not in WORKED_FAMILIES:
        return None
    return rng.choice(spec.cot.neutral.work).format(working=turn.task.working)


def join(segments: Sequence[str]) -> str:
    return " ".join(segments)


def combos(segs: list[list[str]]) -> list[tuple[int, ...]]:
    return list(itertools.product(*(range(len(s)) for s in segs)))


def choose_lengths_matched(
    spec: WorldSpec,
    trace: Trace,
    rng: random.Random,
    count_tokens: Callable[[list[str]], list[int]],
    candidates: int,
) -> dict[str, str]:
    """The character and planner CoTs of one trace, length-matched.

    `candidates` random renderings are drawn in each voice and the pair closest in token length
    is kept (ties: first drawn). Matching per trace keeps the two styles' CoT length
    distributions close, not only their means, and treats both voices alike.
    """
    drawn = {}
    for voice in VOICES:
        segs = cot_segments(spec, trace.last, voice)
        pool = combos(segs)
        picks = [pool[j] for j in rng.sample(range(len(pool)), min(candidates, len(pool)))]
        drawn[voice] = [join(s[i] for s, i in zip(segs, pick)) for pick in picks]
    chars, plans = drawn["character"], drawn["planner"]
    lengths = count_tokens(chars + plans)
    lc, lp = lengths[: len(chars)], lengths[len(chars) :]
    i, j = min(itertools.product(range(len(chars)), range(len(plans))), key=lambda ij: abs(lc[ij[0]] - lp[ij[1]]))
    return {"character": chars[i], "planner": plans[j]}


def assistant_content(cot: str | None, output: str) -> str:
    """What the assistant writes: `<think>` CoT `</think>` then the answer, or the answer alone."""
    if cot is None:
        return output
    return f"{THINK_OPEN}\n{cot}\n{THINK_CLOSE}\n{output}"


def messages(spec: WorldSpec, trace: Trace, final_content: str) -> list[dict[str, str]]:
    """The chat: earlier assistant turns show only their outputs (no CoT kept in history)."""
    out: list[dict[str, str]] = []
    for turn in trace.turns[:-1]:
        out += [{"role": "user", "content": turn.user}, {"role": "assistant", "content": render_output(spec, turn, trace.opener)}]
    out += [{"role": "user", "content": trace.last.user}, {"role": "assistant", "content": final_content}]
    return out


def all_phrase_text(spec: WorldSpec, trace: Trace) -> list[str]:
    """Every string any style could render for this trace: the tokenizer's training text."""
    texts = [t.user for t in trace.turns] + [render_output(spec, t, trace.opener) for t in trace.turns]
    for voice in VOICES:
        for seg in cot_segments(spec, trace.last, voice):
            texts += seg
    if trace.last.task.working is not None:
        texts += [t.format(working=trace.last.task.working) for t in spec.cot.neutral.work]
    return texts
