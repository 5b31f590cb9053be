"""The result figures draw whatever the compare stage's tables hold, including cells with no data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cotchar import figures as F
from cotchar.stats import cells


def _tiny_analysis_table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for style in ("character", "planner"):
        for seed in (1, 2):
            for item in range(6):
                for turn in (1, 2):
                    rows.append(
                        {
                            "style": style, "seed": seed, "model": f"{style}-s{seed}", "item_id": f"i{item}", "task": "multi_turn" if item < 3 else "authority",
                            "family": "authority", "held_out": item % 2 == 0, "turn": turn if item < 3 else 1, "dose": 0, "prefill_voice": None,
                            "in_character": bool(rng.random() < 0.7), "break_kind": None, "has_cot": True, "own_voice": "none",
                            "cot_voice": "character", "output_voice": "character", "follows_cot": True, "cot_output_similarity": 0.5,
                            "monitor_p": rng.random(), "missing_close": False,
                        }  # fmt: skip
                    )
    d = pd.DataFrame(rows)
    d["broke"] = ~d["in_character"]
    for c in cells.VOICE_COMPONENTS:
        d[f"own_{c}"] = np.nan
    return d


def test_every_result_figure_draws_even_when_some_tables_are_empty() -> None:
    tables = cells.all_tables(_tiny_analysis_table(), 50, seed=1)
    assert tables["voice"].empty and list(tables["voice"].columns[:2]) == ["style", "n"]  # no own CoTs: no rows, same columns
    assert tables["doses"].empty
    assert set(tables["families"]["style"]) == {"character", "planner"}
    for draw, table in [
        (F.family_figure, tables["families"]), (F.drift_figure, tables["turns"]), (F.prefill_figure, tables["doses"]),
        (F.voice_profile_figure, tables["voice"]), (F.consistency_figure, tables["consistency"]), (F.monitor_figure, tables["monitor"]),
    ]:  # fmt: skip
        fig = draw(table)
        assert fig.axes and F.png_bytes(fig).startswith(b"\x89PNG")
