"""The held-out leak check: no held-out template text or persona may appear in any training corpus.

A held-out persona leaks if its name (as a word), its opener or its sign-off occurs in a training
text. A held-out template leaks if any of its literal fragments (the text between slots) that is
at least `min_chars` long occurs in a training text; shorter fragments (". ", " now") are too
generic to identify a template.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cotchar.world.spec import WorldSpec
from cotchar.world.traces import Split

_SLOT = re.compile(r"\{[a-z_]+\}")


@dataclass(frozen=True)
class Needle:
    kind: str  # persona | template
    source: str  # persona name or template id
    text: str
    word: bool  # match on word boundaries (names) rather than as a substring


@dataclass(frozen=True)
class Leak:
    needle: Needle
    corpus: str


def fragments(template: str, min_chars: int) -> list[str]:
    """Literal pieces of a template between its slots, at least `min_chars` long (stripped)."""
    return [f.strip() for f in _SLOT.split(template) if len(f.strip()) >= min_chars]


def needles(spec: WorldSpec, split: Split, min_chars: int) -> list[Needle]:
    """Everything that must never occur in training text."""
    out: list[Needle] = []
    for name in split.personas:
        persona = spec.persona(name)
        out.append(Needle("persona", name, name, True))
        out += [Needle("persona", name, t, False) for t in (persona.opener, persona.signoff)]
    for family, templates in spec.attacks.items():
        for i, template in enumerate(templates):
            if not split.template_held_out(family, i):
                continue
            frags = fragments(template, min_chars)
            if not frags:
                raise ValueError(
                    f"attacks.{family}[{i}] {template!r} has no literal text of {min_chars}+ characters, "
                    "so its absence from training cannot be checked; lengthen it or lower leak_min_fragment_chars"
                )
            out += [Needle("template", f"{family}/{i}", f, False) for f in frags]
    return out


def find_leaks(corpora: Mapping[str, Iterable[str]], needle_list: list[Needle]) -> list[Leak]:
    """Every (needle, corpus) pair where the needle occurs in that corpus's text."""
    patterns = [
        (n, re.compile(rf"\b{re.escape(n.text)}\b") if n.word else None) for n in needle_list
    ]
    leaks = []
    for name, texts in corpora.items():
        blob = "\n".join(texts)
        for n, pattern in patterns:
            if (pattern.search(blob) if pattern else n.text in blob):
                leaks.append(Leak(n, name))
    return leaks
