r"""The Elman RNN cell: a reference step and its hand-written backpropagation through time.

.. math::

    a_t = W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}

    h_t = f(a_t), \quad f \in \{\tanh, \mathrm{relu}\}

The parameters have torch.nn.RNN's shapes: ``w_ih (H, I)``, ``w_hh (H, H)``,
``b_ih, b_hh (H,)`` or ``None``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnkit.cells._bptt import (
    apply_bptt,
    autocast_off,
    check_mode,
    input_projection,
    projection_grads,
)
from rnnkit.cells._step import Pair, add_bias, projections, zoneout
from rnnkit.cells.padded import first_padded_step, step_mask

NONLINEARITIES = ("tanh", "relu")


def _check_nonlinearity(nonlinearity: str) -> None:
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")


def elman_step(
    x_t: Tensor,
    h: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    nonlinearity: str = "tanh",
    *,
    ln_ih: Pair | None = None,
    ln_hh: Pair | None = None,
    rec_mask: Tensor | None = None,
    keep_h: Tensor | None = None,
    gates: dict[str, Tensor] | None = None,
) -> Tensor:
    r"""One Elman step, with the cell options when their arguments are given.

    .. math::

        h' = f(x W_{ih}^T + b_{ih} + h W_{hh}^T + b_{hh})

    With the options (:mod:`rnnkit.cells.extended`): the two products layer-normalised
    separately (``ln_ih``, ``ln_hh``), ``h`` times the recurrent-dropout mask inside
    ``W_hh h``, zoneout ``h' = k_h h + (1 - k_h) h'``.

    Args:
        x_t: ``(B, I)`` input at this step.
        h: ``(B, H)`` previous state.
        w_ih, w_hh, b_ih, b_hh: ``(H, I)``, ``(H, H)``, ``(H,)`` or ``None``, ``(H,)`` or ``None``.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        ln_ih, ln_hh: ``(gain, bias)`` each ``(H,)``; rec_mask, keep_h: ``(B, H)``.
        gates: a dict that receives ``pre``, the pre-activation ``a`` ``(B, H)`` (the trace).

    Returns:
        ``(B, H)`` the new state.
    """
    _check_nonlinearity(nonlinearity)
    xa, ha = projections(x_t, h, w_ih, w_hh, ln_ih, ln_hh, rec_mask)  # (B, H) each
    a = add_bias(xa + ha, b_ih, b_hh)  # (B, H)
    if gates is not None:
        gates.update(pre=a)
    return zoneout(keep_h, h, torch.tanh(a) if nonlinearity == "tanh" else torch.relu(a))


def elman_sequence(
    x: Tensor,
    lengths: Tensor,
    h0: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    nonlinearity: str = "tanh",
    *,
    mode: str = "reference",
) -> tuple[Tensor, Tensor]:
    """Run the Elman cell forward over right-padded sequences.

    Args:
        x: ``(B, T, I)`` inputs, batch first.
        lengths: ``(B,)`` int64, ``1 <= lengths <= T``, on any device.
        h0: ``(B, H)`` initial state.
        w_ih, w_hh, b_ih, b_hh: torch.nn.RNN parameters of one layer and direction.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        mode: ``"reference"`` (a Python loop over :func:`elman_step`, differentiated by
            autograd) or ``"bptt"`` (:class:`ElmanBPTT`, the hand-written backward).

    Returns:
        ``out (B, T, H)``, zero at padded steps, and ``h_n (B, H)``, the state after each
        sequence's last real step.
    """
    check_mode(mode)
    _check_nonlinearity(nonlinearity)
    if mode == "bptt":
        out: tuple[Tensor, Tensor] = apply_bptt(
            ElmanBPTT, x, lengths, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity
        )
        return out
    mask = step_mask(lengths, x.shape[1], x.device).t()[..., None]  # (T, B, 1)
    h = h0
    outs = []
    for t in range(x.shape[1]):
        h_new = elman_step(x[:, t], h, w_ih, w_hh, b_ih, b_hh, nonlinearity)  # (B, H)
        h = torch.where(mask[t], h_new, h)  # held at padded steps
        outs.append(h_new.masked_fill(~mask[t], 0.0))  # zero at padded steps
    return torch.stack(outs, dim=1), h


class ElmanBPTT(torch.autograd.Function):
    r"""Elman forward over a padded batch with a hand-written backward through time.

    Forward: the input projection of all steps in one matrix product, then the recurrence.
    Backward, carrying :math:`\delta h` (``dh_next``) from ``T`` down to ``0``:

    .. math::

        \delta a_t = m_t \, (\delta \mathrm{out}_t + \delta h_t) \odot f'(a_t), \qquad
        \delta h_{t-1} = m_t \, \delta a_t W_{hh} + (1 - m_t)\, \delta h_t

    with :math:`m_t` the mask of real steps (a padded step holds the state, so its gradient
    passes through unchanged), :math:`f'(a) = 1 - h^2` for tanh and :math:`[h > 0]` for relu.
    The weight gradients are one matrix product over all ``T * B`` rows:
    :math:`\delta W_{hh} = \delta A^T H_{prev}`, :math:`\delta W_{ih} = \delta A^T X`,
    :math:`\delta b = \sum \delta A`, :math:`\delta X = \delta A\, W_{ih}`.

    Inputs and outputs as :func:`elman_sequence`. Internal buffers are time-major
    ``(T, B, ...)`` so that each step reads and writes contiguous memory.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        lengths: Tensor,
        h0: Tensor,
        w_ih: Tensor,
        w_hh: Tensor,
        b_ih: Tensor | None,
        b_hh: Tensor | None,
        nonlinearity: str = "tanh",
    ) -> tuple[Tensor, Tensor]:
        _check_nonlinearity(nonlinearity)
        B, T, I = x.shape
        H = w_hh.shape[0]
        mask = step_mask(lengths, T, x.device).t()[..., None]  # (T, B, 1)
        t_full = first_padded_step(lengths)  # steps t < t_full are real for every sequence
        act = torch.tanh_ if nonlinearity == "tanh" else torch.relu_
        a_all = input_projection(x, w_ih, b_ih, b_hh)  # (T, B, H): every step's input part
        w_hh_t = w_hh.t()  # (H, H)
        hs = x.new_empty(T + 1, B, H)  # hs[t] = h_{t-1}: the state entering step t
        hs[0] = h0
        for t in range(T):
            if t < t_full:  # every sequence is real: write the new state in place
                act(torch.addmm(a_all[t], hs[t], w_hh_t, out=hs[t + 1]))  # h = f(a)
            else:  # padded rows hold the previous state
                h_new = act(a_all[t].addmm_(hs[t], w_hh_t))  # (B, H)
                torch.where(mask[t], h_new, hs[t], out=hs[t + 1])
        out = hs[1:] if t_full == T else hs[1:].masked_fill(~mask, 0.0)  # (T, B, H)
        ctx.save_for_backward(x, w_ih, w_hh, hs, mask)
        ctx.t_full = t_full
        ctx.nonlinearity = nonlinearity
        ctx.has_bias = (b_ih is not None, b_hh is not None)
        return out.transpose(0, 1).contiguous(), hs[T].clone()

    @staticmethod
    @once_differentiable
    @autocast_off
    def backward(ctx: Any, dout: Tensor, dh_n: Tensor) -> tuple[Tensor | None, ...]:
        x, w_ih, w_hh, hs, mask = ctx.saved_tensors
        B, T, I = x.shape
        H = w_hh.shape[0]
        dout = dout.transpose(0, 1)  # (T, B, H) time-major view
        dA = hs.new_empty(T, B, H)  # dA[t] = dL/da_t, the gradient of the pre-activation
        h = hs[1:]  # (T, B, H) the new states f(a_t) (held states on padded rows)
        # f'(a) of every step at once: tanh' = 1 - h^2, relu' = [h > 0]
        dh_da = 1 - h * h if ctx.nonlinearity == "tanh" else (h > 0).to(h.dtype)  # (T, B, H)
        dh_next = dh_n  # dL/dh_t carried from the future; starts at the final state
        for t in reversed(range(T)):
            da = torch.add(dout[t], dh_next, out=dA[t])  # dh = dout + dh_next
            da.mul_(dh_da[t])  # da = dh * f'(a)
            if t < ctx.t_full:
                dh_next = da @ w_hh  # dh_prev = da W_hh
            else:
                da.masked_fill_(~mask[t], 0.0)  # padded rows: no new state, no gradient
                dh_next = torch.where(mask[t], da @ w_hh, dh_next)  # held rows pass dh through
        needs, bias = ctx.needs_input_grad, ctx.has_bias
        wanted = (needs[0], needs[3], needs[4], bias[0] and needs[5], bias[1] and needs[6])
        # dX = dA W_ih, dW_ih = dA^T X, dW_hh = dA^T H_prev, db = sum dA: one product each
        dx, dw_ih, dw_hh, db_ih, db_hh = projection_grads(wanted, dA, dA, x, w_ih, hs[:T])
        dh0 = dh_next if needs[2] else None  # (B, H)
        return dx, None, dh0, dw_ih, dw_hh, db_ih, db_hh, None
