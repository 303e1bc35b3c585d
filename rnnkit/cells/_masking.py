"""Helpers shared by the cell families: the step mask built from ``lengths`` and the mode check.

Padding is always on the right: step ``t`` of sequence ``b`` is real when ``t < lengths[b]``.
At a padded step the state is *held* (not updated) and the output is zero, so the final
state of every sequence is the state after its last real step.
"""

from __future__ import annotations

import torch

MODES = ("reference", "bptt")


def check_mode(mode: str) -> None:
    """Raise ``ValueError`` unless ``mode`` is one of :data:`MODES`."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def step_mask(lengths: torch.Tensor, steps: int, device: torch.device) -> torch.Tensor:
    """The time-major mask of real steps.

    Args:
        lengths: ``(B,)`` int64, on any device.
        steps: ``T``, the padded length.
        device: where the mask is needed (the device of the inputs).

    Returns:
        ``(T, B, 1)`` bool, ``mask[t, b] = t < lengths[b]``; ``mask[t]`` broadcasts over a
        ``(B, H)`` state.
    """
    lengths = lengths.to(device=device)
    t = torch.arange(steps, device=device)
    return (t[:, None] < lengths[None, :]).unsqueeze(-1)  # (T, B, 1)


def first_padded_step(lengths: torch.Tensor) -> int:
    """``min(lengths)``: every step before it is real for the whole batch, so needs no mask."""
    return int(lengths.min())
