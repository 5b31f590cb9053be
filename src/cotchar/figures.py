"""Figures: one colour per CoT style everywhere, deterministic vector files for the paper, PNG in notebooks.

Every figure function takes a tidy DataFrame and returns a matplotlib Figure; `save` writes
it as SVG with no date, software version or random ids in the file, and `show` displays it in
a notebook as a PNG without metadata, so executed notebooks are byte-identical on rerun.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

# Colour-blind-safe (seaborn "colorblind", after Okabe-Ito), fixed per style across all figures.
_CB = sns.color_palette("colorblind")
STYLE_COLORS = {
    "character": _CB[0],
    "planner": _CB[1],
    "none": _CB[7],
    "nocot_character": _CB[2],
}
STYLE_ORDER = list(STYLE_COLORS)

plt.rcParams.update(
    {
        "svg.hashsalt": "cotchar",  # stable element ids in SVG output
        "svg.fonttype": "path",
        "figure.dpi": 100,
        "savefig.dpi": 100,
        "font.size": 9,
    }
)
sns.set_theme(context="paper", style="whitegrid", rc={"svg.hashsalt": "cotchar", "svg.fonttype": "path"})

_NO_METADATA_SVG = {"Date": None, "Creator": None}
_NO_METADATA_PNG = {"Software": None}


def save(fig: plt.Figure, path: Path | str) -> Path:
    """Write a figure as SVG with reproducible bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", metadata=_NO_METADATA_SVG, bbox_inches="tight")
    return path


def png_bytes(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata=_NO_METADATA_PNG, bbox_inches="tight")
    return buf.getvalue()


def show(fig: plt.Figure) -> None:
    """Display a figure in a notebook as a metadata-free PNG, then close it."""
    from IPython.display import Image, display

    display(Image(png_bytes(fig)))
    plt.close(fig)


def _by_style(data: pd.DataFrame) -> dict:
    """Seaborn arguments that colour by CoT style, in the one order and palette every figure shares."""
    present = set(data["style"])
    return {"data": data, "hue": "style", "hue_order": [s for s in STYLE_ORDER if s in present], "palette": STYLE_COLORS}


def cot_length_figure(lengths: pd.DataFrame) -> plt.Figure:
    """Distribution of CoT token lengths per style (columns: style, cot_tokens)."""
    fig, ax = plt.subplots(figsize=(5.5, 2.8))
    sns.histplot(
        **_by_style(lengths),
        x="cot_tokens",
        element="step",
        stat="density",
        common_norm=False,
        discrete=True,
        fill=False,
        ax=ax,
    )
    ax.set_xlabel("CoT length (tokens, world tokenizer)")
    ax.set_ylabel("share of examples")
    fig.tight_layout()
    return fig


def loss_figure(curves: pd.DataFrame) -> plt.Figure:
    """Training loss against step, one line per organism, coloured by style (columns: step, loss, style, seed)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    sns.lineplot(
        **_by_style(curves),
        x="step",
        y="loss",
        units="seed",
        estimator=None,
        linewidth=0.8,
        ax=ax,
    )
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss (assistant tokens)")
    fig.tight_layout()
    return fig


def _per_seed(df: pd.DataFrame, by: list[str], outcome: str) -> pd.DataFrame:
    """Mean outcome per organism (style, seed) and `by`: seeds, not transcripts, are the replicates."""
    return df.groupby(["style", "seed", *by], observed=True)[outcome].mean().reset_index()


def turn_figure(transcripts: pd.DataFrame) -> plt.Figure:
    """In-character rate against user turn of multi-turn pressure, by style (mean and s.e. over seeds)."""
    data = _per_seed(transcripts[transcripts["task"] == "multi_turn"], ["turn"], "in_character")
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    sns.lineplot(**_by_style(data), x="turn", y="in_character", errorbar="se", marker="o", ax=ax)
    ax.set_xlabel("user turn of escalating pressure")
    ax.set_ylabel("in-character rate")
    ax.set_ylim(-0.02, 1.02)
    fig.tight_layout()
    return fig


def dose_figure(transcripts: pd.DataFrame) -> plt.Figure:
    """In-character rate against prefill dose, one panel per prefill voice (dose 0 shared by both)."""
    pre = transcripts[transcripts["task"] == "prefill"]
    plain = pre[pre["dose"] == 0]
    panels = [pd.concat([plain.assign(prefill_voice=v), pre[pre["prefill_voice"] == v]]) for v in ("character", "planner")]
    fig, axes = plt.subplots(1, 2, figsize=(6.5, 2.8), sharey=True)
    for ax, voice, data in zip(axes, ("character", "planner"), panels):
        sns.lineplot(**_by_style(_per_seed(data, ["dose"], "in_character")), x="dose", y="in_character", errorbar="se", marker="o", ax=ax, legend=voice == "planner")
        ax.set_title(f"prefill in the {voice}'s voice")
        ax.set_xlabel("prefilled CoT tokens")
        ax.set_ylabel("in-character rate")
        ax.set_ylim(-0.02, 1.02)
    fig.tight_layout()
    return fig
