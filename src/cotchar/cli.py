"""The `cotchar` command.

    cotchar check-params [PARAMS]      validate params.yaml and print the active size set
    cotchar normalize NOTEBOOK...      strip run timestamps and random ids from executed notebooks
    cotchar env-yml [LOCK]             print the conda environment.yml for the pins of LOCK
    cotchar collect [PARAMS]           run (or resume) the stress battery on the organisms
"""

from __future__ import annotations

import argparse
import sys

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
    if args.command == "env-yml":
        sys.stdout.write(environment_yml(args.lock))
        return 0
    return 1  # unreachable: argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
