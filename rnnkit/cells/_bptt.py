"""The scaffolding every hand-written BPTT shares: the mode check, autocast handling,
optional saved tensors, the input projection of all steps in one product
(:func:`input_projection`) and the gradients that are one product each after the loop
(:func:`projection_grads`).

The padded-sequence helpers (step mask, reversal, last step) are :mod:`rnnkit.cells.padded`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import Tensor

MODES = ("reference", "bptt")


def check_mode(mode: str) -> None:
    """Raise ``ValueError`` unless ``mode`` is one of :data:`MODES`."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def apply_function(function: type[torch.autograd.Function], *args: Any) -> Any:
    """``function.apply(*args)``: torch's ``apply`` carries no types; the callers state them."""
    return function.apply(*args)


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


def input_projection(x: Tensor, w_ih: Tensor, *biases: Tensor | None) -> Tensor:
    """The input part of every step's gates in one matrix product: ``x W_ih^T + biases``,
    time-major ``(T, B, G)`` from ``x`` ``(B, T, I)`` (the first bias fused into the product,
    the others added in place). The recurrence then adds ``h_{t-1} W_hh^T`` step by step."""
    B, T, I = x.shape
    xs = x.transpose(0, 1).reshape(T * B, I)  # (T*B, I) time-major
    present_biases = [b for b in biases if b is not None]
    if not present_biases:
        return (xs @ w_ih.t()).view(T, B, -1)
    gates = torch.addmm(present_biases[0], xs, w_ih.t())  # (T*B, G)
    for b in present_biases[1:]:
        gates += b
    return gates.view(T, B, -1)


def projection_grads(
    needs: tuple[bool, bool, bool, bool, bool],
    d_in: Tensor,
    d_rec: Tensor,
    x: Tensor,
    w_ih: Tensor,
    h_prev: Tensor,
) -> tuple[Tensor | None, ...]:
    """The gradients every BPTT computes after its loop, each one product over all
    ``T * B`` rows: ``(dx, dW_ih, dW_hh, db_ih, db_hh)``, None where not needed.

    Args:
        needs: whether ``x``, ``W_ih``, ``W_hh``, ``b_ih``, ``b_hh`` need a gradient (from
            ``ctx.needs_input_grad``, False for an absent bias).
        d_in: ``(T, B, G)`` gradient of the input projection's pre-activations.
        d_rec: ``(T, B, G)`` that of the recurrent projection ``h_{t-1} W_hh^T`` (the same
            tensor where the two add, as in the LSTM and Elman cells).
        x: ``(B, T, I)``; w_ih: ``(G, I)``; h_prev: ``(T, B, H_out)``, ``h_{t-1}`` per step.
    """
    T, B, G = d_in.shape
    I, H_out = x.shape[2], h_prev.shape[2]
    shared = d_rec is d_in
    d_in, d_rec = d_in.reshape(T * B, G), d_rec.reshape(T * B, G)
    dx = dw_ih = dw_hh = db_ih = db_hh = None
    if needs[0]:
        dx = (d_in @ w_ih).view(T, B, I).transpose(0, 1)  # dX = dA W_ih  (B, T, I)
    if needs[1]:
        dw_ih = d_in.t() @ x.transpose(0, 1).reshape(T * B, I)  # dW_ih = dA^T X  (G, I)
    if needs[2]:
        dw_hh = d_rec.t() @ h_prev.reshape(T * B, H_out)  # dW_hh = dA^T H_prev  (G, H_out)
    if needs[3]:
        db_ih = d_in.sum(0)  # db = sum over steps and batch  (G,)
    if needs[4]:
        db_hh = db_ih if db_ih is not None and shared else d_rec.sum(0)
    return dx, dw_ih, dw_hh, db_ih, db_hh
