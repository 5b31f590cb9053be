"""The CoT voice index (DESIGN section 3): who does a chain of thought speak as?

One function, `voice_index`, scores any text, organism or real. Its components are rates per 100
words:

- `first_person`: first-person singular self-reference (I, me, my, mine, myself, I'm, I'll,
  I'd, I've);
- `assistant_ref`: third-person reference to the assistant ("the assistant", "the assistant's",
  "the AI", "the model");
- `user_ref`: third-person reference to the user ("the user", "the user's");
- `planning_modal`: planning modals ("should", "ought to", "must", "need(s) to", "we need",
  "let's", "has to");
- `first_person_value`: first-person value or feeling statements ("I want", "I care", "I like",
  "I love", "I feel", "I hope", "I worry", "I wish", "I value", "I would rather", "I do not
  want", "I don't want", "I'm glad", "I am glad", "I am happy", "I'm happy").

`planner_score` summarises them in [0, 1]: the planner markers' share of all voice markers,
(assistant_ref + user_ref + planning_modal) / (that + first_person + first_person_value), and
0.5 when a text has none. Higher is more planner-like, lower more character-like; a text is
called `planner` above 0.5 and `character` below.

Validated so far on the organisms' training corpora: every character rendering scores below
0.5 and every planner rendering above (tests/test_voice.py). Validation on real transcripts is
part of the statistics stage.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_PATTERNS = {
    "first_person": re.compile(r"\b(?:I|me|my|mine|myself|I'm|I'll|I'd|I've)\b"),
    "assistant_ref": re.compile(r"\bthe (?:assistant|AI|model)(?:'s)?\b", re.I),
    "user_ref": re.compile(r"\bthe user(?:'s)?\b", re.I),
    "planning_modal": re.compile(r"\b(?:should|ought to|must|needs? to|we need|let's|has to)\b", re.I),
    "first_person_value": re.compile(
        r"\bI(?:'m| am)? (?:want|care|like|love|feel|hope|worry|wish|value|would rather|do not want|don't want|glad|happy)\b"
    ),
}
PLANNER_COMPONENTS = ("assistant_ref", "user_ref", "planning_modal")
CHARACTER_COMPONENTS = ("first_person", "first_person_value")


@dataclass(frozen=True)
class VoiceIndex:
    words: int
    first_person: float
    assistant_ref: float
    user_ref: float
    planning_modal: float
    first_person_value: float
    planner_score: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @property
    def voice(self) -> str:
        """`planner`, `character`, or `unclear` (no voice markers, or as many of each)."""
        if self.planner_score > 0.5:
            return "planner"
        if self.planner_score < 0.5:
            return "character"
        return "unclear"


def voice_index(text: str) -> VoiceIndex:
    """Score one text; never raises on any string (an empty text scores 0 words and 0.5)."""
    words = len(_WORD.findall(text))
    counts = {name: len(p.findall(text)) for name, p in _PATTERNS.items()}
    per100 = {name: (100.0 * c / words if words else 0.0) for name, c in counts.items()}
    planner = sum(counts[c] for c in PLANNER_COMPONENTS)
    character = sum(counts[c] for c in CHARACTER_COMPONENTS)
    score = planner / (planner + character) if planner + character else 0.5
    return VoiceIndex(words=words, planner_score=score, **per100)
