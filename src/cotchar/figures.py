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


# ----- Figures of the results (stage `figures`): drawn from the interval tables of cotchar.stats.cells.


def _legend(ax: plt.Axes, **kwargs: object) -> None:
    """A legend of the styles drawn, if any were (a table can be empty at smoke size)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kwargs)


def _styles(table: pd.DataFrame) -> list[str]:
    return [s for s in STYLE_ORDER if s in set(table["style"])]


def _pointranges(ax: plt.Axes, table: pd.DataFrame, x: str, order: list, width: float = 0.7, hue: str = "style", colors: dict | None = None) -> None:
    """One point with its interval per hue (style, or family) and category of `x`, hues side by side within a category."""
    colors = colors or STYLE_COLORS
    hues = [h for h in colors if h in set(table[hue])]
    if x == hue:  # one hue per category: nothing to put side by side
        width = 0.0
    step = width / max(len(hues), 1)
    for k, h in enumerate(hues):
        t = table[table[hue] == h].set_index(x).reindex(order)
        pos = [i - width / 2 + step * (k + 0.5) for i in range(len(order))]
        ax.errorbar(pos, t["mean"], yerr=[t["mean"] - t["low"], t["high"] - t["mean"]], fmt="o", ms=3.5, lw=1.2, capsize=0, color=colors[h], label=h)
    ax.set_xticks(range(len(order)))
    ax.set_xticklabels([str(o).replace("_", " ") for o in order], rotation=25, ha="right", rotation_mode="anchor")


def _bands(ax: plt.Axes, table: pd.DataFrame, x: str, legend: bool = True) -> None:
    """One line per style with its interval as a band."""
    for style in _styles(table):
        t = table[table["style"] == style].sort_values(x)
        ax.plot(t[x], t["mean"], marker="o", ms=3, lw=1.3, color=STYLE_COLORS[style], label=style if legend else None)
        ax.fill_between(t[x], t["low"], t["high"], color=STYLE_COLORS[style], alpha=0.18, lw=0)


def family_figure(rates: pd.DataFrame) -> plt.Figure:
    """(1) In-character rate by style and attack family, held-in and held-out panels, 95% intervals."""
    fig, axes = plt.subplots(1, 2, figsize=(7.0, 2.9), sharey=True, gridspec_kw={"width_ratios": [5, 7]})
    for ax, held_out in zip(axes, (False, True)):
        t = rates[rates["held_out"] == held_out]
        order = sorted(t["family"].unique())
        _pointranges(ax, t, "family", order)
        ax.set_title("held-out prompts" if held_out else "held-in prompts")
        ax.set_ylim(-0.03, 1.03)
    axes[0].set_ylabel("in-character rate (first turn)")
    _legend(axes[1], loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    fig.tight_layout()
    return fig


def _band_panels(panels: list[tuple[str, pd.DataFrame]], x: str, xlabel: str, ylabel: str, legend_panel: int, figsize: tuple[float, float]) -> plt.Figure:
    """Side-by-side panels of rate-with-band lines sharing the y axis (0 to 1); one panel carries the legend."""
    fig, axes = plt.subplots(1, len(panels), figsize=figsize, sharey=True)
    for k, (ax, (title, data)) in enumerate(zip(axes, panels)):
        _bands(ax, data, x, legend=k == legend_panel)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylim(-0.03, 1.03)
    axes[0].set_ylabel(ylabel)
    _legend(axes[legend_panel], fontsize=7)
    fig.tight_layout()
    return fig


def drift_figure(turns: pd.DataFrame) -> plt.Figure:
    """(2) Multi-turn drift: in-character rate, and persona vs malformed/empty breaks, against turn."""
    titles = {"in_character": "in character", "persona_break": "broke: persona's voice", "malformed_or_empty": "broke: malformed or empty"}
    panels = [(title, turns[turns["outcome"] == outcome]) for outcome, title in titles.items()]
    return _band_panels(panels, "turn", "user turn of pressure", "share of outputs", 0, (7.5, 2.6))


def prefill_figure(doses: pd.DataFrame) -> plt.Figure:
    """(3) Prefill dose-response: in-character rate against prefilled CoT tokens, per prefill voice."""
    panels = [(f"prefill in the {voice}'s voice", doses[doses["prefill_voice"] == voice]) for voice in ("character", "planner")]
    return _band_panels(panels, "dose", "prefilled CoT tokens", "in-character rate", 1, (6.5, 2.7))


VOICE_RATES = ["first_person", "assistant_ref", "user_ref", "planning_modal", "first_person_value"]


def voice_profile_figure(profile: pd.DataFrame, hue: str = "style", colors: dict | None = None) -> plt.Figure:
    """(4) CoT voice profile: each voice-index component of the CoTs the organisms wrote, per style.

    The field study draws real model families on the same axes (`hue="family"`, `family_colors`).
    """
    rates = profile[profile["component"] != "planner_score"]
    score = profile[profile["component"] == "planner_score"]
    fig, axes = plt.subplots(1, 2, figsize=(7.0, 2.7), gridspec_kw={"width_ratios": [5, 2]})
    _pointranges(axes[0], rates, "component", VOICE_RATES, hue=hue, colors=colors)
    axes[0].set_ylabel("per 100 words")
    _pointranges(axes[1], score.assign(component="planner score"), "component", ["planner score"], hue=hue, colors=colors)
    axes[1].set_ylim(-0.03, 1.03)
    axes[1].axhline(0.5, color="0.6", lw=0.8, ls=":")
    axes[1].set_ylabel("0 character-like, 1 planner-like")
    _legend(axes[0], fontsize=7)
    fig.tight_layout()
    return fig


def consistency_figure(table: pd.DataFrame) -> plt.Figure:
    """(5) CoT-output consistency per style: embedding similarity, output follows the CoT, same voice label."""
    titles = {"cot_output_similarity": "MiniLM cosine, CoT vs output", "follows": "output follows the CoT", "same_voice": "same voice label"}
    fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.5))
    for ax, (measure, title) in zip(axes, titles.items()):
        t = table[table["measure"] == measure]
        _pointranges(ax, t, "style", _styles(t))
        ax.set_title(title)
        ax.set_ylim(-0.03, 1.03)
    fig.tight_layout()
    return fig


def monitor_figure(aucs: pd.DataFrame) -> plt.Figure:
    """(6) AUC of the CoT-only monitor per style (leave-one-seed-out), 95% intervals; 0.5 is chance."""
    t = aucs[aucs["mean"].notna()]
    fig, ax = plt.subplots(figsize=(4.0, 2.6))
    _pointranges(ax, t, "style", _styles(t))
    ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
    ax.set_ylim(0.4, 1.02)
    ax.set_ylabel("monitor AUC (CoT only)")
    fig.tight_layout()
    return fig


def family_colors(families: list[str]) -> dict[str, tuple]:
    """Colours for real model families: the colour-blind palette's entries the CoT styles do not use."""
    free = [c for i, c in enumerate(_CB) if i not in (0, 1, 2, 7)]
    return {f: free[i % len(free)] for i, f in enumerate(sorted(families))}


def field_lengths_figure(scored: pd.DataFrame) -> plt.Figure:
    """Distribution of CoT length (words) per reasoning family, and of the answer of a model without CoT."""
    colors = family_colors(list(scored["family"].unique()))
    fig, ax = plt.subplots(figsize=(5.5, 2.7))
    for family, g in sorted(scored.groupby("family"), key=lambda kv: kv[0]):
        words = g["cot_words"] if g["reasoning_model"].iloc[0] else g["output_words"]
        label = family if g["reasoning_model"].iloc[0] else f"{family}: answer"
        sns.ecdfplot(x=words.dropna(), ax=ax, color=colors[family], label=label)
    ax.set_xscale("log")
    ax.set_xlabel("words (CoT; answer for a model without CoT)")
    ax.set_ylabel("share of responses")
    _legend(ax, fontsize=7)
    fig.tight_layout()
    return fig


# The RL arm adds the plain-RL baseline, drawn in near-black so the styles keep their colours.
ARM_COLORS = {**STYLE_COLORS, "plain": (0.15, 0.15, 0.15)}
PHASE_COLORS = {"before RL": (0.6, 0.6, 0.6), "after RL": (0.0, 0.0, 0.0)}


def rl_figure(steps: pd.DataFrame, held_out: pd.DataFrame, divergence: pd.DataFrame) -> plt.Figure:
    """(7) The RL arm: reward and CoT voice over GRPO steps (mean over seeds), held-out in-character
    rate before and after RL, and the divergence of each arm's CoTs from the plain-RL baseline."""
    fig, axes = plt.subplots(1, 4, figsize=(10.0, 2.8), gridspec_kw={"width_ratios": [4, 4, 4, 3]})
    means = steps.groupby(["arm", "step"], as_index=False)[["reward", "planner_score"]].mean()
    for arm in [a for a in ARM_COLORS if a in set(means["arm"])]:
        t = means[means["arm"] == arm]
        axes[0].plot(t["step"], t["reward"], lw=1.2, color=ARM_COLORS[arm], label=arm)
        if t["planner_score"].notna().any():
            axes[1].plot(t["step"], t["planner_score"], lw=1.2, color=ARM_COLORS[arm])
    axes[0].set(title="outcome reward", xlabel="GRPO step", ylabel="mean over seeds", ylim=(-0.03, 1.03))
    axes[1].set(title="CoT planner score", xlabel="GRPO step", ylim=(-0.03, 1.03))
    _legend(axes[0], fontsize=7)
    phase = {0: "before RL", 1: "after RL"}
    arms = [a for a in ARM_COLORS if a in set(held_out["style"])]
    _pointranges(axes[2], held_out.assign(when=held_out["phase"].map(phase)), "style", arms, hue="when", colors=PHASE_COLORS)
    axes[2].set(title="in character, held-out attacks", ylim=(-0.03, 1.03))
    _legend(axes[2], fontsize=7)
    d = divergence.rename(columns={"auc": "mean", "auc_low": "low", "auc_high": "high"})
    arms = [a for a in ARM_COLORS if a in set(d["style"])]
    _pointranges(axes[3], d.assign(when=d["phase"].map(phase)), "style", arms, hue="when", colors=PHASE_COLORS)
    axes[3].axhline(0.5, color="0.6", lw=0.8, ls=":")
    axes[3].set(title="CoT vs plain-RL baseline", ylabel="classifier AUC", ylim=(0.4, 1.02))
    fig.tight_layout()
    return fig
