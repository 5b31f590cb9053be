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
