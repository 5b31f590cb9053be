"""Published transcripts (DESIGN section 4): verify every file against its recorded SHA-256, then import.

`data/external/sources.yaml` (committed) lists each source: repository, license, citation, and
for every file its path, commit and SHA-256. `fetch` copies each file into the stage's output
directory from a local mirror (`<mirror>/<source>/<path>`) or, only when `external.download` is
set, from the pinned raw URL, and stops at the first file that is missing or whose bytes differ,
naming it. `import_transcripts` turns the verified files into rows of the common transcripts
schema (model, family, question id, cot, output, cot_kind) through `cotchar.parse`; the
importer is chosen by the source's `format`, one function per file layout.
"""

from __future__ import annotations

import hashlib
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from cotchar import parse

RAW_DIR = Path("data/external/raw")
TRANSCRIPTS = Path("data/external/transcripts.parquet")


class SourceError(RuntimeError):
    """A source file is missing, differs from its recorded SHA-256, or the sources list is malformed."""


@dataclass(frozen=True)
class SourceFile:
    source: str
    repository: str
    path: str
    commit: str
    sha256: str
    role: str
    family: str | None = None
    reasoning: bool | None = None

    @property
    def url(self) -> str:
        return f"https://raw.githubusercontent.com/{self.repository}/{self.commit}/{self.path}"

    @property
    def local(self) -> Path:
        return Path(self.source) / self.path


def load_sources(path: Path | str) -> list[dict]:
    """The sources list, checked for the keys every importer relies on."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: no such sources list")
    data = yaml.safe_load(path.read_text())
    sources = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(sources, list) or not sources:
        raise SourceError(f"{path}: expected a non-empty list under `sources:`")
    for i, s in enumerate(sources):
        for key in ("name", "repository", "license", "citation", "format", "files"):
            if key not in s:
                raise SourceError(f"{path}: source {i} ({s.get('name', '?')}) has no `{key}`")
        if s["format"] not in IMPORTERS:
            raise SourceError(f"{path}: source {s['name']}: unknown format {s['format']!r} (known: {sorted(IMPORTERS)})")
        for f in s["files"]:
            for key in ("path", "commit", "sha256", "role"):
                if key not in f:
                    raise SourceError(f"{path}: source {s['name']}: a file entry has no `{key}`: {f}")
            if f["role"] == "responses" and ("family" not in f or "reasoning" not in f):
                raise SourceError(f"{path}: source {s['name']}: responses file {f['path']} needs `family` and `reasoning`")
    return sources


def source_files(sources: list[dict]) -> list[SourceFile]:
    return [
        SourceFile(s["name"], s["repository"], f["path"], f["commit"], f["sha256"].lower(), f["role"], f.get("family"), f.get("reasoning"))
        for s in sources
        for f in s["files"]
    ]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(files: list[SourceFile], mirror: Path | None, download: bool, dest: Path = RAW_DIR) -> pd.DataFrame:
    """Copy every file into `dest` and verify it; returns one row per file (path, bytes, where from, sha256 ok)."""
    rows = []
    for f in files:
        target = dest / f.local
        target.parent.mkdir(parents=True, exist_ok=True)
        origin = mirror / f.local if mirror is not None else None
        if origin is not None and origin.is_file():
            shutil.copyfile(origin, target)
            where = "mirror"
        elif download:
            try:
                with urllib.request.urlopen(f.url, timeout=60) as response, target.open("wb") as out:
                    shutil.copyfileobj(response, out)
            except OSError as err:
                raise SourceError(f"{f.local}: not in the mirror and the download from {f.url} failed: {err}") from None
            where = "download"
        else:
            looked = f"not found at {origin}" if origin is not None else "no mirror is set (params.yaml external.mirror)"
            raise SourceError(f"{f.local}: {looked}, and downloading is off (params.yaml external.download)")
        got = sha256(target)
        if got != f.sha256:
            target.unlink()
            raise SourceError(
                f"{f.local}: SHA-256 mismatch (from the {where}): expected {f.sha256}, got {got}. "
                "The file differs from the pinned version; fix the copy or, if upstream changed, record the new version in the sources list."
            )
        rows.append({"file": str(f.local), "role": f.role, "bytes": target.stat().st_size, "from": where, "sha256_ok": True})
    return pd.DataFrame(rows)


def _chainscope(f: SourceFile, root: Path) -> pd.DataFrame:
    """chainscope `cot_responses` YAML: responses_by_qid -> {response id: completion text}."""
    data = yaml.safe_load((root / f.local).read_text())
    rows = []
    for qid, responses in sorted(data["responses_by_qid"].items()):
        for rid, text in sorted(responses.items()):
            text = text if isinstance(text, str) else ""
            s = parse.split(text, "auto" if f.reasoning else "plain")
            rows.append(
                {
                    "source": f.source, "family": f.family, "model": data.get("model_id", ""), "question_id": qid, "response_id": rid,
                    "reasoning_model": bool(f.reasoning), "cot": s.cot, "output": s.output, "cot_kind": s.cot_kind, "cot_closed": s.closed,
                }  # fmt: skip
            )
    return pd.DataFrame(rows)


def _jsonl(f: SourceFile, root: Path) -> pd.DataFrame:
    """JSON Lines, one response per line: `question_id` and `completion` (raw model text), optional `response_id`.

    The format for transcripts collected elsewhere (another study, or this project's real-model
    path exported with `cotchar split`'s input fields): list the file in the sources list.
    """
    import json

    rows = []
    for number, line in enumerate((root / f.local).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            qid, text = str(record["question_id"]), record["completion"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise SourceError(f"{f.local}:{number}: expected a JSON object with `question_id` and `completion` ({err})") from None
        s = parse.split(text if isinstance(text, str) else "", "auto" if f.reasoning else "plain")
        rows.append(
            {
                "source": f.source, "family": f.family, "model": str(record.get("model", "")), "question_id": qid,
                "response_id": str(record.get("response_id", number)), "reasoning_model": bool(f.reasoning),
                "cot": s.cot, "output": s.output, "cot_kind": s.cot_kind, "cot_closed": s.closed,
            }  # fmt: skip
        )
    return pd.DataFrame(rows)


IMPORTERS = {"chainscope": _chainscope, "jsonl": _jsonl}


def import_transcripts(sources: list[dict], root: Path = RAW_DIR) -> pd.DataFrame:
    """Every response of every verified responses file, in the common schema, in a stable order."""
    parts = []
    formats = {s["name"]: s["format"] for s in sources}
    for f in source_files(sources):
        if f.role == "responses":
            parts.append(IMPORTERS[formats[f.source]](f, root))
    table = pd.concat(parts, ignore_index=True)
    table["cot_closed"] = table["cot_closed"].astype("boolean")
    return table
