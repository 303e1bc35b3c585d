r"""Options on the classic cells: layer norm, peepholes, recurrent dropout, zoneout.

One step of an LSTM, GRU or Elman cell with any combination of (torch.nn parameter shapes,
gate orders LSTM i,f,g,o and GRU r,z,n; ``G`` = 4H, 3H or H gate rows):

* ``layer_norm`` (Ba et al. 2016): the input and the recurrent pre-activations are
  normalised *separately* over their ``G`` rows, each with its own gain and bias, and for
  the LSTM the cell state is normalised before the output ``tanh``::

      a_t = LN(W_ih x_t; g_ih, b_ih') + LN(W_hh h_{t-1}; g_hh, b_hh') + b_ih + b_hh
      h_t = o_t * tanh(LN(c_t; g_c, b_c))

* ``peephole`` (LSTM, Gers & Schmidhuber 2000): diagonal weights let the gates see the
  cell: ``i = sigmoid(a_i + w_ci * c_{t-1})``, ``f = sigmoid(a_f + w_cf * c_{t-1})``,
  ``o = sigmoid(a_o + w_co * c_t)``.
* ``recurrent_dropout`` (variational, Gal & Ghahramani 2016): ``W_hh (h_{t-1} * d)`` with
  one mask ``d`` (B, H) per sequence, reused at every step; the carried state is untouched.
* ``zoneout`` (Krueger et al. 2017): ``h_t = k_t * h_{t-1} + (1 - k_t) * h~_t`` (and the
  same for ``c``), with ``k_t`` a fresh 0/1 keep mask per step in training and ``k_t = p``
  (the expectation) in evaluation.
* ``weight_drop`` (DropConnect, Merity et al. 2018) is a mask on ``W_hh`` drawn once per
  forward pass; it is applied by the caller (the weights passed here are already masked).

The masks are *inputs* here (``rnnkit.layers.options`` samples them), so every option is
a deterministic function of its inputs: the hand-written BPTT (:class:`ExtendedRecurrence`)
can be gradchecked with fixed masks, and equals autograd over the plain step.

Masking by ``lengths`` and zoneout are one operation: with ``m_t`` the real-step mask, the
state update is ``s_t = k'_t s_{t-1} + (1 - k'_t) s~_t`` with ``k'_t = 1 - m_t (1 - k_t)``,
and the output is ``m_t h_t`` (zero at padding).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnkit.cells._bptt import save_optional, saved_optional
from rnnkit.cells.padded import full_lengths, step_mask

KINDS = ("lstm", "gru", "rnn")
EPS = 1e-5  # layer-norm epsilon (as torch.nn.LayerNorm)

Pair = tuple[Tensor, Tensor]


def _gate_rows(kind: str, hidden: int) -> int:
    return {"lstm": 4, "gru": 3, "rnn": 1}[kind] * hidden


def _ln(a: Tensor, ln: Pair | None) -> Tensor:
    return a if ln is None else F.layer_norm(a, a.shape[-1:], ln[0], ln[1], EPS)


# ----------------------------------------------------------------------------- reference


def extended_step(
    kind: str,
    x_t: Tensor,
    h: Tensor,
    c: Tensor | None,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    *,
    ln_ih: Pair | None = None,
    ln_hh: Pair | None = None,
    ln_c: Pair | None = None,
    peephole: tuple[Tensor, Tensor, Tensor] | None = None,
    rec_mask: Tensor | None = None,
    keep_h: Tensor | None = None,
    keep_c: Tensor | None = None,
    nonlinearity: str = "tanh",
    w_hr: Tensor | None = None,
    gates: dict[str, Tensor] | None = None,
) -> tuple[Tensor, Tensor | None]:
    """One reference step of ``kind`` ("lstm", "gru", "rnn") with options (module docstring).

    Shapes: x_t (B, I); h (B, H_out), c (B, H) (c None unless LSTM); w_ih (G, I); w_hh
    (G, H_out); b_ih, b_hh (G,) or None; ln_* (gain, bias) of (G,) (ln_c: (H,)); peephole
    (w_ci, w_cf, w_co) each (H,); rec_mask (B, H_out); keep_h (B, H_out), keep_c (B, H)
    zoneout weights of the previous state; w_hr (H_out, H) the LSTM projection
    ``h = W_hr (o * tanh(c))`` (H_out = H without it). Returns ``(h_t, c_t)`` (c_t None
    unless LSTM). When ``gates`` is a dict it receives the step's gate activations
    (LSTM ``i, f, g, o``; GRU ``r, z, n``; Elman ``pre``, the pre-activation), each (B, H).
    """
    hr = h if rec_mask is None else h * rec_mask  # variational dropout on h_{t-1}
    xa = _ln(x_t @ w_ih.t(), ln_ih)  # (B, G)
    ha = _ln(hr @ w_hh.t(), ln_hh)  # (B, G)
    if b_ih is not None:
        xa = xa + b_ih
    if kind == "gru":
        if b_hh is not None:
            ha = ha + b_hh
        xr, xz, xn = xa.chunk(3, 1)
        hr_, hz, hn = ha.chunk(3, 1)
        r, z = torch.sigmoid(xr + hr_), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        h_new, c_new = (1 - z) * n + z * h, None
        found = {"r": r, "z": z, "n": n}
    else:
        a = xa + ha if b_hh is None else xa + ha + b_hh
        if kind == "rnn":
            h_new, c_new = (torch.tanh(a) if nonlinearity == "tanh" else torch.relu(a)), None
            found = {"pre": a}
        else:
            ai, af, ag, ao = a.chunk(4, 1)
            if peephole is not None:
                ai, af = ai + peephole[0] * c, af + peephole[1] * c
            i, f, g = torch.sigmoid(ai), torch.sigmoid(af), torch.tanh(ag)
            c_new = f * c + i * g
            o = torch.sigmoid(ao if peephole is None else ao + peephole[2] * c_new)
            h_new = o * torch.tanh(_ln(c_new, ln_c))
            if w_hr is not None:
                h_new = h_new @ w_hr.t()  # (B, H_out)
            found = {"i": i, "f": f, "g": g, "o": o}
    if gates is not None:
        gates.update(found)
    if keep_h is not None:  # zoneout: keep a random part of the previous state
        h_new = keep_h * h + (1 - keep_h) * h_new
    if c_new is not None and keep_c is not None:
        c_new = keep_c * c + (1 - keep_c) * c_new
    return h_new, c_new


def extended_sequence(
    kind: str,
    x: Tensor,
    lengths: Tensor | None,
    h0: Tensor,
    c0: Tensor | None,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    *,
    ln_ih: Pair | None = None,
    ln_hh: Pair | None = None,
    ln_c: Pair | None = None,
    peephole: tuple[Tensor, Tensor, Tensor] | None = None,
    rec_mask: Tensor | None = None,
    zoneout_h: Tensor | None = None,
    zoneout_c: Tensor | None = None,
    nonlinearity: str = "tanh",
    w_hr: Tensor | None = None,
    mode: str = "bptt",
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Run one layer and direction of an extended cell over right-padded x (B, T, I).

    ``zoneout_h``, ``zoneout_c`` are the keep weights of every step, broadcastable to
    (B, T, H) (0/1 samples in training, ``p`` in evaluation); the other options as in
    :func:`extended_step`. ``mode`` is "reference" (autograd over the step) or "bptt"
    (:class:`ExtendedRecurrence`; no projection ``w_hr``: the reference runs it).
    Returns ``out (B, T, H_out)`` (zero at padding), ``h_n (B, H_out)`` and ``c_n (B, H)``
    (None unless LSTM), held after the last real step.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if (kind == "lstm") != (c0 is not None):
        raise ValueError("c0 is required for the LSTM and only for it")
    if peephole is not None and kind != "lstm":
        raise ValueError("peephole applies to LSTM only")
    if ln_c is not None and kind != "lstm":
        raise ValueError("ln_c (cell-state layer norm) applies to LSTM only")
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    if w_hr is not None and (kind != "lstm" or mode == "bptt"):
        raise ValueError("w_hr (projection) applies to the LSTM, in mode='reference'")
    B, T, _ = x.shape
    H = h0.shape[1]
    m = step_mask(full_lengths(x, lengths), T, x.device)[..., None].to(x.dtype)  # (B, T, 1)
    # keep weight of the previous state: zoneout at real steps, 1 (hold) at padding
    keep_h = 1 - m if zoneout_h is None else 1 - m * (1 - zoneout_h.expand(B, T, H))
    keep_c = None
    if kind == "lstm":
        Hc = c0.shape[1]
        keep_c = 1 - m if zoneout_c is None else 1 - m * (1 - zoneout_c.expand(B, T, Hc))
    if mode == "reference":
        h, c, outs = h0, c0, []
        for t in range(T):
            kc = keep_c[:, t] if keep_c is not None else None
            h, c = extended_step(
                kind, x[:, t], h, c, w_ih, w_hh, b_ih, b_hh, ln_ih=ln_ih, ln_hh=ln_hh,
                ln_c=ln_c, peephole=peephole, rec_mask=rec_mask,
                keep_h=keep_h[:, t].expand(B, H), keep_c=None if kc is None else kc.expand(B, Hc),
                nonlinearity=nonlinearity, w_hr=w_hr,
            )  # fmt: skip
            outs.append(m[:, t] * h)
        return torch.stack(outs, 1), h, c
    if mode != "bptt":
        raise ValueError(f"mode must be 'reference' or 'bptt', got {mode!r}")
    xg = _ln(x @ w_ih.t(), ln_ih)  # (B, T, G): the input part of every step at once
    if b_ih is not None:
        xg = xg + b_ih
    if kind != "gru" and b_hh is not None:
        xg = xg + b_hh  # outside the reset gate, b_hh is just another bias
        b_hh = None
    tm = lambda t: None if t is None else t.transpose(0, 1).expand(T, B, H).contiguous()  # noqa: E731
    ln_g, ln_b = ln_hh if ln_hh is not None else (None, None)
    lnc_g, lnc_b = ln_c if ln_c is not None else (None, None)
    w_ci, w_cf, w_co = peephole if peephole is not None else (None, None, None)
    out, h_n, c_n = ExtendedRecurrence.apply(
        kind, nonlinearity, xg.transpose(0, 1).contiguous(), tm(m), tm(keep_h), tm(keep_c),
        h0, c0, w_hh, b_hh, ln_g, ln_b, lnc_g, lnc_b, w_ci, w_cf, w_co, rec_mask,
    )  # fmt: skip
    return out.transpose(0, 1), h_n, (c_n if kind == "lstm" else None)


def extended_trace(
    kind: str,
    x: Tensor,
    h: Tensor,
    h0: Tensor,
    c0: Tensor | None,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    *,
    nonlinearity: str = "tanh",
    w_hr: Tensor | None = None,
    zoneout_h: Tensor | None = None,
    zoneout_c: Tensor | None = None,
    **options: object,
) -> tuple[Tensor | None, dict[str, Tensor]]:
    """The cell states and gates of a run, from its inputs ``x`` (B, T, I) and hidden states
    ``h`` (B, T, H_out) (the outputs, so ``h_{t-1}`` is known at every real step), by
    :func:`extended_step` with ``gates``: the same math that ran, no second copy.

    ``options``: ``ln_ih, ln_hh, ln_c, peephole, rec_mask`` as :func:`extended_step`, and
    the zoneout keep weights of the run (broadcastable to (B, T, H)). Returns ``c``
    (B, T, H) (None unless LSTM) and name -> (B, T, H) gate activations; values at padded
    steps are meaningless (the caller zeroes them).
    """
    B, T, _ = x.shape
    h_prev = torch.cat([h0[:, None], h[:, :-1]], 1)  # (B, T, H_out)
    c, cs, steps = c0, [], []
    for t in range(T):
        kh = None if zoneout_h is None else zoneout_h.expand(B, T, h.shape[2])[:, t]
        kc = None if zoneout_c is None else zoneout_c.expand(B, T, c0.shape[1])[:, t]
        found: dict[str, Tensor] = {}
        _, c = extended_step(
            kind, x[:, t], h_prev[:, t], c, w_ih, w_hh, b_ih, b_hh, keep_h=kh, keep_c=kc,
            nonlinearity=nonlinearity, w_hr=w_hr, gates=found, **options,
        )  # fmt: skip
        cs.append(c)
        steps.append(found)
    gates = {name: torch.stack([g[name] for g in steps], 1) for name in steps[0]}
    return (None if c0 is None else torch.stack(cs, 1)), gates


# ----------------------------------------------------------------------------- BPTT


def _ln_scaled(a: Tensor, gain: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Layer norm of ``a`` (B, N) without its bias: returns (gain * a_hat, mean, rstd)."""
    return torch.native_layer_norm(a, a.shape[-1:], gain, None, EPS)


def _ln_back(dy: Tensor, a: Tensor, mean: Tensor, rstd: Tensor, gain: Tensor) -> Tensor:
    """d a of layer norm: rstd * (dy_hat - mean(dy_hat) - a_hat * mean(dy_hat * a_hat))."""
    return torch.ops.aten.native_layer_norm_backward(
        dy, a, a.shape[-1:], mean, rstd, gain, None, [True, False, False]
    )[0]


class ExtendedRecurrence(torch.autograd.Function):
    """The recurrence of an extended cell with a hand-written backward through time.

    The input part ``xg = LN(x W_ih^T) + biases`` (T, B, G) is computed outside (autograd
    handles it: it is parallel over time); this Function runs the recurrence from it, with
    time-major buffers. Every factor of the backward that does not depend on the carried
    gradient (``i (1 - i) g``, ``o (1 - tanh^2)`` ...) is computed for all steps at once
    after the forward loop, so the backward loop is a short chain of fused ops per step.

    Inputs: kind, nonlinearity, xg (T, B, G), m (T, B, H) real-step mask, keep_h / keep_c
    (T, B, H) previous-state weights (zoneout and padding), h0, c0 (B, H), w_hh (G, H), b_hh
    (G,) (GRU only, else None), ln_hh gain/bias (G,), ln_c gain/bias (H,), peepholes w_ci,
    w_cf, w_co (H,), rec_mask (B, H); absent options are None. Returns out (T, B, H), h_n
    and c_n (B, H) (c_n is zeros for non-LSTM cells).
    """

    @staticmethod
    def forward(
        ctx, kind, nonlin, xg, m, keep_h, keep_c, h0, c0, w_hh, b_hh,
        ln_g, ln_b, lnc_g, lnc_b, w_ci, w_cf, w_co, rec_mask,
    ):  # fmt: skip
        T, B, G = xg.shape
        H = h0.shape[1]
        hs = xg.new_empty(T + 1, B, H)  # hs[t] = h_{t-1}: the state entering step t
        hs[0] = h0
        acts = xg.clone()  # pre-activations, made the gate activations in place
        ln_in = xg.new_empty(T, B, G) if ln_g is not None else None  # W_hh h_r, LN's input
        ln_mean = xg.new_empty(T, B, 1) if ln_g is not None else None
        ln_rstd = xg.new_empty(T, B, 1) if ln_g is not None else None
        ghn = xg.new_empty(T, B, H) if kind == "gru" else None  # GRU: LN(W_hn h) + b_hn
        cs = c_new = tcs = c_mean = c_rstd = None
        if kind == "lstm":
            cs = xg.new_empty(T + 1, B, H)  # cs[t] = c_{t-1}
            cs[0] = c0
            c_new = xg.new_empty(T, B, H)  # c~_t, before zoneout and padding
            tcs = xg.new_empty(T, B, H)  # tanh(LN(c~_t))
            if lnc_g is not None:
                c_mean, c_rstd = xg.new_empty(T, B, 1), xg.new_empty(T, B, 1)
        w_hh_t = w_hh.t()  # (H, G)
        for t in range(T):
            hr = hs[t] if rec_mask is None else hs[t] * rec_mask  # dropped recurrent input
            pre = acts[t]  # (B, G) view, holds xg[t]
            if ln_g is None:
                a = pre.addmm_(hr, w_hh_t) if kind != "gru" else torch.mm(hr, w_hh_t)
            else:
                torch.mm(hr, w_hh_t, out=ln_in[t])
                a, ln_mean[t], ln_rstd[t] = _ln_scaled(ln_in[t], ln_g)
                a = a + ln_b
                if kind != "gru":
                    a = pre.add_(a)
            if kind == "lstm":
                if w_ci is not None:  # i and f peek at c_{t-1}
                    pre[:, :H].addcmul_(w_ci, cs[t])
                    pre[:, H : 2 * H].addcmul_(w_cf, cs[t])
                pre[:, : 2 * H].sigmoid_()  # i, f
                pre[:, 2 * H : 3 * H].tanh_()  # g
                i, f, g, o = pre.chunk(4, 1)
                c = torch.mul(f, cs[t], out=c_new[t]).addcmul_(i, g)  # c~ = f c_prev + i g
                if w_co is not None:
                    o.addcmul_(w_co, c)  # o peeks at c~
                o.sigmoid_()
                cn = c
                if lnc_g is not None:
                    cn, c_mean[t], c_rstd[t] = _ln_scaled(c, lnc_g)
                    cn = cn + lnc_b
                h_new = o * torch.tanh(cn, out=tcs[t])  # h~ = o tanh(LN(c~))
                torch.lerp(c, cs[t], keep_c[t], out=cs[t + 1])  # c_t = c~ + k (c_prev - c~)
            elif kind == "gru":
                if b_hh is not None:
                    a = a + b_hh
                pre[:, : 2 * H].add_(a[:, : 2 * H]).sigmoid_()  # r, z
                r, z, n = pre.chunk(3, 1)
                ghn[t] = a[:, 2 * H :]
                n.addcmul_(r, ghn[t]).tanh_()  # n = tanh(x_n + r ghn)
                h_new = torch.lerp(n, hs[t], z)  # h~ = (1 - z) n + z h_prev
            else:
                h_new = pre.tanh_() if nonlin == "tanh" else pre.relu_()
            torch.lerp(h_new, hs[t], keep_h[t], out=hs[t + 1])  # zoneout / hold at padding
        out = hs[1:] * m  # (T, B, H), zero at padding
        ctx.kind, ctx.nonlin = kind, nonlin
        save_optional(
            ctx,
            m, keep_h, keep_c, w_hh, ln_g, lnc_g, w_ci, w_cf, w_co, rec_mask,
            hs, acts, ln_in, ln_mean, ln_rstd, ghn, cs, c_new, tcs, c_mean, c_rstd,
        )  # fmt: skip
        c_n = cs[T].clone() if kind == "lstm" else torch.zeros_like(h0)
        return out, hs[T].clone(), c_n

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_n, dc_n):
        (m, keep_h, keep_c, w_hh, ln_g, lnc_g, w_ci, w_cf, w_co, rec_mask,
         hs, acts, ln_in, ln_mean, ln_rstd, ghn, cs, c_new, tcs, c_mean, c_rstd,
         ) = saved_optional(ctx)  # fmt: skip
        kind = ctx.kind
        T, B, G = acts.shape
        H = hs.shape[2]
        h_prev = hs[:T]  # (T, B, H)
        # factors that do not depend on the carried gradient, for all steps at once
        dout = dout * m  # the output is zero at padding
        new_h = 1 - keep_h  # share of the new candidate in h_t
        if kind == "lstm":
            i, f, g, o = acts.chunk(4, 2)  # (T, B, H) each
            new_c = 1 - keep_c
            D = torch.empty_like(acts)  # d gate pre-activation per unit of its upstream grad
            D[..., :H] = g * i * (1 - i)  # di = dc~ * g i(1-i)
            D[..., H : 2 * H] = cs[:T] * f * (1 - f)  # df = dc~ * c_prev f(1-f)
            D[..., 2 * H : 3 * H] = i * (1 - g * g)  # dg = dc~ * i (1-g^2)
            D[..., 3 * H :] = tcs * o * (1 - o)  # do = dh~ * tanh(.) o(1-o)
            dtanh = o * (1 - tcs * tcs)  # dLN(c~) = dh~ * o (1 - tanh^2)
            D3 = D[..., : 3 * H].unflatten(-1, (3, H))  # (T, B, 3, H)
        elif kind == "gru":
            r, z, n = acts.chunk(3, 2)
            D = torch.empty_like(acts)
            D[..., :H] = ghn * r * (1 - r) * (1 - z) * (1 - n * n)  # dr = dh~ * this
            D[..., H : 2 * H] = (h_prev - n) * z * (1 - z)  # dz = dh~ * (h_prev - n) z(1-z)
            D[..., 2 * H :] = (1 - z) * (1 - n * n)  # dn = dh~ * (1-z)(1-n^2)
            Dgh_n = D[..., 2 * H :] * r  # d ghn = dh~ * (1-z)(1-n^2) r
            D3 = D.unflatten(-1, (3, H))  # (T, B, 3, H)
        else:
            D = 1 - acts * acts if ctx.nonlin == "tanh" else (acts > 0).to(acts.dtype)
        dXG = torch.empty_like(acts)  # dL/d xg[t] (the gate pre-activations)
        dGH = torch.empty_like(acts) if kind == "gru" else dXG  # dL/d (LN(W_hh h) + b_hh)
        dA = torch.empty_like(acts) if ln_g is not None else dGH  # dL/d (W_hh h_r)
        dCN = torch.empty_like(c_new) if lnc_g is not None else None  # dL/d LN(c~)
        dh_next = dh_n  # gradient reaching h_t from later steps
        dc_next = dc_n if kind == "lstm" else None
        for t in reversed(range(T)):
            dh = dout[t] + dh_next  # total gradient on h_t
            dh_new = dh * new_h[t]  # to the new candidate h~
            dh_prev = dh * keep_h[t]  # to h_{t-1} through zoneout / padding
            if kind == "lstm":
                dcn = dh_new * dtanh[t]  # through h~ = o tanh(LN(c~))
                if lnc_g is not None:
                    dCN[t] = dcn
                    dcn = _ln_back(dcn, c_new[t], c_mean[t], c_rstd[t], lnc_g)
                dcn.addcmul_(dc_next, new_c[t])  # dL/dc~ (+ from c_t)
                do = torch.mul(dh_new, D[t, :, 3 * H :], out=dXG[t, :, 3 * H :])
                if w_co is not None:
                    dcn.addcmul_(do, w_co)  # o peeks at c~
                dif = dXG[t, :, : 3 * H].unflatten(-1, (3, H))  # (B, 3, H) view
                torch.mul(D3[t], dcn[:, None], out=dif)  # di, df, dg
                dc_prev = torch.mul(dc_next, keep_c[t]).addcmul_(dcn, f[t])  # c_t and c~
                if w_ci is not None:  # i and f peek at c_prev
                    dc_prev.addcmul_(dif[:, 0], w_ci).addcmul_(dif[:, 1], w_cf)
                dc_next = dc_prev
            elif kind == "gru":
                torch.mul(D3[t], dh_new[:, None], out=dXG[t].unflatten(-1, (3, H)))  # dr, dz, dn
                dh_prev.addcmul_(dh_new, z[t])  # h~ = (1-z) n + z h_prev
                dGH[t, :, : 2 * H] = dXG[t, :, : 2 * H]  # r, z: the recurrent part adds
                torch.mul(dh_new, Dgh_n[t], out=dGH[t, :, 2 * H :])  # n: through r * ghn
            else:
                torch.mul(dh_new, D[t], out=dXG[t])  # through tanh / relu
            if ln_g is not None:
                dA[t] = _ln_back(dGH[t], ln_in[t], ln_mean[t], ln_rstd[t], ln_g)
            if rec_mask is None:
                dh_prev.addmm_(dA[t], w_hh)  # dh_prev += dA W_hh
            else:
                dh_prev.addcmul_(dA[t] @ w_hh, rec_mask)  # through the dropped input
            dh_next = dh_prev
        hr = h_prev if rec_mask is None else h_prev * rec_mask  # (T, B, H)
        dw_hh = dA.reshape(T * B, G).t() @ hr.reshape(T * B, H)  # dW_hh = dA^T H_r  (G, H)
        db_hh = dGH.sum((0, 1)) if kind == "gru" else None
        dln_g = dln_b = dlnc_g = dlnc_b = dw_ci = dw_cf = dw_co = None
        if ln_g is not None:
            a_hat = (ln_in - ln_mean) * ln_rstd
            dln_g, dln_b = (dGH * a_hat).sum((0, 1)), dGH.sum((0, 1))
        if lnc_g is not None:
            c_hat = (c_new - c_mean) * c_rstd
            dlnc_g, dlnc_b = (dCN * c_hat).sum((0, 1)), dCN.sum((0, 1))
        if w_ci is not None:
            dw_ci = (dXG[..., :H] * cs[:T]).sum((0, 1))
            dw_cf = (dXG[..., H : 2 * H] * cs[:T]).sum((0, 1))
            dw_co = (dXG[..., 3 * H :] * c_new).sum((0, 1))
        dc0 = dc_next if kind == "lstm" else None
        return (
            None, None, dXG, None, None, None, dh_next, dc0, dw_hh, db_hh,
            dln_g, dln_b, dlnc_g, dlnc_b, dw_ci, dw_cf, dw_co, None,
        )  # fmt: skip
