"""Decoding the frame posteriors of a CTC model (Graves et al. 2006) into label strings.

A CTC model emits, at every frame, a distribution over the labels and a *blank*. A path
(one symbol per frame) reads as a label string once repeats are merged and blanks are
dropped (``a a - b b -> a b``; ``a - a -> a a``). The probability of a string is the sum
over all the paths that read as it.

* :func:`ctc_greedy` (best path): the most likely symbol of every frame, collapsed. Fast;
  it finds the best path, not the best string.
* :func:`ctc_beam_search` (prefix beam search): keeps the ``beam_size`` most likely
  *strings* after each frame, each with the probability of its paths ending in a blank
  and in a label, so that paths which read the same are summed. With ``beam_size=1`` it
  still sums (it is not greedy); it can find a string greedy misses (two frames each
  ``P(a) = 0.4, P(blank) = 0.6``: greedy reads ``""`` (p 0.36), the beam ``"a"`` (0.64)).
* :func:`ctc_decode`: one of the two by width (``1`` = greedy, the convention of
  ``data.beam_size`` everywhere in rnnkit).

All take log-probabilities ``(T, C)`` of one utterance (``log_softmax`` output); the
batched forms take ``(B, T, C)`` and ``lengths (B,)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

NEG_INF = -math.inf


def _logaddexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    hi, lo = (a, b) if a > b else (b, a)
    return hi + math.log1p(math.exp(lo - hi))


def _add(
    beams: dict[tuple[int, ...], list[float]], prefix: tuple[int, ...], p_blank: float,
    p_label: float,
) -> None:  # fmt: skip
    """Add path probabilities (log) ending in a blank / in a label to ``beams[prefix]``."""
    cur = beams.setdefault(prefix, [NEG_INF, NEG_INF])
    cur[0] = _logaddexp(cur[0], p_blank)
    cur[1] = _logaddexp(cur[1], p_label)


def ctc_greedy(log_probs: torch.Tensor, blank: int = 0) -> list[int]:
    """The best path of ``log_probs (T, C)``, repeats merged and blanks dropped."""
    best = log_probs.argmax(-1).tolist()  # (T,)
    out, prev = [], blank
    for s in best:
        if s != prev and s != blank:
            out.append(s)
        prev = s
    return out


def ctc_beam_search(
    log_probs: torch.Tensor, beam_size: int = 8, blank: int = 0, prune: float = -12.0
) -> tuple[list[int], float]:
    """The most likely label string of ``log_probs (T, C)`` by prefix beam search.

    Args:
        log_probs: ``(T, C)`` log-probabilities of each frame (blank included).
        beam_size: strings kept after each frame.
        blank: the blank's index.
        prune: labels whose log-probability at a frame is below this are not tried as
            extensions there (they cannot win; ``-inf`` tries every label).

    Returns ``(labels, log p)``: the best string and the log of the summed probability of
    its paths (among those the beam kept).
    """
    if beam_size < 1:
        raise ValueError(f"beam_size: expected >= 1, got {beam_size}")
    lp = log_probs.detach().double().cpu().tolist()  # T lists of C floats
    # prefix -> (log p of its paths ending in blank, ... ending in its last label)
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, NEG_INF)}
    for frame in lp:
        labels = [c for c, v in enumerate(frame) if c != blank and v >= prune]
        nxt: dict[tuple[int, ...], list[float]] = {}
        for prefix, (pb, pl) in beams.items():
            total = _logaddexp(pb, pl)
            _add(nxt, prefix, total + frame[blank], NEG_INF)  # a blank: the same string
            last = prefix[-1] if prefix else None
            for c in labels:
                if c == last:
                    _add(nxt, prefix, NEG_INF, pl + frame[c])  # a repeat merges into it
                    _add(nxt, (*prefix, c), NEG_INF, pb + frame[c])  # after a blank: c again
                else:
                    _add(nxt, (*prefix, c), NEG_INF, total + frame[c])
        ranked = sorted(nxt.items(), key=lambda kv: -_logaddexp(kv[1][0], kv[1][1]))
        beams = {p: (v[0], v[1]) for p, v in ranked[:beam_size]}
    best, (pb, pl) = max(beams.items(), key=lambda kv: _logaddexp(*kv[1]))
    return list(best), _logaddexp(pb, pl)


def ctc_decode(
    log_probs: torch.Tensor, lengths: torch.Tensor | Sequence[int], beam_size: int = 1,
    blank: int = 0,
) -> list[list[int]]:  # fmt: skip
    """The label strings of a batch ``log_probs (B, T, C)`` with ``lengths (B,)`` valid
    frames each: greedy for ``beam_size`` 1, else prefix beam search of that width."""
    out = []
    for row, n in zip(log_probs, [int(n) for n in lengths]):
        frames = row[:n]  # (n, C)
        if beam_size == 1:
            out.append(ctc_greedy(frames, blank))
        else:
            out.append(ctc_beam_search(frames, beam_size, blank)[0])
    return out


__all__ = ["ctc_beam_search", "ctc_decode", "ctc_greedy"]
