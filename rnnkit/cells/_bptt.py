"""The scaffolding every hand-written BPTT shares: the mode check and autocast handling.

The padded-sequence helpers (step mask, reversal, last step) are :mod:`rnnkit.cells.padded`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import torch

MODES = ("reference", "bptt")


def check_mode(mode: str) -> None:
    """Raise ``ValueError`` unless ``mode`` is one of :data:`MODES`."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def apply_bptt(function: type[torch.autograd.Function], x: torch.Tensor, *args: Any) -> Any:
    """``function.apply(x, *args)``, in float32 with autocast off when autocast is on.

    The BPTT Functions write into preallocated buffers of the inputs' dtype, which autocast's
    per-op casting would break; under autocast they run in float32 (as
    ``torch.amp.custom_fwd(cast_inputs=torch.float32)`` would), and their backward, which
    reads only the float32 buffers, runs with autocast off (:func:`autocast_off`).
    """
    device_type = x.device.type
    if not torch.is_autocast_enabled(device_type):
        return function.apply(x, *args)
    args = tuple(
        a.float() if isinstance(a, torch.Tensor) and a.is_floating_point() else a
        for a in (x, *args)
    )
    with torch.autocast(device_type, enabled=False):
        return function.apply(*args)


Backward = TypeVar("Backward", bound=Callable[..., Any])


def autocast_off(backward: Backward) -> Backward:
    """Decorate a BPTT ``backward`` to run with autocast off, in the saved buffers' dtype."""

    @functools.wraps(backward)
    def wrapper(ctx: Any, *grads: torch.Tensor) -> Any:
        with torch.autocast(grads[0].device.type, enabled=False):
            return backward(ctx, *grads)

    return wrapper  # type: ignore[return-value]


_ABSENT = torch.empty(0)  # stands for a None among saved tensors


def save_optional(ctx: Any, *tensors: torch.Tensor | None) -> None:
    """``ctx.save_for_backward`` where some entries may be None (an absent option or
    projection): they are saved as an empty tensor, which torch.compile accepts, and
    :func:`saved_optional` gives them back as None."""
    ctx.save_for_backward(*(_ABSENT if t is None else t for t in tensors))
    ctx.absent = tuple(t is None for t in tensors)


def present(tensors: tuple[torch.Tensor | None, ...]) -> tuple[torch.Tensor, ...]:
    """Saved tensors that are never absent, typed as such (an assertion checks it)."""
    assert all(t is not None for t in tensors), "a saved tensor is missing"
    return tuple(t for t in tensors if t is not None)


def saved_optional(ctx: Any) -> tuple[torch.Tensor | None, ...]:
    """The tensors of :func:`save_optional`, None where None was saved."""
    return tuple(
        None if absent else t for t, absent in zip(ctx.saved_tensors, ctx.absent, strict=True)
    )
