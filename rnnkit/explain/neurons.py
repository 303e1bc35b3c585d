"""Which units of a character model track something you can name (Karpathy et al. 2015).

For each unit of a hidden-state sequence ``(T, H)`` read over a text of ``T`` characters,
:func:`select_neurons` measures the Pearson correlation of its activation with a few
character features (is the character whitespace, a vowel, upper case, punctuation; is it
inside quotes or brackets; how far into the current word or line are we) and returns the
most selective units: for each feature the unit most correlated with it (either sign),
then, if room is left, the units of largest variance over the text. Each pick carries the
reason it was chosen, so a report can say "unit 17: corr +0.81 with inside quotes".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

VOWELS = frozenset("aeiouAEIOU")
OPENERS, CLOSERS = "([{", ")]}"


def _inside_quotes(text: str) -> list[float]:
    inside, out = False, []
    for ch in text:
        if ch == '"':
            inside = not inside
        out.append(float(inside))
    return out


def _inside_brackets(text: str) -> list[float]:
    depth, out = 0, []
    for ch in text:
        if ch in OPENERS:
            depth += 1
        elif ch in CLOSERS:
            depth = max(depth - 1, 0)
        out.append(float(depth > 0))
    return out


def _position_in(text: str, is_break: Callable[[str], bool]) -> list[float]:
    pos, out = 0, []
    for ch in text:
        pos = 0 if is_break(ch) else pos + 1
        out.append(float(pos))
    return out


# feature name -> per-character values over the text
FEATURES: dict[str, Callable[[str], list[float]]] = {
    "whitespace": lambda t: [float(c.isspace()) for c in t],
    "vowel": lambda t: [float(c in VOWELS) for c in t],
    "upper case": lambda t: [float(c.isupper()) for c in t],
    "punctuation": lambda t: [float(not c.isalnum() and not c.isspace()) for c in t],
    "inside quotes": _inside_quotes,
    "inside brackets": _inside_brackets,
    "position in word": lambda t: _position_in(t, lambda c: not c.isalpha()),
    "position in line": lambda t: _position_in(t, lambda c: c == "\n"),
}


@dataclass
class NeuronPick:
    """One selected unit: its index, the score it was chosen by and why."""

    unit: int
    score: float  # |correlation| with ``feature``, or the variance over the text
    reason: str  # e.g. "corr +0.81 with inside quotes" or "variance 0.42"


def feature_correlations(text: str, states: torch.Tensor) -> dict[str, torch.Tensor]:
    """Pearson correlation of every unit with every character feature.

    Args:
        text: ``T`` characters.
        states: ``(T, H)`` activations after reading each character.

    Returns:
        feature name -> ``(H,)`` correlations in [-1, 1] (0 where either side is constant);
        features constant over the text are left out.
    """
    if states.dim() != 2 or states.shape[0] != len(text):
        raise ValueError(
            f"states must be (T, H) with T = len(text) = {len(text)}, got {tuple(states.shape)}"
        )
    x = states.detach().double().cpu()
    x = x - x.mean(dim=0)  # (T, H)
    x_norm = x.norm(dim=0)  # (H,)
    out: dict[str, torch.Tensor] = {}
    for name, feature in FEATURES.items():
        f = torch.tensor(feature(text), dtype=torch.float64)
        f = f - f.mean()  # (T,)
        if float(f.norm()) == 0.0:
            continue
        corr = (f @ x) / (f.norm() * x_norm).clamp_min(1e-12)  # (H,)
        out[name] = torch.where(x_norm > 0, corr, torch.zeros_like(corr)).float()
    return out


def select_neurons(text: str, states: torch.Tensor, k: int = 4) -> list[NeuronPick]:
    """The ``k`` most selective units of ``states (T, H)`` over ``text``.

    Features are visited from the best-explained one (highest absolute correlation of any unit)
    down; each contributes its best unit not already chosen. Remaining places go to the
    units of largest variance.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    corrs = feature_correlations(text, states)
    picks: list[NeuronPick] = []
    chosen: set[int] = set()
    ranked = sorted(corrs.items(), key=lambda kv: -float(kv[1].abs().max()))
    for name, corr in ranked:
        if len(picks) >= k:
            break
        for unit in torch.argsort(corr.abs(), descending=True).tolist():
            if unit not in chosen:
                c = float(corr[unit])
                picks.append(NeuronPick(unit, abs(c), f"corr {c:+.2f} with {name}"))
                chosen.add(unit)
                break
    variance = states.detach().float().cpu().var(dim=0, unbiased=False)  # (H,)
    for unit in torch.argsort(variance, descending=True).tolist():
        if len(picks) >= k:
            break
        if unit not in chosen:
            v = float(variance[unit])
            picks.append(NeuronPick(unit, v, f"variance {v:.3f}"))
            chosen.add(unit)
    return picks
