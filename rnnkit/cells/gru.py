r"""The GRU cell: a reference step and its hand-written backpropagation through time.

.. math::

    \begin{aligned}
    r_t &= \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
    z_t &= \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
    n_t &= \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})) \\
    h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}
    \end{aligned}

The parameters have torch.nn.GRU's shapes and gate order (r, z, n): ``w_ih (3H, I)``,
``w_hh (3H, H)``, ``b_ih, b_hh (3H,)`` or ``None``. The reset gate acts on the recurrent
term *after* its bias, as in torch.nn.GRU (and cuDNN).
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


def gru_step(
    x_t: Tensor,
    h: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    *,
    ln_ih: Pair | None = None,
    ln_hh: Pair | None = None,
    rec_mask: Tensor | None = None,
    keep_h: Tensor | None = None,
    gates: dict[str, Tensor] | None = None,
) -> Tensor:
    r"""One GRU step, with the cell options when their arguments are given.

    .. math::

        [r, z] = \sigma(x W_{i,rz}^T + b_{i,rz} + h W_{h,rz}^T + b_{h,rz}), \quad
        n = \tanh(x W_{in}^T + b_{in} + r \odot (h W_{hn}^T + b_{hn})), \quad
        h' = (1 - z) \odot n + z \odot h

    With the options (:mod:`rnnkit.cells.extended`): the two products layer-normalised
    separately before their biases (``ln_ih``, ``ln_hh``), ``h`` times the recurrent-dropout
    mask inside ``W_hh h``, zoneout ``h' = k_h h + (1 - k_h) h'``.

    Args:
        x_t: ``(B, I)`` input at this step.
        h: ``(B, H)`` previous state.
        w_ih, w_hh: ``(3H, I)``, ``(3H, H)``.
        b_ih, b_hh: ``(3H,)`` each, or ``None``.
        ln_ih, ln_hh: ``(gain, bias)`` each ``(3H,)``; rec_mask, keep_h: ``(B, H)``.
        gates: a dict that receives the activations ``r, z, n`` ``(B, H)`` (the trace).

    Returns:
        ``(B, H)`` the new state.
    """
    gi, gh = projections(x_t, h, w_ih, w_hh, ln_ih, ln_hh, rec_mask)  # (B, 3H) each
    gi, gh = add_bias(gi, b_ih), add_bias(gh, b_hh)
    gi_r, gi_z, gi_n = gi.chunk(3, dim=-1)  # each (B, H)
    gh_r, gh_z, gh_n = gh.chunk(3, dim=-1)
    r = torch.sigmoid(gi_r + gh_r)
    z = torch.sigmoid(gi_z + gh_z)
    n = torch.tanh(gi_n + r * gh_n)  # the reset gate scales the recurrent part, bias included
    if gates is not None:
        gates.update(r=r, z=z, n=n)
    return zoneout(keep_h, h, (1 - z) * n + z * h)


def gru_sequence(
    x: Tensor,
    lengths: Tensor,
    h0: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    *,
    mode: str = "reference",
) -> tuple[Tensor, Tensor]:
    """Run the GRU cell forward over right-padded sequences.

    Args:
        x: ``(B, T, I)`` inputs, batch first.
        lengths: ``(B,)`` int64, ``1 <= lengths <= T``, on any device.
        h0: ``(B, H)`` initial state.
        w_ih, w_hh, b_ih, b_hh: torch.nn.GRU parameters of one layer and direction.
        mode: ``"reference"`` (a Python loop over :func:`gru_step`, differentiated by
            autograd) or ``"bptt"`` (:class:`GRUBPTT`, the hand-written backward).

    Returns:
        ``out (B, T, H)``, zero at padded steps, and ``h_n (B, H)``, the state after each
        sequence's last real step.
    """
    check_mode(mode)
    if mode == "bptt":
        out: tuple[Tensor, Tensor] = apply_bptt(GRUBPTT, x, lengths, h0, w_ih, w_hh, b_ih, b_hh)
        return out
    mask = step_mask(lengths, x.shape[1], x.device).t()[..., None]  # (T, B, 1)
    h = h0
    outs = []
    for t in range(x.shape[1]):
        h_new = gru_step(x[:, t], h, w_ih, w_hh, b_ih, b_hh)  # (B, H)
        h = torch.where(mask[t], h_new, h)  # held at padded steps
        outs.append(h_new.masked_fill(~mask[t], 0.0))  # zero at padded steps
    return torch.stack(outs, dim=1), h


class GRUBPTT(torch.autograd.Function):
    r"""GRU forward over a padded batch with a hand-written backward through time.

    Forward: the input projection of all steps in one matrix product, then the recurrence,
    saving the activations r, z, n and the recurrent candidate term
    :math:`\hat n_t = W_{hn} h_{t-1} + b_{hn}` that the reset gate multiplies. Backward,
    carrying ``dh_next`` from ``T`` down to ``0`` (:math:`m_t` the mask of real steps):

    .. math::

        \begin{aligned}
        \delta h &= m_t(\delta\mathrm{out}_t + \delta h_{next}) \\
        \delta a_n &= \delta h \odot (1 - z) \odot (1 - n^2), \quad
        \delta \hat n = \delta a_n \odot r \\
        \delta a_r &= \delta a_n \odot \hat n \odot r(1-r), \quad
        \delta a_z = \delta h \odot (h_{t-1} - n) \odot z(1-z) \\
        \delta h_{t-1} &= m_t(\delta G_h W_{hh} + \delta h \odot z) + (1-m_t)\, \delta h_{next}
        \end{aligned}

    with :math:`\delta G_i = [\delta a_r, \delta a_z, \delta a_n]` the gradient of the input
    projection and :math:`\delta G_h = [\delta a_r, \delta a_z, \delta \hat n]` that of the
    recurrent one. The weight gradients are one matrix product over all ``T * B`` rows:
    :math:`\delta W_{ih} = \delta G_i^T X`, :math:`\delta W_{hh} = \delta G_h^T H_{prev}`,
    :math:`\delta b_{ih} = \sum \delta G_i`, :math:`\delta b_{hh} = \sum \delta G_h`,
    :math:`\delta X = \delta G_i W_{ih}`.

    Inputs and outputs as :func:`gru_sequence`. Internal buffers are time-major.
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
    ) -> tuple[Tensor, Tensor]:
        B, T, I = x.shape
        H = w_hh.shape[1]
        mask = step_mask(lengths, T, x.device).t()[..., None]  # (T, B, 1)
        t_full = first_padded_step(lengths)  # steps t < t_full are real for every sequence
        gi = input_projection(x, w_ih, b_ih)  # (T, B, 3H): every step's input part
        # gi becomes the activations r, z, n in place
        w_hh_t = w_hh.t()  # (H, 3H)
        hs = x.new_empty(T + 1, B, H)  # hs[t] = h_{t-1}: the state entering step t
        n_hat = x.new_empty(T, B, H)  # W_hn h_{t-1} + b_hn, what the reset gate scales
        hs[0] = h0
        for t in range(T):
            gh = hs[t] @ w_hh_t if b_hh is None else torch.addmm(b_hh, hs[t], w_hh_t)  # (B, 3H)
            a = gi[t]  # (B, 3H)
            a[:, : 2 * H].add_(gh[:, : 2 * H]).sigmoid_()  # r, z
            r, z, n = a.chunk(3, dim=1)  # each (B, H)
            nh = n_hat[t].copy_(gh[:, 2 * H :])  # n_hat = W_hn h + b_hn
            n.addcmul_(r, nh).tanh_()  # n = tanh(W_in x + b_in + r * n_hat)
            h = torch.sub(hs[t], n, out=hs[t + 1]).mul_(z).add_(n)  # h = n + z * (h_prev - n)
            if t >= t_full:  # padded rows hold the previous state
                torch.where(mask[t], h, hs[t], out=hs[t + 1])
        out = hs[1:] if t_full == T else hs[1:].masked_fill(~mask, 0.0)  # (T, B, H)
        ctx.save_for_backward(x, w_ih, w_hh, gi, n_hat, hs, mask)
        ctx.t_full = t_full
        ctx.has_bias = (b_ih is not None, b_hh is not None)
        return out.transpose(0, 1).contiguous(), hs[T].clone()

    @staticmethod
    @once_differentiable
    @autocast_off
    def backward(ctx: Any, dout: Tensor, dh_n: Tensor) -> tuple[Tensor | None, ...]:
        x, w_ih, w_hh, acts, n_hat, hs, mask = ctx.saved_tensors
        B, T, I = x.shape
        H = hs.shape[2]
        dout = dout.transpose(0, 1)  # (T, B, H) time-major view
        dGi = acts.new_empty(T, B, 3 * H)  # dL/d(input projection): dar, daz, dan
        dGh = acts.new_empty(T, B, 3 * H)  # dL/d(recurrent projection): dar, daz, dn_hat
        # The local derivatives of every step at once, outside the loop:
        r_all, z_all, n_all = acts.chunk(3, dim=2)  # (T, B, H) activations
        dan_dh = (1 - z_all) * (1 - n_all * n_all)  # dan/dh = (1-z) * (1-n^2)
        dar_dan = n_hat * r_all * (1 - r_all)  # dar/dan = n_hat * r(1-r)
        daz_dh = (hs[:T] - n_all) * z_all * (1 - z_all)  # daz/dh = (h_prev - n) * z(1-z)
        dh_next = dh_n  # dL/dh_t carried from the future; starts at the final state
        for t in reversed(range(T)):
            r, z, _ = acts[t].chunk(3, dim=1)  # (B, H) activations
            dar, daz, dnh = dGh[t].chunk(3, dim=1)  # (B, H) views to fill
            dan = dGi[t, :, 2 * H :]  # (B, H)
            masked = t >= ctx.t_full
            dh = dout[t] + dh_next  # dh = dout + dh_next
            if masked:
                dh.masked_fill_(~mask[t], 0.0)  # padded rows: the new state was not used
            torch.mul(dh, dan_dh[t], out=dan)  # dan = dh * (1-z) * (1-n^2)
            torch.mul(dan, dar_dan[t], out=dar)  # dar = dan * n_hat * r(1-r)
            torch.mul(dh, daz_dh[t], out=daz)  # daz = dh * (h_prev-n) * z(1-z)
            torch.mul(dan, r, out=dnh)  # dn_hat = dan * r
            dh_prev = torch.addmm(dh * z, dGh[t], w_hh)  # dh_prev = dGh W_hh + dh * z
            if masked:  # held rows pass the carried gradient through
                dh_prev = torch.where(mask[t], dh_prev, dh_next)
            dh_next = dh_prev
        dGi[..., : 2 * H] = dGh[..., : 2 * H]  # r and z see the sum of both projections
        needs, bias = ctx.needs_input_grad, ctx.has_bias
        wanted = (needs[0], needs[3], needs[4], bias[0] and needs[5], bias[1] and needs[6])
        # dX = dGi W_ih, dW_ih = dGi^T X, dW_hh = dGh^T H_prev, db_ih = sum dGi, db_hh = sum dGh
        dx, dw_ih, dw_hh, db_ih, db_hh = projection_grads(wanted, dGi, dGh, x, w_ih, hs[:T])
        dh0 = dh_next if needs[2] else None  # (B, H)
        return dx, None, dh0, dw_ih, dw_hh, db_ih, db_hh
