"""The `cotchar` command.

    cotchar check-params [PARAMS]      validate params.yaml and print the active size set
    cotchar normalize NOTEBOOK...      strip run timestamps and random ids from executed notebooks
    cotchar env-yml [LOCK]             print the conda environment.yml for the pins of LOCK
    cotchar collect [PARAMS]           run (or resume) the stress battery on the organisms
    cotchar voice IN.jsonl OUT.jsonl   add the CoT voice index to every record's `text`
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cotchar.jsonl import read_records, write_records
from cotchar.lockfile import environment_yml
from cotchar.notebook import normalize
from cotchar.params import ParamsError, load_params


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
    voice = sub.add_parser("voice", help="score the voice of any text: components per 100 words, planner_score in [0, 1], voice label",
        description="Adds words, first_person, assistant_ref, user_ref, planning_modal, first_person_value (rates per "
        "100 words), planner_score (0: character-like, 1: planner-like) and voice (character, planner or unclear) to "
        "every record. Lines that are not JSON objects with a string `text` are reported with their number and skipped.",
    )
    voice.add_argument("input", type=Path, help="JSON Lines, one record per line with a `text` field")
    voice.add_argument("output", type=Path, help="the same records with the index added")
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
    if args.command == "env-yml":
        sys.stdout.write(environment_yml(args.lock))
        return 0
    return 1  # unreachable: argparse rejects unknown commands


def _voice(src: Path, dst: Path) -> int:
    from cotchar.score.voice import voice_index

    if not src.is_file():
        print(f"{src}: no such file", file=sys.stderr)
        return 2
    out = []
    for _, record in read_records(src, "text"):
        v = voice_index(record["text"])
        out.append(record | v.as_dict() | {"voice": v.voice})
    lines = sum(1 for line in src.open(encoding="utf-8", errors="replace") if line.strip())
    write_records(dst, out)
    skipped = lines - len(out)
    print(f"voice: scored {len(out)} record(s), skipped {skipped} (reported above) -> {dst}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
