"""The paper's results prose types no number by hand: every digit comes from a stage's JSON or CSV."""

from __future__ import annotations

import re
from pathlib import Path

PROSE_SECTIONS = ("Results", "Field study", "Reinforcement learning", "Discussion")
NAMES = ("SHA-256",)  # names that contain digits but are not numbers


def _sections(source: str) -> dict[str, str]:
    parts = re.split(r"^= (.+)$", source, flags=re.M)
    return {title.strip(): body for title, body in zip(parts[1::2], parts[2::2])}


def _strip_code(text: str) -> str:
    """Remove comments and Typst code expressions (`#name.field(args)`); content blocks `[...]` stay, as prose."""
    text = re.sub(r"(?<![:\w])//.*", "", text)  # comments, not the // of a URL
    text = re.sub(r"#let\s[^\n]*", "", text)  # bindings are code
    for name in NAMES:
        text = text.replace(name, "")
    text = re.sub(r"\]\s*else\s+if\s[^\[]*\[", "] [", text)  # `] else if CONDITION [`: the condition is code
    text = re.sub(r"\]\s*else\s*\[", "] [", text)
    out, i = [], 0
    while i < len(text):
        m = re.compile(r"#(?:if|else if)?\s*[A-Za-z_][\w.-]*").match(text, i) if text[i] == "#" else None
        if not m:
            out.append(text[i])
            i += 1
            continue
        i = m.end()
        if m.group(0).startswith("#if"):  # the condition runs to the content block
            i = text.index("[", i)
            continue
        while i < len(text) and text[i] == "(":  # argument lists, nested
            depth = 0
            while True:
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                i += 1
                if depth == 0:
                    break
            while i < len(text) and text[i] == "." and re.match(r"\.[A-Za-z_]", text[i:]):
                i += re.match(r"\.[A-Za-z_][\w-]*", text[i:]).end()
    return "".join(out)


def test_results_and_discussion_type_no_digit(root: Path) -> None:
    sections = _sections((root / "paper/main.typ").read_text())
    for title in PROSE_SECTIONS:
        assert title in sections, f"paper/main.typ has no '= {title}' section"
        prose = _strip_code(sections[title])
        typed = [(m.group(0), prose[max(0, m.start() - 40) : m.end() + 40].replace("\n", " ")) for m in re.finditer(r"\d+", prose)]
        assert not typed, f"digits typed by hand in '{title}': {typed}"


def test_the_digit_check_catches_a_typed_number() -> None:
    assert re.search(r"\d", _strip_code("The rate was 42% under attack.")) is not None
    assert re.search(r"\d", _strip_code("The rate was #fmt(D.x.at(\"a\"), d: 2) and #H.H1.effect.")) is None
    assert re.search(r"\d", _strip_code("#if H.H1.verdict == \"null\" [none in 3 runs]")) is not None
    assert re.search(r"\d", _strip_code("#if H.H1.verdict == \"a\" [x] else if H.H2.verdict == \"b\" [y] else [z]")) is None
