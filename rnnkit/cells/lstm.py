r"""The LSTM cell (with optional projection): a reference step and its hand-written BPTT.

.. math::

    \begin{aligned}
    i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) \\
    f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) \\
    g_t &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\
    o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) \\
    c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
    h_t &= W_{hr} (o_t \odot \tanh(c_t)) \quad (W_{hr} = I \text{ without projection})
    \end{aligned}

The parameters have torch.nn.LSTM's shapes and gate order (i, f, g, o): ``w_ih (4H, I)``,
``w_hh (4H, H_out)``, ``b_ih, b_hh (4H,)`` or ``None``, ``w_hr (H_out, H)`` or ``None``
(``H_out = H`` without projection).
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
    present,
    projection_grads,
    save_optional,
    saved_optional,
)
from rnnkit.cells._step import Pair, add_bias, layer_norm, projections, zoneout
from rnnkit.cells.padded import first_padded_step, step_mask


def lstm_step(
    x_t: Tensor,
    h: Tensor,
    c: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    w_hr: Tensor | None = None,
    *,
    ln_ih: Pair | None = None,
    ln_hh: Pair | None = None,
    ln_c: Pair | None = None,
    peephole: tuple[Tensor, Tensor, Tensor] | None = None,
    rec_mask: Tensor | None = None,
    keep_h: Tensor | None = None,
    keep_c: Tensor | None = None,
    gates: dict[str, Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    r"""One LSTM step, with the cell options when their arguments are given.

    .. math::

        [i, f, g, o] = [\sigma, \sigma, \tanh, \sigma](x W_{ih}^T + b_{ih} + h W_{hh}^T + b_{hh}),
        \quad c' = f \odot c + i \odot g, \quad h' = (o \odot \tanh c') W_{hr}^T

    With the options (:mod:`rnnkit.cells.extended`): the two products layer-normalised
    separately (``ln_ih``, ``ln_hh``) and ``c'`` before its ``tanh`` (``ln_c``); peepholes
    ``i, f`` on ``c``, ``o`` on ``c'``; ``h`` times the recurrent-dropout mask inside
    ``W_hh h``; zoneout ``h' = k_h h + (1 - k_h) h'`` (and ``c'``).

    Args:
        x_t: ``(B, I)`` input at this step.
        h: ``(B, H_out)`` previous hidden state.
        c: ``(B, H)`` previous cell state.
        w_ih, w_hh, b_ih, b_hh, w_hr: ``(4H, I)``, ``(4H, H_out)``, ``(4H,)`` or ``None``,
            ``(4H,)`` or ``None``, ``(H_out, H)`` or ``None``.
        ln_ih, ln_hh: ``(gain, bias)`` each ``(4H,)``; ln_c: each ``(H,)``.
        peephole: ``(w_ci, w_cf, w_co)`` each ``(H,)``.
        rec_mask: ``(B, H_out)``; keep_h ``(B, H_out)``, keep_c ``(B, H)`` zoneout weights.
        gates: a dict that receives the activations ``i, f, g, o`` ``(B, H)`` (the trace).

    Returns:
        ``h_new (B, H_out)`` and ``c_new (B, H)``.
    """
    xa, ha = projections(x_t, h, w_ih, w_hh, ln_ih, ln_hh, rec_mask)  # (B, 4H) each
    a = add_bias(xa + ha, b_ih, b_hh)  # (B, 4H) pre-activations
    ai, af, ag, ao = a.chunk(4, dim=-1)  # each (B, H)
    if peephole is not None:  # i and f peek at c_{t-1}
        ai, af = ai + peephole[0] * c, af + peephole[1] * c
    i, f, g = torch.sigmoid(ai), torch.sigmoid(af), torch.tanh(ag)
    c_new = f * c + i * g  # (B, H)
    o = torch.sigmoid(ao if peephole is None else ao + peephole[2] * c_new)  # o peeks at c'
    h_new = o * torch.tanh(layer_norm(c_new, ln_c))  # (B, H)
    if w_hr is not None:
        h_new = h_new @ w_hr.t()  # (B, H_out)
    if gates is not None:
        gates.update(i=i, f=f, g=g, o=o)
    return zoneout(keep_h, h, h_new), zoneout(keep_c, c, c_new)


def lstm_sequence(
    x: Tensor,
    lengths: Tensor,
    h0: Tensor,
    c0: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    w_hr: Tensor | None = None,
    *,
    mode: str = "reference",
) -> tuple[Tensor, Tensor, Tensor]:
    """Run the LSTM cell forward over right-padded sequences.

    Args:
        x: ``(B, T, I)`` inputs, batch first.
        lengths: ``(B,)`` int64, ``1 <= lengths <= T``, on any device.
        h0: ``(B, H_out)`` initial hidden state.
        c0: ``(B, H)`` initial cell state.
        w_ih, w_hh, b_ih, b_hh, w_hr: torch.nn.LSTM parameters of one layer and direction.
        mode: ``"reference"`` (a Python loop over :func:`lstm_step`, differentiated by
            autograd) or ``"bptt"`` (:class:`LSTMBPTT`, the hand-written backward).

    Returns:
        ``out (B, T, H_out)``, zero at padded steps, ``h_n (B, H_out)`` and ``c_n (B, H)``,
        the states after each sequence's last real step.
    """
    check_mode(mode)
    if mode == "bptt":
        out: tuple[Tensor, Tensor, Tensor] = apply_bptt(
            LSTMBPTT, x, lengths, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr
        )
        return out
    mask = step_mask(lengths, x.shape[1], x.device).t()[..., None]  # (T, B, 1)
    h, c = h0, c0
    outs = []
    for t in range(x.shape[1]):
        h_new, c_new = lstm_step(x[:, t], h, c, w_ih, w_hh, b_ih, b_hh, w_hr)
        h = torch.where(mask[t], h_new, h)  # held at padded steps
        c = torch.where(mask[t], c_new, c)
        outs.append(h_new.masked_fill(~mask[t], 0.0))  # zero at padded steps
    return torch.stack(outs, dim=1), h, c


class LSTMBPTT(torch.autograd.Function):
    r"""LSTM forward over a padded batch with a hand-written backward through time.

    Forward: the input projection of all steps in one matrix product, then the recurrence,
    saving the gate activations, the states and :math:`\tanh(c_t)`. Backward, carrying
    ``dh_next`` and ``dc_next`` from ``T`` down to ``0`` (:math:`m_t` the mask of real steps):

    .. math::

        \begin{aligned}
        \delta h &= m_t(\delta\mathrm{out}_t + \delta h_{next}), \quad
        \delta \tilde h = \delta h\, W_{hr} \\
        \delta c &= m_t(\delta \tilde h \odot o \odot (1 - \tanh^2 c_t) + \delta c_{next}) \\
        \delta a_o &= \delta \tilde h \odot \tanh c_t \odot o(1-o), \quad
        \delta a_i = \delta c \odot g \odot i(1-i) \\
        \delta a_f &= \delta c \odot c_{t-1} \odot f(1-f), \quad
        \delta a_g = \delta c \odot i \odot (1-g^2) \\
        \delta c_{t-1} &= m_t\, \delta c \odot f + (1-m_t)\, \delta c_{next}, \quad
        \delta h_{t-1} = m_t\, \delta a\, W_{hh} + (1-m_t)\, \delta h_{next}
        \end{aligned}

    The weight gradients are one matrix product over all ``T * B`` rows:
    :math:`\delta W_{hh} = \delta A^T H_{prev}`, :math:`\delta W_{ih} = \delta A^T X`,
    :math:`\delta W_{hr} = \delta H^T \tilde H`, :math:`\delta b = \sum \delta A`,
    :math:`\delta X = \delta A\, W_{ih}`.

    Inputs and outputs as :func:`lstm_sequence`. Internal buffers are time-major.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        lengths: Tensor,
        h0: Tensor,
        c0: Tensor,
        w_ih: Tensor,
        w_hh: Tensor,
        b_ih: Tensor | None,
        b_hh: Tensor | None,
        w_hr: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        B, T, I = x.shape
        H, H_out = c0.shape[1], w_hh.shape[1]
        mask = step_mask(lengths, T, x.device).t()[..., None]  # (T, B, 1)
        t_full = first_padded_step(lengths)  # steps t < t_full are real for every sequence
        gates = input_projection(x, w_ih, b_ih, b_hh)  # (T, B, 4H): every step's input part
        # gates becomes the activations i, f, g, o in place
        w_hh_t = w_hh.t()  # (H_out, 4H)
        hs = x.new_empty(T + 1, B, H_out)  # hs[t] = h_{t-1}: the state entering step t
        cs = x.new_empty(T + 1, B, H)  # cs[t] = c_{t-1}
        tcs = x.new_empty(T, B, H)  # tanh(c_t) of the new cell state
        hcs = x.new_empty(T, B, H) if w_hr is not None else x.new_empty(0)  # h~ = o tanh(c_t)
        hs[0], cs[0] = h0, c0
        for t in range(T):
            a = gates[t].addmm_(hs[t], w_hh_t)  # (B, 4H) pre-activations
            a[:, : 2 * H].sigmoid_()  # i, f
            a[:, 2 * H : 3 * H].tanh_()  # g
            a[:, 3 * H :].sigmoid_()  # o
            i, f, g, o = a.chunk(4, dim=1)  # each (B, H)
            c = torch.mul(f, cs[t], out=cs[t + 1]).addcmul_(i, g)  # c = f * c_prev + i * g
            tc = torch.tanh(c, out=tcs[t])  # tanh(c)
            if w_hr is None:
                torch.mul(o, tc, out=hs[t + 1])  # h = o * tanh(c)
            else:
                hc = torch.mul(o, tc, out=hcs[t])  # h~ = o * tanh(c)  (B, H)
                torch.mm(hc, w_hr.t(), out=hs[t + 1])  # h = h~ W_hr^T  (B, H_out)
            if t >= t_full:  # padded rows hold the previous state
                torch.where(mask[t], hs[t + 1], hs[t], out=hs[t + 1])
                torch.where(mask[t], cs[t + 1], cs[t], out=cs[t + 1])
        out = hs[1:] if t_full == T else hs[1:].masked_fill(~mask, 0.0)  # (T, B, H_out)
        save_optional(ctx, x, w_ih, w_hh, w_hr, gates, hs, cs, tcs, hcs, mask)
        ctx.t_full = t_full
        ctx.has_bias = (b_ih is not None, b_hh is not None)
        return out.transpose(0, 1).contiguous(), hs[T].clone(), cs[T].clone()

    @staticmethod
    @once_differentiable
    @autocast_off
    def backward(ctx: Any, dout: Tensor, dh_n: Tensor, dc_n: Tensor) -> tuple[Tensor | None, ...]:
        saved = saved_optional(ctx)
        w_hr = saved[3]  # (H_out, H) or None
        x, w_ih, w_hh, gates, hs, cs, tcs, hcs, mask = present(saved[:3] + saved[4:])
        B, T, I = x.shape
        H, H_out = cs.shape[2], hs.shape[2]
        dout = dout.transpose(0, 1)  # (T, B, H_out) time-major view
        dA = gates.new_empty(T, B, 4 * H)  # dA[t] = dL/d(gate pre-activations at t)
        dHs = hs.new_empty(T, B, H_out) if w_hr is not None else hs.new_empty(0)  # for dW_hr
        # The local derivatives of every step at once, outside the loop:
        dact = gates * (1 - gates)  # sigmoid' = s(1-s) for i, f, o  (T, B, 4H)
        g_all, o_all = gates[..., 2 * H : 3 * H], gates[..., 3 * H :]  # (T, B, H)
        torch.mul(g_all, g_all, out=dact[..., 2 * H : 3 * H]).neg_().add_(1)  # tanh' = 1 - g^2
        dc_dhc = o_all * (1 - tcs * tcs)  # dc/dh~ = o * (1 - tanh(c)^2)  (T, B, H)
        dh_next, dc_next = dh_n, dc_n  # carried from the future; start at the final states
        for t in reversed(range(T)):
            i, f, g, o = gates[t].chunk(4, dim=1)  # (B, H) activations
            di, df, dg, do = dA[t].chunk(4, dim=1)  # (B, H) views to fill
            masked = t >= ctx.t_full
            dh = dout[t] + dh_next  # dh = dout + dh_next  (B, H_out)
            if masked:
                dh.masked_fill_(~mask[t], 0.0)  # padded rows: the new state was not used
            if w_hr is None:
                dhc = dh  # dh~ = dh  (B, H)
            else:
                dHs[t] = dh
                dhc = dh @ w_hr  # dh~ = dh W_hr  (B, H)
            dc = torch.addcmul(dc_next, dhc, dc_dhc[t])  # dc = dh~ * o * (1-tanh(c)^2) + dc_next
            if masked:
                dc.masked_fill_(~mask[t], 0.0)  # padded rows: dc_next goes to the held state
            torch.mul(dhc, tcs[t], out=do)  # do = dh~ * tanh(c)
            torch.mul(dc, g, out=di)  # di = dc * g
            torch.mul(dc, cs[t], out=df)  # df = dc * c_prev
            torch.mul(dc, i, out=dg)  # dg = dc * i
            dA[t].mul_(dact[t])  # through the gate nonlinearities: da = d(gate) * gate'
            dh_prev = dA[t] @ w_hh  # dh_prev = da W_hh  (B, H_out)
            dc_prev = dc * f  # dc_prev = dc * f
            if masked:  # held rows pass the carried gradients through
                dh_prev = torch.where(mask[t], dh_prev, dh_next)
                dc_prev = torch.where(mask[t], dc_prev, dc_next)
            dh_next, dc_next = dh_prev, dc_prev
        needs, bias = ctx.needs_input_grad, ctx.has_bias
        wanted = (needs[0], needs[4], needs[5], bias[0] and needs[6], bias[1] and needs[7])
        # dX = dA W_ih, dW_ih = dA^T X, dW_hh = dA^T H_prev, db = sum dA: one product each
        dx, dw_ih, dw_hh, db_ih, db_hh = projection_grads(wanted, dA, dA, x, w_ih, hs[:T])
        dh0 = dh_next if needs[2] else None  # (B, H_out)
        dc0 = dc_next if needs[3] else None  # (B, H)
        dw_hr = None
        if w_hr is not None and needs[8]:
            dw_hr = dHs.view(T * B, H_out).t() @ hcs.view(T * B, H)  # dW_hr = dH^T H~  (H_out, H)
        return dx, None, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr
