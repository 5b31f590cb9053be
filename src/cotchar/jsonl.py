"""JSON Lines in and out for the commands that score other people's data (`cotchar voice`).

`read_records` yields the good records and reports every bad line (not JSON, not an object, the
required field missing or not a string) with its line number on stderr, so nothing is dropped
silently; the command's summary counts them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


def read_records(path: Path, field: str, errors: TextIO = sys.stderr) -> Iterator[tuple[int, dict]]:
    """(line number, record) for every line of `path` holding a JSON object with a string `field`."""
    with path.open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                print(f"{path}:{number}: skipped, not JSON ({err.msg})", file=errors)
                continue
            if not isinstance(record, dict):
                print(f"{path}:{number}: skipped, not a JSON object", file=errors)
            elif not isinstance(record.get(field), str):
                problem = "no" if field not in record else "a non-string"
                print(f"{path}:{number}: skipped, {problem} {field!r} field", file=errors)
            else:
                yield number, record


def write_records(path: Path, records: list[dict]) -> None:
    """Write records as JSON Lines, keys in their given order, non-ASCII kept as is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
