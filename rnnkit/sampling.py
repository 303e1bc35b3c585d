"""Choosing the next symbol from a model's logits: temperature, top-k and top-p (nucleus).

All functions take ``logits`` ``(B, V)`` (any float dtype) and work row by row.
"""

from __future__ import annotations

import torch


def check_sampling_args(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """Refuse out-of-range sampling settings with a message naming the argument."""
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def filter_logits(
    logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """``logits`` with every symbol outside the top-k and outside the nucleus set to -inf.

    Args:
        logits: ``(B, V)``.
        top_k: keep the ``k`` largest logits of each row (ties at the k-th value are kept).
        top_p: keep the smallest set of most likely symbols whose probability sums to at
            least ``top_p`` (the most likely symbol is always kept).

    Returns:
        ``(B, V)`` filtered logits (a new tensor).
    """
    logits = logits.clone()
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits[logits < kth] = float("-inf")
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits.float(), dim=-1)
        before = torch.cumsum(probs, dim=-1) - probs  # mass of the strictly more likely ones
        drop_sorted = before >= top_p  # (B, V); the first symbol is never dropped
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits[drop] = float("-inf")
    return logits


def sample_next(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one symbol per row from ``softmax(filter(logits) / temperature)``.

    Args:
        logits: ``(B, V)`` unnormalised scores of the next symbol.
        temperature: divides the logits; ``0`` picks the argmax (greedy decoding).
        top_k, top_p: see :func:`filter_logits`.
        generator: the random generator (a fixed seed gives the same draws).

    Returns:
        ``(B,)`` int64 symbol ids.
    """
    check_sampling_args(temperature, top_k, top_p)
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = filter_logits(logits, top_k, top_p)
    probs = torch.softmax(logits.float() / temperature, dim=-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


__all__ = ["check_sampling_args", "filter_logits", "sample_next"]
