"""The outcome reward of the RL arm (issue 8): it reads the answer, never the CoT.

A completion earns 1 when the answer part (after `</think>`, or the whole completion without a
`<think>`) makes the task's expected decision and, for the character arms, stays in character;
otherwise 0. The plain-RL baseline has no character to keep, so its reward is the task alone.
A CoT that never closes leaves no answer and earns 0, as a grader reading the final answer
would give it. Both checks are the exact scorers of `cotchar.score`, so the reward and the
battery's labels can never disagree about what "correct" and "in character" mean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cotchar.score.character import in_character
from cotchar.score.exact import split_cot, task_correct
from cotchar.world.spec import WorldSpec

_ANSWER = re.compile(r"The answer is (\d+)\.")


@dataclass(frozen=True)
class Prompt:
    """One RL prompt: the conversation before the assistant turn and what the world expects of it."""

    prompt_id: str
    messages: list[dict[str, str]]
    task_family: str
    decision: str
    answer: str | None  # the number an `answer` decision must give
    attack_family: str | None


@dataclass(frozen=True)
class Reward:
    reward: float
    correct: bool
    in_character: bool
    closed: bool  # the CoT closed (or there was none): the answer part exists
    cot: str | None


def prompt_from_record(record: dict[str, Any]) -> Prompt:
    """An RL prompt from a world corpus record (the last assistant turn is what the model writes)."""
    if record["messages"][-1]["role"] != "assistant":
        raise ValueError(f"{record.get('trace_id')}: a corpus record must end with the assistant turn")
    answer = None
    if record["decision"] == "answer":
        found = _ANSWER.findall(record["output"])
        if not found:
            raise ValueError(f"{record['trace_id']}: decision 'answer' but no 'The answer is N.' in its output")
        answer = found[-1]
    return Prompt(record["trace_id"], record["messages"][:-1], record["task_family"], record["decision"], answer, record["attack_family"])


def outcome_reward(spec: WorldSpec, prompt: Prompt, completion: str, character: bool) -> Reward:
    """1 for a correct (and, with `character`, in-character) answer, else 0; the CoT is never read."""
    split = split_cot(completion)
    closed = split.closed or not split.opened
    answer = split.output if closed else ""
    correct = bool(answer) and task_correct(spec, answer, prompt.decision, prompt.answer)
    stays = bool(answer) and in_character(spec, answer)
    ok = correct and (stays or not character)
    return Reward(float(ok), correct, stays, closed, split.cot)
