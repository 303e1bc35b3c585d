"""The figures of an explanation, drawn with matplotlib's object API (no pyplot state).

Every function returns a :class:`matplotlib.figure.Figure`; :func:`png_bytes` renders one
to PNG (Agg) and releases it. Nothing here reads a model: the inputs are plain tensors.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

# Quantities squashed by a sigmoid live in [0, 1]; tanh ones in [-1, 1]; others unbounded.
SIGMOID_NAMES = frozenset({"i", "f", "o", "r", "z"})
TANH_NAMES = frozenset({"g", "n", "h"})
LONG_NAMES = {
    "h": "hidden state h",
    "c": "cell state c",
    "i": "input gate i",
    "f": "forget gate f",
    "g": "cell candidate g",
    "o": "output gate o",
    "r": "reset gate r",
    "z": "update gate z",
    "n": "new gate n",
    "pre": "pre-activation",
}
MAX_TICK_LABELS = 60  # label every step up to this many, else a sparse numeric axis


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """The PNG encoding of ``fig`` (Agg)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _to_numpy(t: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().float().cpu().numpy()
    return np.asarray(t, dtype=np.float32)


def _step_ticks(ax, labels: Sequence[str], axis: str = "x") -> None:
    n = len(labels)
    set_ticks = ax.set_xticks if axis == "x" else ax.set_yticks
    set_labels = ax.set_xticklabels if axis == "x" else ax.set_yticklabels
    if n <= MAX_TICK_LABELS:
        set_ticks(range(n))
        set_labels(labels, rotation=90 if axis == "x" else 0, fontsize=7)


def attribution_figure(labels: Sequence[str], scores: torch.Tensor, title: str) -> Figure:
    """Bar chart of one attribution per step.

    Args:
        labels: ``T`` step labels (tokens, or step numbers).
        scores: ``(T,)`` attributions; positive bars (red) push the explained output up.
        title: the figure title.
    """
    s = _to_numpy(scores)
    width = min(max(6.0, 0.22 * len(s) + 2.0), 16.0)
    fig = Figure(figsize=(width, 3.2))
    fig.subplots_adjust(left=0.7 / width, right=1 - 0.2 / width, bottom=0.3, top=0.88)
    ax = fig.add_subplot()
    ax.bar(range(len(s)), s, color=np.where(s >= 0, "#c0392b", "#2e6da4"))
    ax.axhline(0.0, color="black", linewidth=0.6)
    _step_ticks(ax, labels)
    ax.set_xlim(-0.6, len(s) - 0.4)
    ax.set_ylabel("attribution")
    ax.set_title(title, fontsize=10)
    return fig


def attention_figure(
    source_labels: Sequence[str], output_labels: Sequence[str], weights: torch.Tensor, title: str
) -> Figure:
    """Heatmap of an encoder-decoder's attention: one row per output token, one column per
    source token, white 0 to dark 1.

    Args:
        source_labels: ``S`` source tokens (columns).
        output_labels: ``T`` output tokens (rows), EOS included.
        weights: ``(T, S)`` attention weights, each row summing to 1.
        title: the figure title.
    """
    w = _to_numpy(weights)
    if w.shape != (len(output_labels), len(source_labels)):
        raise ValueError(
            f"attention weights {w.shape} do not match {len(output_labels)} output x "
            f"{len(source_labels)} source labels"
        )
    width = min(max(4.5, 0.28 * w.shape[1] + 2.2), 16.0)
    height = min(max(3.0, 0.26 * w.shape[0] + 1.8), 16.0)
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=1.3 / width, right=1 - 0.9 / width, bottom=1.1 / height,
                        top=1 - 0.45 / height)  # fmt: skip
    ax = fig.add_subplot()
    im = ax.imshow(w, aspect="auto", interpolation="nearest", cmap="Greys", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02).ax.tick_params(labelsize=6)
    _step_ticks(ax, source_labels, "x")
    _step_ticks(ax, output_labels, "y")
    ax.set_xlabel("source token")
    ax.set_ylabel("output token")
    ax.set_title(title, fontsize=10)
    return fig


def series_attribution_figure(
    values: torch.Tensor, scores: torch.Tensor, title: str, feature_names: Sequence[str] = ()
) -> Figure:
    """A time series (top) above its per-step attribution (bottom), sharing the time axis.

    Args:
        values: ``(T, F)`` the (scaled) input series.
        scores: ``(T,)`` attributions per time step (summed over features).
        title: the figure title.
        feature_names: ``F`` names for the legend (at most 8 are drawn).
    """
    v = _to_numpy(values)
    s = _to_numpy(scores)
    fig = Figure(figsize=(9.0, 4.6))
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.11, top=0.92, hspace=0.08)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    for j in range(min(v.shape[1], 8)):
        name = feature_names[j] if j < len(feature_names) else f"feature {j}"
        top.plot(range(len(v)), v[:, j], linewidth=1.2, label=name)
    if v.shape[1] > 1:
        top.legend(fontsize=7, loc="upper left")
    top.set_ylabel("input (scaled)")
    top.set_title(title, fontsize=10)
    bottom.bar(range(len(s)), s, color=np.where(s >= 0, "#c0392b", "#2e6da4"), width=1.0)
    bottom.axhline(0.0, color="black", linewidth=0.6)
    bottom.set_ylabel("attribution")
    bottom.set_xlabel("time step")
    return fig


def _norm_for(name: str, m: np.ndarray) -> tuple[str, dict]:
    """Colormap and limits for quantity ``name``: sigmoid gates in [0, 1], the rest centred."""
    if name in SIGMOID_NAMES:
        return "viridis", {"vmin": 0.0, "vmax": 1.0}
    if name in TANH_NAMES:
        return "RdBu_r", {"vmin": -1.0, "vmax": 1.0}
    bound = float(np.abs(m).max()) or 1.0
    return "RdBu_r", {"norm": TwoSlopeNorm(0.0, -bound, bound)}


def state_heatmaps_figure(
    states: dict[str, torch.Tensor], step_labels: Sequence[str], title: str, max_units: int = 64
) -> Figure:
    """One heatmap per traced quantity of one layer and direction: units x time.

    Args:
        states: name -> ``(T, H)`` per-step values (``h``, ``c``, gates ``i f g o`` /
            ``r z n``, ``pre``), already cut to the sequence's real length.
        step_labels: ``T`` labels for the time axis.
        title: the figure title (layer and direction).
        max_units: at most this many units are drawn (the ones of largest variance over
            time, in index order), so wide layers stay readable.
    """
    names = list(states)
    if not names:
        raise ValueError("state_heatmaps_figure needs at least one traced quantity")
    n_steps, n_units = states[names[0]].shape
    keep = np.arange(n_units)
    if n_units > max_units:
        var = _to_numpy(states["h"] if "h" in states else states[names[0]]).var(axis=0)
        keep = np.sort(np.argsort(-var)[:max_units])
    # Fixed margins in inches (cheaper than a layout engine, and the same for every layer).
    width = min(max(6.0, 0.14 * n_steps + 2.5), 16.0)
    panel = max(0.7, 0.025 * len(keep) + 0.4)  # heatmap height per quantity
    gap, top, bottom, left, right = 0.32, 0.45, 0.95 if len(step_labels) <= 60 else 0.55, 0.75, 0.8
    height = top + bottom + len(names) * panel + (len(names) - 1) * gap
    fig = Figure(figsize=(width, height))
    ax_w = (width - left - right) / width
    axes = []
    for k, name in enumerate(names):
        y = (bottom + (len(names) - 1 - k) * (panel + gap)) / height
        ax = fig.add_axes((left / width, y, ax_w, panel / height))
        cax = fig.add_axes(((width - right + 0.1) / width, y, 0.12 / width, panel / height))
        m = _to_numpy(states[name])[:, keep].T  # (units, T)
        cmap, limits = _norm_for(name, m)
        im = ax.imshow(m, aspect="auto", interpolation="nearest", cmap=cmap, **limits)
        fig.colorbar(im, cax=cax)
        cax.tick_params(labelsize=6)
        ax.set_ylabel(f"{name}\nunit", fontsize=8)
        ax.set_title(LONG_NAMES.get(name, name), fontsize=8, loc="left", pad=2)
        ax.tick_params(axis="y", labelsize=6)
        if k < len(names) - 1:  # only the bottom panel carries the time axis
            ax.set_xticks([])
        axes.append(ax)
    _step_ticks(axes[-1], step_labels)
    axes[-1].set_xlabel("time step")
    fig.suptitle(title, fontsize=10, y=1 - 0.12 / height)
    return fig


def neuron_text_figure(
    text: str, activations: torch.Tensor, units: Sequence[int], captions: Sequence[str]
) -> Figure:
    """The text coloured by each chosen neuron's activation, one block per neuron.

    Args:
        text: the ``T`` characters the model read.
        activations: ``(T, K)`` activation of the ``K`` chosen units at each character
            (after reading it), in [-1, 1] for tanh states.
        units: ``K`` unit indices (for the labels).
        captions: ``K`` one-line reasons each unit was chosen.
    """
    a = _to_numpy(activations)
    wrap = 80
    lines = [text[i : i + wrap] for i in range(0, len(text), wrap)] or [""]
    starts = list(range(0, len(text), wrap)) or [0]
    rows = len(units) * (len(lines) + 1)
    fig = Figure(figsize=(0.105 * wrap + 0.8, 0.26 * rows + 0.4))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-1, wrap + 1)
    ax.set_ylim(rows, -0.5)
    ax.axis("off")
    cmap = colormaps["RdBu_r"]
    bound = max(float(np.abs(a).max()), 1e-6)
    row = 0
    for k, unit in enumerate(units):
        ax.text(0, row + 0.5, f"unit {unit}: {captions[k]}", fontsize=8, weight="bold", va="center")
        row += 1
        for line, start in zip(lines, starts):
            for j, ch in enumerate(line):
                value = a[start + j, k] / bound
                ax.add_patch(Rectangle((j, row), 1.0, 1.0, facecolor=cmap(0.5 + 0.5 * value), lw=0))
                shown = "¶" if ch == "\n" else ("·" if ch == " " else ch)
                ax.text(
                    j + 0.5,
                    row + 0.5,
                    shown,
                    fontsize=7,
                    family="monospace",
                    ha="center",
                    va="center",
                )
            row += 1
    return fig
