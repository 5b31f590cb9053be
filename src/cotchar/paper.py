"""The `paper` stage: compile `paper/main.typ` with Typst into a reproducible `paper/paper.pdf`.

The document reads every number from `data/results/*.json` and every table from a CSV written
by a stage, so this module only compiles. System fonts are ignored (Typst's embedded fonts are
the same on every machine) and the creation time is fixed, so the PDF is byte-identical on rerun.
"""

from __future__ import annotations

from pathlib import Path

import typst

# 2026-01-01T00:00:00Z: a fixed creation time; the PDF's date must not change between reruns.
CREATION_TIMESTAMP = 1_767_225_600


def _compiler(main: Path, root: Path) -> typst.Compiler:
    return typst.Compiler(str(main), root=str(root), ignore_system_fonts=True)


def build(main: Path | str = "paper/main.typ", out: Path | str = "paper/paper.pdf", root: Path | str = ".") -> Path:
    """Compile the paper to PDF; a Typst error is re-raised with its diagnostic (file, line, hint)."""
    main, out = Path(main), Path(out)
    try:
        _compiler(main, Path(root)).compile(output=str(out), format="pdf", timestamp=CREATION_TIMESTAMP)
    except typst.TypstError as err:
        raise RuntimeError(f"{main}: {err.message}\n{getattr(err, 'diagnostic', '')}") from None
    return out


def page_images(main: Path | str = "paper/main.typ", root: Path | str = ".", ppi: float = 60) -> list[bytes]:
    """Every page as PNG bytes, to show the paper inside the executed notebook."""
    pages = _compiler(Path(main), Path(root)).compile(format="png", ppi=ppi, timestamp=CREATION_TIMESTAMP)
    return pages if isinstance(pages, list) else [pages]


def write_pipeline_table(path: Path | str = "paper/tables/pipeline.csv", dvc_yaml: Path | str = "dvc.yaml") -> Path:
    """Write `pipeline_table` as the CSV the paper's reproducibility section shows."""
    import csv

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["stage", "reads_from"], lineterminator="\n")
        w.writeheader()
        w.writerows(pipeline_table(dvc_yaml))
    return path


def pipeline_table(dvc_yaml: Path | str = "dvc.yaml") -> list[dict[str, str]]:
    """The `dvc repro` graph as rows (stage, the earlier stages it reads from), in pipeline order.

    A stage reads from another when one of its dependencies is, contains or lies inside one of the
    other's outputs; templated paths (`${item.style}`) are compared up to the template.
    """
    import yaml

    stages = yaml.safe_load(Path(dvc_yaml).read_text())["stages"]

    def paths(entries: list) -> list[str]:
        out = []
        for e in entries or []:
            out.extend(e.keys() if isinstance(e, dict) else [e])
        return [p.split("${")[0].rstrip("/") for p in out]

    outs = {name: paths(s.get("outs")) + paths(s.get("metrics")) + paths(s.get("plots")) for name, s in stages.items()}

    def related(a: str, b: str) -> bool:
        return a == b or a.startswith(b + "/") or b.startswith(a + "/")

    rows = []
    for name, s in stages.items():
        needs = [other for other in stages if other != name and any(related(d, o) for d in paths(s.get("deps")) for o in outs[other])]
        rows.append({"stage": name, "reads_from": ", ".join(needs)})
    return rows
