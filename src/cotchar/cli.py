"""The `cotchar` command.

    cotchar check-params [PARAMS]      validate params.yaml and print the active size set
    cotchar normalize NOTEBOOK...      strip run timestamps and random ids from executed notebooks
    cotchar env-yml [LOCK]             print the conda environment.yml for the pins of LOCK
    cotchar collect [PARAMS]           run (or resume) the stress battery on the organisms
    cotchar voice IN.jsonl OUT.jsonl   add the CoT voice index to every record's `text`
    cotchar split IN.jsonl OUT.jsonl   split every record's raw `completion` into CoT and answer
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from cotchar.jsonl import read_records, write_records
from cotchar.lockfile import environment_yml
from cotchar.notebook import normalize
from cotchar.parse import FORMATS, split
from cotchar.params import ParamsError, load_params


_VALIDATION = """On the organisms' own CoTs planner_score separates character from planner voice with an AUC of
0.988 (data/results/score.json). No labelled real text is available offline; on published
transcripts (data/results/external.json) it scores Claude 3.7 Sonnet and DeepSeek-R1 CoTs near
0.26 and GPT-4o mini's in-answer reasoning near 0.97."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cotchar", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check-params", help="validate params.yaml")
    check.add_argument("params", nargs="?", default="params.yaml")
    norm = sub.add_parser("normalize", help="make executed notebooks reproducible byte for byte")
    norm.add_argument("notebooks", nargs="+")
    env = sub.add_parser("env-yml", help="conda environment.yml with the pins of the lock")
    env.add_argument("lock", nargs="?", default="requirements.lock")
    coll = sub.add_parser("collect", help="run or resume the stress battery; writes logs, transcripts, collect.json")
    coll.add_argument("params", nargs="?", default="params.yaml")
    coll.add_argument("--display", default="plain", choices=["full", "rich", "plain", "log", "none"], help="Inspect's progress display")
    voice = sub.add_parser(
        "voice",
        help="score the voice of any text: components per 100 words, planner_score in [0, 1], voice label",
        description="Adds words, first_person, assistant_ref, user_ref, planning_modal, first_person_value (rates per "
        "100 words), planner_score (0: character-like, 1: planner-like) and voice (character, planner or unclear) to "
        "every record. Lines that are not JSON objects with a string `text` are reported with their number and skipped. "
        "Validation: " + " ".join(_VALIDATION.split()),
    )
    voice.add_argument("input", type=Path, help="JSON Lines, one record per line with a `text` field")
    voice.add_argument("output", type=Path, help="the same records with the index added")
    spl = sub.add_parser(
        "split",
        help="split raw reasoning-model text into CoT and answer (<think> tags, gpt-oss harmony, plain)",
        description="Adds cot (null when there is none), output (the answer), cot_kind (raw or none) and cot_closed "
        "(false: a CoT that never closed, null: no CoT) to every record. Lines that are not JSON objects with a string "
        "`completion` are reported with their number and skipped.",
    )
    spl.add_argument("--format", default="auto", choices=FORMATS, help="the reasoning format; auto detects it per record")
    spl.add_argument("input", type=Path, help="JSON Lines, one record per line with a `completion` field (raw model text)")
    spl.add_argument("output", type=Path, help="the same records with the split added")
    args = parser.parse_args(argv)

    if args.command in ("check-params", "collect"):
        try:
            p = load_params(args.params)
        except ParamsError as err:
            print(err, file=sys.stderr)
            return 2
    if args.command == "check-params":
        print(f"{args.params}: valid (size set: {p.size})")
        return 0
    if args.command == "normalize":
        for path in args.notebooks:
            normalize(path)
        return 0
    if args.command == "collect":
        from cotchar.stress.collect import collect  # imports Inspect and torch: only when needed

        _, summary = collect(p, display=args.display)
        print(f"collect: {summary['samples']} samples, {summary['turns']} turns from {len(summary['models'])} models")
        return 0
    if args.command == "voice":
        return _voice(args.input, args.output)
    if args.command == "split":
        return _split(args.input, args.output, args.format)
    if args.command == "env-yml":
        sys.stdout.write(environment_yml(args.lock))
        return 0
    return 1  # unreachable: argparse rejects unknown commands


def _map_records(src: Path, dst: Path, field: str, verb: str, add: Callable[[str], dict]) -> int:
    """Add `add(record[field])` to every good record of `src`, write them to `dst`, report what was skipped."""
    if not src.is_file():
        print(f"{src}: no such file", file=sys.stderr)
        return 2
    out = [record | add(record[field]) for _, record in read_records(src, field)]
    lines = sum(1 for line in src.open(encoding="utf-8", errors="replace") if line.strip())
    write_records(dst, out)
    print(f"{verb} {len(out)} record(s), skipped {lines - len(out)} (reported above) -> {dst}", file=sys.stderr)
    return 0


def _voice(src: Path, dst: Path) -> int:
    """The CoT voice index of every record's `text` (`cotchar.score.voice`).

    Validated on the organisms: on the CoTs the character- and planner-style organisms wrote
    without a prefill, `planner_score` separates the two voices with an AUC of 0.988, and the
    label matches the style for 98.6% of character and 92.1% of planner CoTs
    (`data/results/score.json`, `voice_validation`). Validated on real text: 120 published
    responses of the field study (40 each of Claude 3.7 Sonnet and DeepSeek-R1 CoTs and of GPT-4o
    mini's in-answer reasoning) were labelled `character`, `planner` or `neither` by reading them,
    blind to the index (`data/external/voice_labels.csv`). `planner_score` separates the 81
    character from the 39 planner labels with an AUC of 1.0, and the index's label agrees with
    97.5% of them (`data/results/external.json`, `voice_validation`). Caveat: on that question
    set the labels almost coincide with the model family (every Claude and R1 text was labelled
    character, all but one GPT-4o mini text planner), so it shows the index separates clearly
    different voices, not that it grades subtle ones.
    """
    from cotchar.score.voice import voice_index

    def add(text: str) -> dict:
        v = voice_index(text)
        return v.as_dict() | {"voice": v.voice}

    return _map_records(src, dst, "text", "voice: scored", add)


def _split(src: Path, dst: Path, fmt: str) -> int:
    """CoT and answer of every record's raw `completion` (`cotchar.parse`)."""

    def add(text: str) -> dict:
        s = split(text, fmt)
        return {"cot": s.cot, "output": s.output, "cot_kind": s.cot_kind, "cot_closed": s.closed}

    return _map_records(src, dst, "completion", "split: split", add)


if __name__ == "__main__":
    sys.exit(main())
