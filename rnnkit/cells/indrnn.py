"""IndRNN (Li et al. 2018, "Independently Recurrent Neural Network"): the cell math.

Each unit has one scalar recurrent weight, so the recurrence is element-wise::

    h_t = relu(W_ih x_t + b + u * h_{t-1})        # W_ih (H, I), u (H,), b (H,)

The input projection of a whole sequence is one matrix multiply (done outside the loop by
autograd); only the element-wise recurrence runs step by step. ``indrnn_step`` is the
reference; ``IndRNNRecurrence`` is its hand-written backward through time.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnkit.cells._bptt import apply_function, save_optional, saved_optional
from rnnkit.cells._step import Pair, add_bias, layer_norm, zoneout


def indrnn_step(
    x_t: Tensor,
    h: Tensor,
    w_ih: Tensor,
    u: Tensor,
    b: Tensor | None,
    *,
    ln_ih: Pair | None = None,
    rec_mask: Tensor | None = None,
    keep_h: Tensor | None = None,
    gates: dict[str, Tensor] | None = None,
) -> Tensor:
    """One reference step: ``relu(x_t @ w_ih.T + b + u * h)``, with the options when given.

    Shapes: x_t (B, I), h (B, H), w_ih (H, I), u (H,), b (H,) or None -> (B, H); the
    leading ``(B,)`` may be any batch shape (``(B, T)`` for every step at once when the
    previous states are known, as the trace has them). Options: ``ln_ih`` (gain, bias)
    (H,) layer-normalises ``x_t W_ih^T`` (the recurrent term ``u * h`` is per unit and
    stays so); ``rec_mask`` (B, H) multiplies ``h`` in ``u * h`` (recurrent dropout);
    ``keep_h`` (B, H) blends zoneout ``k h + (1 - k) h'``. ``gates`` receives ``pre``,
    the pre-activation.
    """
    hr = h if rec_mask is None else h * rec_mask  # variational dropout of h_{t-1}
    pre = add_bias(layer_norm(x_t @ w_ih.t(), ln_ih) + u * hr, b)
    if gates is not None:
        gates.update(pre=pre)
    return zoneout(keep_h, h, torch.relu(pre))


def _keep_weights(mask: Tensor, zoneout_h: Tensor | None) -> Tensor | None:
    """Keep weights of the previous state, (B, T, 1 or H): zoneout at real steps, 1 at
    padding; None without zoneout (the state is then held where ``mask`` is 0)."""
    return None if zoneout_h is None else 1 - mask[..., None] * (1 - zoneout_h)


def indrnn_sequence_reference(
    x: Tensor,
    mask: Tensor,
    h0: Tensor,
    w_ih: Tensor,
    u: Tensor,
    b: Tensor | None,
    *,
    ln_ih: Pair | None = None,
    rec_mask: Tensor | None = None,
    zoneout_h: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Autograd over ``indrnn_step``: x (B, T, I), mask (B, T) 1 at real steps, h0 (B, H).

    Returns output (B, T, H) (zero at padding) and h_n (B, H) (held at padding).
    """
    keep = _keep_weights(mask, zoneout_h)
    h, outs = h0, []
    for t in range(x.shape[1]):
        m = mask[:, t, None]  # (B, 1)
        k = 1 - m if keep is None else keep[:, t]  # keep weight of h_{t-1}: held at padding
        h = indrnn_step(x[:, t], h, w_ih, u, b, ln_ih=ln_ih, rec_mask=rec_mask, keep_h=k)
        outs.append(m * h)
    return torch.stack(outs, 1), h


class IndRNNRecurrence(torch.autograd.Function):
    """The element-wise recurrence with a hand-written BPTT.

    forward(xp (B, T, H) = LN(x W_ih^T) + b, mask (B, T), h0 (B, H), u (H,), rec_mask
    (B, H) or None, keep (B, T, 1 or H) or None) -> (out, h_n). With ``d`` the recurrent
    dropout mask and ``k`` the zoneout keep weights (1 at padding)::

        a_t = xp_t + u d h_{t-1},   h_t = k_t h_{t-1} + (1 - k_t) relu(a_t),   out_t = m_t h_t

    Backward, from ``dh`` the gradient on ``h_t``::

        da_t = dh (1 - k_t) relu'(a_t),   dh_{t-1} = da_t u d + dh k_t,   du = sum da_t d h_{t-1}

    Without zoneout ``k_t = 1 - m_t`` (the state is held at padding), run as a select.
    """

    @staticmethod
    def forward(
        ctx: Any,
        xp: Tensor,
        mask: Tensor,
        h0: Tensor,
        u: Tensor,
        rec_mask: Tensor | None = None,
        keep: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        B, T, H = xp.shape
        out = xp.new_empty(B, T, H)
        pre = xp.new_empty(B, T, H)  # pre-activations, for relu'
        hs = xp.new_empty(B, T, H)  # h_{t-1} of each step, for du
        ud = u if rec_mask is None else u * rec_mask  # (H,) or (B, H): u d
        h = h0
        for t in range(T):
            m = mask[:, t, None]  # (B, 1)
            hs[:, t] = h
            a = xp[:, t] + ud * h  # (B, H)
            pre[:, t] = a
            h_new = a.clamp_min(0)
            if keep is None:
                out[:, t] = m * h_new
                h = torch.where(m > 0, h_new, h)  # hold the state at padding
            else:  # zoneout (and padding): h = k h_prev + (1 - k) h_new
                h = keep[:, t] * h + (1 - keep[:, t]) * h_new
                out[:, t] = m * h
        save_optional(ctx, mask, pre, hs, u, rec_mask, keep)
        return out, h

    @staticmethod
    def backward(ctx: Any, dout: Tensor, dh_n: Tensor) -> tuple[Tensor | None, ...]:
        mask, pre, hs, u, rec_mask, keep = saved_optional(ctx)
        assert mask is not None and pre is not None and hs is not None and u is not None
        T = pre.shape[1]
        ud = u if rec_mask is None else u * rec_mask  # (H,) or (B, H)
        dxp = torch.empty_like(pre)  # d pre-activation at every step
        dh_next = dh_n  # gradient reaching h_t from the future
        for t in reversed(range(T)):
            m = mask[:, t, None]
            dh = dout[:, t] * m + dh_next  # total gradient on h_t (output is zero at padding)
            if keep is None:
                da = dh * m * (pre[:, t] > 0)  # through relu, only at real steps
                dh_next = da * ud + dh * (1 - m)  # to h_{t-1}: recurrence, or held state
            else:
                da = dh * (1 - keep[:, t]) * (pre[:, t] > 0)  # through zoneout and relu
                dh_next = da * ud + dh * keep[:, t]  # recurrence and the kept share
            dxp[:, t] = da
        dropped = hs if rec_mask is None else hs * rec_mask[:, None]  # d h_{t-1}
        du = (dxp * dropped).sum((0, 1))  # (H,)
        return dxp, None, dh_next, du, None, None


def indrnn_sequence(
    x: Tensor,
    mask: Tensor,
    h0: Tensor,
    w_ih: Tensor,
    u: Tensor,
    b: Tensor | None,
    *,
    mode: str = "bptt",
    ln_ih: Pair | None = None,
    rec_mask: Tensor | None = None,
    zoneout_h: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Run one IndRNN layer over ``x`` (B, T, I); ``mode`` is "bptt" or "reference".

    Options (None: off): ``ln_ih`` (gain, bias) (H,), ``rec_mask`` (B, H), ``zoneout_h``
    keep weights broadcastable to (B, T, H) (0/1 in training, ``p`` in evaluation); a
    DropConnect of ``u`` is the caller's (``u`` comes masked). Returns output (B, T, H)
    (zero at padding) and h_n (B, H) (held at padding).
    """
    if mode == "reference":
        return indrnn_sequence_reference(
            x, mask, h0, w_ih, u, b, ln_ih=ln_ih, rec_mask=rec_mask, zoneout_h=zoneout_h
        )
    if mode != "bptt":
        raise ValueError(f"mode must be 'bptt' or 'reference', got {mode!r}")
    xp = add_bias(layer_norm(x @ w_ih.t(), ln_ih), b)  # (B, T, H): every step's input part
    keep = _keep_weights(mask, zoneout_h)
    out: tuple[Tensor, Tensor] = apply_function(IndRNNRecurrence, xp, mask, h0, u, rec_mask, keep)
    return out
