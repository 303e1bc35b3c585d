"""Small tensor helpers over right-padded batches ``(B, T, ...)`` with ``lengths (B,)``."""

from __future__ import annotations

import torch
from torch import Tensor


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse every sequence of ``x`` within its own length; padded steps stay in place.

    Args:
        x: ``(B, T, F)``, right-padded.
        lengths: ``(B,)`` int64 in ``[1, T]``, or None when every sequence is full.

    Returns:
        ``(B, T, F)`` with ``out[b, t] = x[b, lengths[b] - 1 - t]`` for ``t < lengths[b]`` and
        ``out[b, t] = x[b, t]`` at padded steps. The map is its own inverse, so the same call
        reverses back. One gather; differentiable.
    """
    if lengths is None:
        return x.flip(1)
    steps = x.shape[1]
    t = torch.arange(steps, device=x.device)  # (T,)
    lengths = lengths.to(x.device)[:, None]  # (B, 1)
    index = torch.where(t < lengths, lengths - 1 - t, t)  # (B, T)
    return x.gather(1, index[:, :, None].expand(-1, -1, x.shape[2]))


def step_mask(lengths: Tensor | None, steps: int, like: Tensor) -> Tensor | None:
    """``(B, T, 1)`` mask in the dtype of ``like``: 1 at real steps, 0 at padding.

    None when ``lengths`` is None (nothing is padded).
    """
    if lengths is None:
        return None
    t = torch.arange(steps, device=like.device)
    return (t[None, :] < lengths.to(like.device)[:, None]).unsqueeze(-1).to(like.dtype)


def shift_right(h: Tensor, h0: Tensor) -> Tensor:
    """The previous state at every step: ``(B, T, H)`` -> ``[h0, h_0, ..., h_{T-2}]``."""
    return torch.cat([h0[:, None], h[:, :-1]], dim=1)
