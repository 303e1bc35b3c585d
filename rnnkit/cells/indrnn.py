"""IndRNN (Li et al. 2018, "Independently Recurrent Neural Network"): the cell math.

Each unit has one scalar recurrent weight, so the recurrence is element-wise::

    h_t = relu(W_ih x_t + b + u * h_{t-1})        # W_ih (H, I), u (H,), b (H,)

The input projection of a whole sequence is one matrix multiply (done outside the loop by
autograd); only the element-wise recurrence runs step by step. ``indrnn_step`` is the
reference; ``IndRNNRecurrence`` is its hand-written backward through time.
"""

from __future__ import annotations

import torch
from torch import Tensor


def indrnn_step(x_t: Tensor, h: Tensor, w_ih: Tensor, u: Tensor, b: Tensor | None) -> Tensor:
    """One reference step: ``relu(x_t @ w_ih.T + b + u * h)``.

    Shapes: x_t (B, I), h (B, H), w_ih (H, I), u (H,), b (H,) or None -> (B, H).
    """
    pre = x_t @ w_ih.t() + u * h
    if b is not None:
        pre = pre + b
    return torch.relu(pre)


def indrnn_sequence_reference(
    x: Tensor, mask: Tensor, h0: Tensor, w_ih: Tensor, u: Tensor, b: Tensor | None
) -> tuple[Tensor, Tensor]:
    """Autograd over ``indrnn_step``: x (B, T, I), mask (B, T) 1 at real steps, h0 (B, H).

    Returns output (B, T, H) (zero at padding) and h_n (B, H) (held at padding).
    """
    h, outs = h0, []
    for t in range(x.shape[1]):
        m = mask[:, t, None]  # (B, 1)
        h_new = indrnn_step(x[:, t], h, w_ih, u, b)
        h = m * h_new + (1 - m) * h  # state held at padding
        outs.append(m * h_new)
    return torch.stack(outs, 1), h


class IndRNNRecurrence(torch.autograd.Function):
    """The element-wise recurrence with a hand-written BPTT.

    forward(xp (B, T, H) = x W_ih^T + b, mask (B, T), h0 (B, H), u (H,)) -> (out, h_n)
    """

    @staticmethod
    def forward(ctx, xp: Tensor, mask: Tensor, h0: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        B, T, H = xp.shape
        out = xp.new_empty(B, T, H)
        pre = xp.new_empty(B, T, H)  # pre-activations, for relu'
        hs = xp.new_empty(B, T, H)  # h_{t-1} of each step, for du
        h = h0
        for t in range(T):
            m = mask[:, t, None]  # (B, 1)
            hs[:, t] = h
            a = xp[:, t] + u * h  # (B, H)
            pre[:, t] = a
            h_new = a.clamp_min(0)
            out[:, t] = m * h_new
            h = torch.where(m > 0, h_new, h)  # hold the state at padding
        ctx.save_for_backward(mask, pre, hs, u)
        return out, h

    @staticmethod
    def backward(ctx, dout: Tensor, dh_n: Tensor):
        mask, pre, hs, u = ctx.saved_tensors
        T = pre.shape[1]
        dxp = torch.empty_like(pre)  # d pre-activation at every step
        dh_next = dh_n  # gradient reaching h_t from the future
        for t in reversed(range(T)):
            m = mask[:, t, None]
            dh = dout[:, t] * m + dh_next  # total gradient on h_t (output is zero at padding)
            da = dh * m * (pre[:, t] > 0)  # through relu, only at real steps
            dxp[:, t] = da
            dh_next = da * u + dh * (1 - m)  # to h_{t-1}: recurrence, or held state
        du = (dxp * hs).sum((0, 1))  # (H,)
        return dxp, None, dh_next, du


def indrnn_sequence(
    x: Tensor,
    mask: Tensor,
    h0: Tensor,
    w_ih: Tensor,
    u: Tensor,
    b: Tensor | None,
    *,
    mode: str = "bptt",
) -> tuple[Tensor, Tensor]:
    """Run one IndRNN layer over ``x`` (B, T, I); ``mode`` is "bptt" or "reference".

    Returns output (B, T, H) (zero at padding) and h_n (B, H) (held at padding).
    """
    if mode == "reference":
        return indrnn_sequence_reference(x, mask, h0, w_ih, u, b)
    if mode != "bptt":
        raise ValueError(f"mode must be 'bptt' or 'reference', got {mode!r}")
    xp = x @ w_ih.t()  # (B, T, H): the input projection of every step at once
    if b is not None:
        xp = xp + b
    return IndRNNRecurrence.apply(xp, mask, h0, u)
