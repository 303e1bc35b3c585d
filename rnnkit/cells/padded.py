"""Helpers over right-padded batches, in one place for every cell family and layer.

Padding is always on the right: step ``t`` of sequence ``b`` is real when
``t < lengths[b]``. At a padded step a recurrent state is *held* (not updated) and the
output is zero, so the final state of every sequence is its state after its last real
step, and a reverse direction reads each sequence backwards from its own last real step.
``lengths`` is ``(B,)`` int64 in ``[1, T]`` on any device, or None when nothing is padded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "first_padded_step",
    "full_lengths",
    "hold",
    "last_step",
    "map_state",
    "reverse_padded",
    "shift_right",
    "step_mask",
]


def step_mask(lengths: Tensor, steps: int, device: torch.device | str | None = None) -> Tensor:
    """The mask of real steps: ``(B, T)`` bool, ``mask[b, t] = t < lengths[b]``.

    The one step mask of rnnkit: time-major BPTT code takes ``mask.t()[..., None]``
    ``(T, B, 1)``, layers ``mask[..., None].to(dtype)`` ``(B, T, 1)``.
    """
    device = lengths.device if device is None else device
    t = torch.arange(steps, device=device)
    return t[None, :] < lengths.to(device)[:, None]


def full_lengths(x: Tensor, lengths: Tensor | None) -> Tensor:
    """``lengths``, or every sequence of ``x`` ``(B, T, ...)`` full: ``(B,)`` int64 of ``T``."""
    if lengths is not None:
        return lengths
    return torch.full((x.shape[0],), x.shape[1], dtype=torch.int64, device=x.device)


def first_padded_step(lengths: Tensor) -> int:
    """``min(lengths)``: every step before it is real for the whole batch, so needs no mask.

    0 while torch.compile or torch.export traces (every step masked: the same numbers,
    without reading a value that would break the graph)."""
    if torch.compiler.is_compiling():
        return 0
    return int(lengths.min())


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse every sequence of ``x`` ``(B, T, ...)`` within its own length.

    ``out[b, t] = x[b, lengths[b] - 1 - t]`` for ``t < lengths[b]``; padded steps stay in
    place. The map is its own inverse, so the same call reverses back. One gather;
    differentiable. Without ``lengths`` this is ``x.flip(1)``.
    """
    if lengths is None:
        return x.flip(1)
    B, T = x.shape[0], x.shape[1]
    t = torch.arange(T, device=x.device)  # (T,)
    lengths = lengths.to(x.device)[:, None]  # (B, 1)
    index = torch.where(t < lengths, lengths - 1 - t, t)  # (B, T) source step of each step
    index = index.view(B, T, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)


def last_step(x: Tensor, lengths: Tensor | None) -> Tensor:
    """The entry of ``x`` ``(B, T, ...)`` at each sequence's last real step: ``(B, ...)``."""
    if lengths is None:
        return x[:, -1]
    index = (lengths.to(x.device) - 1).view(-1, 1, *([1] * (x.dim() - 2)))
    return x.gather(1, index.expand(-1, 1, *x.shape[2:])).squeeze(1)


def shift_right(h: Tensor, h0: Tensor) -> Tensor:
    """The previous state at every step: ``(B, T, H)`` -> ``[h0, h_0, ..., h_{T-2}]``."""
    return torch.cat([h0[:, None], h[:, :-1]], dim=1)


def map_state(fn: Callable[..., Tensor], *states: Any) -> Any:
    """Apply ``fn`` leaf-wise to states that are tensors or (nested) tuples/lists of them."""
    first = states[0]
    if isinstance(first, Tensor):
        return fn(*states)
    if isinstance(first, tuple | list):
        return type(first)(map_state(fn, *parts) for parts in zip(*states, strict=True))
    raise TypeError(f"a cell state must be a tensor or a tuple of tensors, got {type(first)}")


def hold(m: Tensor, new: Tensor, old: Tensor) -> Tensor:
    """``new`` where ``m`` ``(B,)`` is true (or 1), ``old`` elsewhere, broadcast over the
    state's dimensions: the state update of one step under padding."""
    m = m.view(-1, *([1] * (new.dim() - 1)))
    return torch.where(m.bool(), new, old)
