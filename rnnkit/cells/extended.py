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

Every option combines with the LSTM projection ``h~ = W_hr (o * tanh(LN(c~)))`` (``h`` of
size ``H_out``, ``c`` of size ``H``): zoneout and recurrent dropout then act on the
projected ``h``.

The masks are *inputs* here (``rnnkit.layers.options`` samples them), so every option is
a deterministic function of its inputs: the hand-written BPTT (:class:`ExtendedRecurrence`)
can be gradchecked with fixed masks, and equals autograd over the plain step.

Masking by ``lengths`` and zoneout are one operation: with ``m_t`` the real-step mask, the
state update is ``s_t = k'_t s_{t-1} + (1 - k'_t) s~_t`` with ``k'_t = 1 - m_t (1 - k_t)``,
and the output is ``m_t h_t`` (zero at padding).

Layout of the BPTT: :class:`ExtendedRecurrence` owns what every family shares (the
recurrent pre-activation ``LN(h_r W_hh^T)`` with ``h_r = h_{t-1} * d``, zoneout and
padding, ``dW_hh``); the family's own part of a step and of its backward is one small
class (:class:`LSTMStep`, :class:`GRUStep`, :class:`ElmanStep`), chosen once, before the
time loop.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnkit.cells._bptt import apply_function, present, save_optional, saved_optional
from rnnkit.cells._step import EPS, Pair, layer_norm
from rnnkit.cells.elman import elman_step
from rnnkit.cells.gru import gru_step
from rnnkit.cells.lstm import lstm_step
from rnnkit.cells.padded import full_lengths, step_mask

__all__ = [
    "EPS",
    "KINDS",
    "ElmanStep",
    "ExtendedRecurrence",
    "GRUStep",
    "LSTMStep",
    "StepTensors",
    "extended_sequence",
    "extended_step",
    "extended_trace",
]

KINDS = ("lstm", "gru", "rnn")

Triple = tuple[Tensor, Tensor, Tensor]


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
    peephole: Triple | None = None,
    rec_mask: Tensor | None = None,
    keep_h: Tensor | None = None,
    keep_c: Tensor | None = None,
    nonlinearity: str = "tanh",
    w_hr: Tensor | None = None,
    gates: dict[str, Tensor] | None = None,
) -> tuple[Tensor, Tensor | None]:
    """One reference step of ``kind`` ("lstm", "gru", "rnn") with options (module docstring):
    the family's own step function (:func:`~rnnkit.cells.lstm.lstm_step`,
    :func:`~rnnkit.cells.gru.gru_step`, :func:`~rnnkit.cells.elman.elman_step`), which
    holds the one copy of its math, options included.

    Shapes: x_t (B, I); h (B, H_out), c (B, H) (c None unless LSTM); w_ih (G, I); w_hh
    (G, H_out); b_ih, b_hh (G,) or None; ln_* (gain, bias) of (G,) (ln_c: (H,)); peephole
    (w_ci, w_cf, w_co) each (H,); rec_mask (B, H_out); keep_h (B, H_out), keep_c (B, H)
    zoneout weights of the previous state; w_hr (H_out, H) the LSTM projection
    ``h = W_hr (o * tanh(c))`` (H_out = H without it). Returns ``(h_t, c_t)`` (c_t None
    unless LSTM). When ``gates`` is a dict it receives the step's gate activations
    (LSTM ``i, f, g, o``; GRU ``r, z, n``; Elman ``pre``, the pre-activation), each (B, H).
    """
    common: dict[str, Any] = {
        "ln_ih": ln_ih, "ln_hh": ln_hh, "rec_mask": rec_mask, "keep_h": keep_h, "gates": gates
    }  # fmt: skip
    if kind == "lstm":
        assert c is not None, "the LSTM step needs c"
        return lstm_step(
            x_t, h, c, w_ih, w_hh, b_ih, b_hh, w_hr, ln_c=ln_c, peephole=peephole,
            keep_c=keep_c, **common,
        )  # fmt: skip
    if kind == "gru":
        return gru_step(x_t, h, w_ih, w_hh, b_ih, b_hh, **common), None
    return elman_step(x_t, h, w_ih, w_hh, b_ih, b_hh, nonlinearity, **common), None


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
    peephole: Triple | None = None,
    rec_mask: Tensor | None = None,
    zoneout_h: Tensor | None = None,
    zoneout_c: Tensor | None = None,
    nonlinearity: str = "tanh",
    w_hr: Tensor | None = None,
    mode: str = "bptt",
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Run one layer and direction of an extended cell over right-padded x (B, T, I).

    ``zoneout_h``, ``zoneout_c`` are the keep weights of every step, broadcastable to
    (B, T, H_out) and (B, T, H) (0/1 samples in training, ``p`` in evaluation); the other
    options as in :func:`extended_step`. ``mode`` is "reference" (autograd over the step)
    or "bptt" (:class:`ExtendedRecurrence`). Returns ``out (B, T, H_out)`` (zero at
    padding), ``h_n (B, H_out)`` and ``c_n (B, H)`` (None unless LSTM), held after the last
    real step.
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
    if w_hr is not None and kind != "lstm":
        raise ValueError("w_hr (projection) applies to the LSTM only")
    if mode not in ("reference", "bptt"):
        raise ValueError(f"mode must be 'reference' or 'bptt', got {mode!r}")
    B, T, _ = x.shape
    H_out = h0.shape[1]
    m = step_mask(full_lengths(x, lengths), T, x.device)[..., None].to(x.dtype)  # (B, T, 1)
    # keep weight of the previous state: zoneout at real steps, 1 (hold) at padding
    keep_h = 1 - m if zoneout_h is None else 1 - m * (1 - zoneout_h.expand(B, T, H_out))
    keep_h = keep_h.expand(B, T, H_out)
    keep_c = None
    if c0 is not None:
        H = c0.shape[1]
        keep_c = 1 - m if zoneout_c is None else 1 - m * (1 - zoneout_c.expand(B, T, H))
        keep_c = keep_c.expand(B, T, H)
    if mode == "reference":
        h, c, outs = h0, c0, []
        for t in range(T):
            h, c = extended_step(
                kind, x[:, t], h, c, w_ih, w_hh, b_ih, b_hh, ln_ih=ln_ih, ln_hh=ln_hh,
                ln_c=ln_c, peephole=peephole, rec_mask=rec_mask, keep_h=keep_h[:, t],
                keep_c=None if keep_c is None else keep_c[:, t], nonlinearity=nonlinearity,
                w_hr=w_hr,
            )  # fmt: skip
            outs.append(m[:, t] * h)
        return torch.stack(outs, 1), h, c
    xg = layer_norm(x @ w_ih.t(), ln_ih)  # (B, T, G): the input part of every step at once
    if b_ih is not None:
        xg = xg + b_ih
    if kind != "gru" and b_hh is not None:
        xg = xg + b_hh  # outside the reset gate, b_hh is just another bias
        b_hh = None
    no_pair: tuple[None, None] = (None, None)
    ln_g, ln_b = ln_hh or no_pair
    lnc_g, lnc_b = ln_c or no_pair
    w_ci, w_cf, w_co = peephole or (None, None, None)
    tensors = StepTensors(
        w_hh, b_hh, ln_g, ln_b, lnc_g, lnc_b, w_ci, w_cf, w_co, w_hr, rec_mask
    )  # fmt: skip

    def time_major(v: Tensor) -> Tensor:
        return v.transpose(0, 1).contiguous()

    out, h_n, c_n = apply_function(
        ExtendedRecurrence, kind, nonlinearity, time_major(xg), time_major(m), time_major(keep_h),
        None if keep_c is None else time_major(keep_c), h0, c0, *tensors,
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
    **options: Any,
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
    c, cs, steps = c0, list[Tensor](), []
    for t in range(T):
        kh = None if zoneout_h is None else zoneout_h.expand(B, T, h.shape[2])[:, t]
        kc = None
        if zoneout_c is not None and c0 is not None:
            kc = zoneout_c.expand(B, T, c0.shape[1])[:, t]
        found: dict[str, Tensor] = {}
        _, c = extended_step(
            kind, x[:, t], h_prev[:, t], c, w_ih, w_hh, b_ih, b_hh, keep_h=kh, keep_c=kc,
            nonlinearity=nonlinearity, w_hr=w_hr, gates=found, **options,
        )  # fmt: skip
        if c is not None:
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
    da: Tensor = torch.ops.aten.native_layer_norm_backward(
        dy, a, a.shape[-1:], mean, rstd, gain, None, [True, False, False]
    )[0]
    return da


def _option(*tensors: Tensor | None) -> tuple[Tensor, ...] | None:
    """The tensors of one option (all there or none), or None when it is off."""
    found = tuple(t for t in tensors if t is not None)
    return found if len(found) == len(tensors) else None


class StepTensors(NamedTuple):
    """The tensors :class:`ExtendedRecurrence` takes besides the input part, the masks and
    the initial states; None where the option is off. ``G`` gate rows, ``H`` the cell size,
    ``H_out`` the size of ``h`` (the LSTM projection's, else ``H``). The backward returns
    the gradients in the same order."""

    w_hh: Tensor  # (G, H_out) recurrent weights (DropConnect already applied)
    b_hh: Tensor | None = None  # (G,) GRU only: the reset gate scales it; elsewhere in xg
    ln_g: Tensor | None = None  # (G,) layer norm of h_r W_hh^T: gain
    ln_b: Tensor | None = None  # (G,) ... and bias
    lnc_g: Tensor | None = None  # (H,) LSTM cell-state layer norm: gain
    lnc_b: Tensor | None = None  # (H,) ... and bias
    w_ci: Tensor | None = None  # (H,) LSTM peephole of i on c_{t-1}
    w_cf: Tensor | None = None  # (H,) LSTM peephole of f on c_{t-1}
    w_co: Tensor | None = None  # (H,) LSTM peephole of o on c~_t
    w_hr: Tensor | None = None  # (H_out, H) LSTM projection
    rec_mask: Tensor | None = None  # (B, H_out) variational dropout mask of h_{t-1}


class CellStep:
    """One family's part of :class:`ExtendedRecurrence`: from the step's pre-activations to
    the candidate state ``h~`` (forward), and from ``dL/dh~`` back to the pre-activations
    (backward), each a method called once per step, and the family's parameter gradients.

    The recurrence owns the shared part around it: ``acts`` (T, B, G) holds the input part
    ``xg`` and becomes the gate activations in place; ``hs`` (T + 1, B, H_out) the states,
    ``hs[t] = h_{t-1}``. A subclass names in ``SAVED`` the buffers of its own that the
    backward reads; they are made by :meth:`allocate` (forward) and handed back by
    :meth:`restore` (backward).
    """

    adds_recurrent: ClassVar[bool] = True  # the gates see xg_t + gh_t (not the GRU)
    SAVED: ClassVar[tuple[str, ...]] = ()

    def __init__(self, nonlin: str, p: StepTensors, acts: Tensor, hs: Tensor) -> None:
        self.nonlin, self.p, self.acts, self.hs = nonlin, p, acts, hs
        self.T, self.B, self.G = acts.shape

    def allocate(self, c0: Tensor | None, keep_c: Tensor | None) -> None:
        """Forward: make the buffers named in ``SAVED`` (and take the cell state's inputs)."""

    def saved(self) -> tuple[Tensor, ...]:
        """The buffers named in ``SAVED``, for ``ctx.save_for_backward``."""
        return tuple(getattr(self, name) for name in self.SAVED)

    def restore(self, keep_c: Tensor | None, buffers: tuple[Tensor, ...]) -> None:
        """Backward: the buffers of :meth:`saved` back in place."""
        for name, buffer in zip(self.SAVED, buffers, strict=True):
            setattr(self, name, buffer)

    def step(self, t: int, gh: Tensor) -> Tensor:
        """Step ``t``: ``gh`` (B, G) is the whole pre-activation ``acts[t]`` (the recurrent
        part added in place) where ``adds_recurrent``, else the recurrent part alone.
        Returns ``h~`` (B, H_out), before zoneout and padding."""
        raise NotImplementedError

    def final_c(self, h0: Tensor) -> Tensor:
        """``c_n`` (B, H) of the run (zeros of ``h0``'s shape for a family without ``c``)."""
        return torch.zeros_like(h0)

    def factors(self, dc_n: Tensor) -> None:
        """Backward, once: the local derivatives of every step at once (they do not depend
        on the carried gradient), and the carried gradient of ``c`` from ``dc_n``."""

    def step_back(self, t: int, dh_new: Tensor, dh_prev: Tensor, dxg: Tensor, dgh: Tensor) -> None:
        """Step ``t`` backwards from ``dh_new = dL/dh~`` (B, H_out): fills ``dxg = dL/dxg_t``
        and ``dgh = dL/dgh_t`` (B, G; the same tensor where ``adds_recurrent``) and adds the
        family's direct path to ``dh_prev`` (B, H_out) in place."""
        raise NotImplementedError

    def grads(self, dXG: Tensor, dGH: Tensor) -> dict[str, Tensor]:
        """The gradients of the family's own :class:`StepTensors` fields, by name."""
        return {}

    def dc0(self) -> Tensor | None:
        """Backward: ``dL/dc_0`` after the loop (None for a family without ``c``)."""
        return None


class LSTMStep(CellStep):
    r"""The LSTM part of a step, with peepholes, cell-state layer norm and projection.

    .. math::

        i, f = \sigma(a_{i,f} + w_{ci,cf} c_{t-1}), \quad g = \tanh a_g, \quad
        \tilde c = f c_{t-1} + i g, \quad o = \sigma(a_o + w_{co} \tilde c), \\
        \tilde h = W_{hr}(o \tanh(\mathrm{LN}(\tilde c))), \quad
        c_t = \tilde c + k^c_t (c_{t-1} - \tilde c)

    A buffer of an option that is off is empty (no elements).
    """

    SAVED = ("cs", "c_new", "tcs", "c_stats", "hcs")
    cs: Tensor  # (T + 1, B, H): cs[t] = c_{t-1}
    c_new: Tensor  # (T, B, H): c~_t, before zoneout and padding
    tcs: Tensor  # (T, B, H): tanh(LN(c~_t))
    c_stats: Tensor  # (2, T, B, 1): mean and 1/std of the cell layer norm
    hcs: Tensor  # (T, B, H): o tanh(LN(c~)), the projection's input
    keep_c: Tensor  # (T, B, H) keep weights of c_{t-1} (zoneout and padding)

    def __init__(self, nonlin: str, p: StepTensors, acts: Tensor, hs: Tensor) -> None:
        super().__init__(nonlin, p, acts, hs)
        self.H = self.G // 4
        self.peephole = _option(p.w_ci, p.w_cf, p.w_co)  # (w_ci, w_cf, w_co) or None
        self.cell_norm = _option(p.lnc_g, p.lnc_b)  # (gain, bias) or None

    def allocate(self, c0: Tensor | None, keep_c: Tensor | None) -> None:
        assert c0 is not None and keep_c is not None, "the LSTM needs c0 and its keep weights"
        T, B, H, new = self.T, self.B, self.H, self.acts.new_empty
        self.keep_c = keep_c
        self.cs = new(T + 1, B, H)
        self.cs[0] = c0
        self.c_new, self.tcs = new(T, B, H), new(T, B, H)
        self.c_stats = new(2, T, B, 1) if self.cell_norm is not None else new(0)
        self.hcs = new(T, B, H) if self.p.w_hr is not None else new(0)

    def restore(self, keep_c: Tensor | None, buffers: tuple[Tensor, ...]) -> None:
        assert keep_c is not None, "the LSTM needs the keep weights of c"
        self.keep_c = keep_c
        super().restore(keep_c, buffers)

    def step(self, t: int, gh: Tensor) -> Tensor:
        H, pre, c_prev = self.H, gh, self.cs[t]  # pre (B, 4H) is acts[t]
        if self.peephole is not None:  # i and f peek at c_{t-1}
            w_ci, w_cf, w_co = self.peephole
            pre[:, :H].addcmul_(w_ci, c_prev)
            pre[:, H : 2 * H].addcmul_(w_cf, c_prev)
        pre[:, : 2 * H].sigmoid_()  # i, f
        pre[:, 2 * H : 3 * H].tanh_()  # g
        i, f, g, o = pre.chunk(4, 1)
        c = torch.mul(f, c_prev, out=self.c_new[t]).addcmul_(i, g)  # c~ = f c_prev + i g
        if self.peephole is not None:
            o.addcmul_(w_co, c)  # o peeks at c~
        o.sigmoid_()
        cn = c
        if self.cell_norm is not None:
            gain, bias = self.cell_norm
            cn, self.c_stats[0, t], self.c_stats[1, t] = _ln_scaled(c, gain)
            cn = cn + bias  # LN(c~)
        h_new = o * torch.tanh(cn, out=self.tcs[t])  # h~ = o tanh(LN(c~))  (B, H)
        if self.p.w_hr is not None:
            self.hcs[t] = h_new
            h_new = h_new @ self.p.w_hr.t()  # h~ = W_hr (o tanh(LN(c~)))  (B, H_out)
        torch.lerp(c, c_prev, self.keep_c[t], out=self.cs[t + 1])  # c_t = c~ + k (c_prev - c~)
        return h_new

    def final_c(self, h0: Tensor) -> Tensor:
        return self.cs[self.T].clone()

    def factors(self, dc_n: Tensor) -> None:
        H, T = self.H, self.T
        i, f, g, o = self.acts.chunk(4, 2)  # (T, B, H) each
        self.f = f
        self.new_c = 1 - self.keep_c  # share of c~ in c_t
        D = torch.empty_like(self.acts)  # d gate pre-activation per unit of its upstream grad
        D[..., :H] = g * i * (1 - i)  # di = dc~ * g i(1-i)
        D[..., H : 2 * H] = self.cs[:T] * f * (1 - f)  # df = dc~ * c_prev f(1-f)
        D[..., 2 * H : 3 * H] = i * (1 - g * g)  # dg = dc~ * i (1-g^2)
        D[..., 3 * H :] = self.tcs * o * (1 - o)  # do = dh~ * tanh(.) o(1-o)
        self.D, self.D3 = D, D[..., : 3 * H].unflatten(-1, (3, H))  # D3 (T, B, 3, H)
        self.dtanh = o * (1 - self.tcs * self.tcs)  # dLN(c~) = dh~ * o (1 - tanh^2)
        new = self.acts.new_empty
        self.dCN = torch.empty_like(self.c_new) if self.cell_norm is not None else new(0)
        self.dHR = torch.empty_like(self.hs[:T]) if self.p.w_hr is not None else new(0)
        self.dc_next = dc_n  # gradient reaching c_t from later steps

    def step_back(self, t: int, dh_new: Tensor, dh_prev: Tensor, dxg: Tensor, dgh: Tensor) -> None:
        H = self.H
        if self.p.w_hr is not None:  # h~ = W_hr (o tanh(LN(c~)))
            self.dHR[t] = dh_new  # for dW_hr
            dh_new = dh_new @ self.p.w_hr  # to o tanh(LN(c~))  (B, H)
        dcn = dh_new * self.dtanh[t]  # through o tanh(LN(c~))
        if self.cell_norm is not None:
            self.dCN[t] = dcn
            mean, rstd = self.c_stats[0, t], self.c_stats[1, t]
            dcn = _ln_back(dcn, self.c_new[t], mean, rstd, self.cell_norm[0])
        dcn.addcmul_(self.dc_next, self.new_c[t])  # dL/dc~ (+ from c_t)
        do = torch.mul(dh_new, self.D[t, :, 3 * H :], out=dxg[:, 3 * H :])
        if self.peephole is not None:
            w_ci, w_cf, w_co = self.peephole
            dcn.addcmul_(do, w_co)  # o peeks at c~
        dif = dxg[:, : 3 * H].unflatten(-1, (3, H))  # (B, 3, H) view
        torch.mul(self.D3[t], dcn[:, None], out=dif)  # di, df, dg
        dc_prev = torch.mul(self.dc_next, self.keep_c[t]).addcmul_(dcn, self.f[t])  # c_t, c~
        if self.peephole is not None:  # i and f peek at c_prev
            dc_prev.addcmul_(dif[:, 0], w_ci).addcmul_(dif[:, 1], w_cf)
        self.dc_next = dc_prev

    def grads(self, dXG: Tensor, dGH: Tensor) -> dict[str, Tensor]:
        H, T, found = self.H, self.T, {}
        if self.cell_norm is not None:
            c_hat = (self.c_new - self.c_stats[0]) * self.c_stats[1]
            found["lnc_g"], found["lnc_b"] = (self.dCN * c_hat).sum((0, 1)), self.dCN.sum((0, 1))
        if self.peephole is not None:
            found["w_ci"] = (dXG[..., :H] * self.cs[:T]).sum((0, 1))
            found["w_cf"] = (dXG[..., H : 2 * H] * self.cs[:T]).sum((0, 1))
            found["w_co"] = (dXG[..., 3 * H :] * self.c_new).sum((0, 1))
        if self.p.w_hr is not None:
            rows = T * self.B
            dhr, hc = self.dHR.reshape(rows, -1), self.hcs.reshape(rows, H)
            found["w_hr"] = dhr.t() @ hc  # dW_hr = dH~^T (o tanh(LN(c~)))  (H_out, H)
        return found

    def dc0(self) -> Tensor | None:
        return self.dc_next


class GRUStep(CellStep):
    r"""The GRU part of a step: the reset gate scales the recurrent candidate part.

    .. math::

        r, z = \sigma(x_{r,z} + g_{r,z}), \quad n = \tanh(x_n + r\, g_n), \quad
        \tilde h = (1 - z) n + z h_{t-1}

    with ``g = LN(h_r W_hh^T) + b_hh`` the recurrent part.
    """

    adds_recurrent = False
    SAVED = ("ghn",)
    ghn: Tensor  # (T, B, H): g_n = LN(W_hn h_r) + b_hn, what r scales

    def allocate(self, c0: Tensor | None, keep_c: Tensor | None) -> None:
        self.ghn = self.acts.new_empty(self.T, self.B, self.G // 3)

    def step(self, t: int, gh: Tensor) -> Tensor:
        H, pre = self.G // 3, self.acts[t]  # pre (B, 3H) holds xg_t
        if self.p.b_hh is not None:
            gh = gh + self.p.b_hh
        pre[:, : 2 * H].add_(gh[:, : 2 * H]).sigmoid_()  # r, z
        r, z, n = pre.chunk(3, 1)
        self.ghn[t] = gh[:, 2 * H :]
        n.addcmul_(r, self.ghn[t]).tanh_()  # n = tanh(x_n + r ghn)
        return torch.lerp(n, self.hs[t], z)  # h~ = (1 - z) n + z h_prev

    def factors(self, dc_n: Tensor) -> None:
        H = self.G // 3
        r, z, n = self.acts.chunk(3, 2)  # (T, B, H) each
        self.z = z
        h_prev = self.hs[: self.T]
        D = torch.empty_like(self.acts)
        D[..., :H] = self.ghn * r * (1 - r) * (1 - z) * (1 - n * n)  # dr = dh~ * this
        D[..., H : 2 * H] = (h_prev - n) * z * (1 - z)  # dz = dh~ * (h_prev - n) z(1-z)
        D[..., 2 * H :] = (1 - z) * (1 - n * n)  # dn = dh~ * (1-z)(1-n^2)
        self.Dgh_n = D[..., 2 * H :] * r  # d ghn = dh~ * (1-z)(1-n^2) r
        self.D3 = D.unflatten(-1, (3, H))  # (T, B, 3, H)

    def step_back(self, t: int, dh_new: Tensor, dh_prev: Tensor, dxg: Tensor, dgh: Tensor) -> None:
        H = self.G // 3
        torch.mul(self.D3[t], dh_new[:, None], out=dxg.unflatten(-1, (3, H)))  # dr, dz, dn
        dh_prev.addcmul_(dh_new, self.z[t])  # h~ = (1-z) n + z h_prev
        dgh[:, : 2 * H] = dxg[:, : 2 * H]  # r, z: the recurrent part adds
        torch.mul(dh_new, self.Dgh_n[t], out=dgh[:, 2 * H :])  # n: through r * ghn

    def grads(self, dXG: Tensor, dGH: Tensor) -> dict[str, Tensor]:
        return {"b_hh": dGH.sum((0, 1))} if self.p.b_hh is not None else {}


class ElmanStep(CellStep):
    r"""The Elman part of a step: :math:`\tilde h = \tanh(a)` or :math:`\mathrm{relu}(a)`."""

    def __init__(self, nonlin: str, p: StepTensors, acts: Tensor, hs: Tensor) -> None:
        super().__init__(nonlin, p, acts, hs)
        self.activation = torch.tanh_ if nonlin == "tanh" else torch.relu_

    def step(self, t: int, gh: Tensor) -> Tensor:
        return self.activation(gh)  # h~ = tanh(a) or relu(a), in place in acts[t]

    def factors(self, dc_n: Tensor) -> None:
        acts = self.acts
        self.D = 1 - acts * acts if self.nonlin == "tanh" else (acts > 0).to(acts.dtype)

    def step_back(self, t: int, dh_new: Tensor, dh_prev: Tensor, dxg: Tensor, dgh: Tensor) -> None:
        torch.mul(dh_new, self.D[t], out=dxg)  # through tanh / relu


CELL_STEPS: dict[str, type[CellStep]] = {"lstm": LSTMStep, "gru": GRUStep, "rnn": ElmanStep}


class ExtendedRecurrence(torch.autograd.Function):
    """The recurrence of an extended cell with a hand-written backward through time.

    The input part ``xg = LN(x W_ih^T) + biases`` (T, B, G) is computed outside (autograd
    handles it: it is parallel over time); this Function runs the recurrence from it, with
    time-major buffers. Per step it computes the recurrent pre-activation
    ``gh = LN(h_r W_hh^T)`` (``h_r = h_{t-1} * rec_mask``), hands it to the family's
    :class:`CellStep` for ``h~``, and blends ``h_t = h~ + k_t (h_{t-1} - h~)`` (zoneout and
    padding). The backward mirrors it step by step; every factor that does not depend on
    the carried gradient is computed for all steps at once before its loop
    (:meth:`CellStep.factors`), and the weight gradients are one product at the end.

    Inputs: ``kind`` ("lstm", "gru", "rnn"), ``nonlin`` ("tanh", "relu": Elman), xg
    (T, B, G), m (T, B, 1) real-step mask, keep_h (T, B, H_out) / keep_c (T, B, H) (LSTM,
    else None) previous-state weights, h0 (B, H_out), c0 (B, H) (LSTM, else None), then the
    fields of :class:`StepTensors` in order. Returns out (T, B, H_out) (zero at padding),
    h_n (B, H_out) and c_n (B, H) (zeros of h_n's shape for non-LSTM cells).
    """

    @staticmethod
    def forward(
        ctx: Any,
        kind: str,
        nonlin: str,
        xg: Tensor,
        m: Tensor,
        keep_h: Tensor,
        keep_c: Tensor | None,
        h0: Tensor,
        c0: Tensor | None,
        *tensors: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        p = StepTensors(*tensors)  # type: ignore[arg-type]
        T, B, G = xg.shape
        hs = xg.new_empty(T + 1, B, h0.shape[1])  # hs[t] = h_{t-1}: the state entering step t
        hs[0] = h0
        acts = xg.clone()  # pre-activations, made the gate activations in place
        cell = CELL_STEPS[kind](nonlin, p, acts, hs)  # the family's part, chosen once
        cell.allocate(c0, keep_c)
        ln = _option(p.ln_g, p.ln_b)  # layer norm of the recurrent part: (gain, bias)
        ln_in = xg.new_empty(T, B, G) if ln else xg.new_empty(0)  # h_r W_hh^T, LN's input
        ln_stats = xg.new_empty(2, T, B, 1) if ln else xg.new_empty(0)  # its mean, 1/std
        into_acts = cell.adds_recurrent  # gh goes into acts[t] (all but the GRU)
        w_hh_t = p.w_hh.t()  # (H_out, G)
        for t in range(T):
            hr = hs[t] if p.rec_mask is None else hs[t] * p.rec_mask  # dropped recurrent input
            if ln is None:
                gh = acts[t].addmm_(hr, w_hh_t) if into_acts else hr @ w_hh_t  # (B, G)
            else:
                torch.mm(hr, w_hh_t, out=ln_in[t])
                gh, ln_stats[0, t], ln_stats[1, t] = _ln_scaled(ln_in[t], ln[0])
                gh = gh + ln[1]  # gh = LN(h_r W_hh^T)
                if into_acts:
                    gh = acts[t].add_(gh)
            h_new = cell.step(t, gh)  # h~ (B, H_out): the family's candidate state
            torch.lerp(h_new, hs[t], keep_h[t], out=hs[t + 1])  # zoneout / hold at padding
        out = hs[1:] * m  # (T, B, H_out), zero at padding
        ctx.kind, ctx.nonlin = kind, nonlin
        save_optional(ctx, m, keep_h, acts, hs, ln_in, ln_stats, keep_c, *p, *cell.saved())
        return out, hs[T].clone(), cell.final_c(h0)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dout: Tensor, dh_n: Tensor, dc_n: Tensor) -> tuple[Tensor | None, ...]:
        saved = saved_optional(ctx)
        m, keep_h, acts, hs, ln_in, ln_stats = present(saved[:6])
        keep_c, n = saved[6], len(StepTensors._fields)
        p = StepTensors(*saved[7 : 7 + n])  # type: ignore[arg-type]
        cell = CELL_STEPS[ctx.kind](ctx.nonlin, p, acts, hs)
        cell.restore(keep_c, present(saved[7 + n :]))
        ln = _option(p.ln_g, p.ln_b)
        T, B, G = acts.shape
        H_out = hs.shape[2]
        # factors that do not depend on the carried gradient, for all steps at once
        dout = dout * m  # the output is zero at padding
        new_h = 1 - keep_h  # share of the new candidate in h_t
        cell.factors(dc_n)
        dXG = torch.empty_like(acts)  # dL/d xg[t] (the gate pre-activations)
        dGH = dXG if cell.adds_recurrent else torch.empty_like(acts)  # dL/d gh_t
        dA = dGH if ln is None else torch.empty_like(acts)  # dL/d (h_r W_hh^T)
        dh_next = dh_n  # gradient reaching h_t from later steps
        for t in reversed(range(T)):
            dh = dout[t] + dh_next  # total gradient on h_t
            dh_new = dh * new_h[t]  # to the new candidate h~
            dh_prev = dh * keep_h[t]  # to h_{t-1} through zoneout / padding
            cell.step_back(t, dh_new, dh_prev, dXG[t], dGH[t])  # the family's part
            if ln is not None:  # gh = LN(h_r W_hh^T)
                dA[t] = _ln_back(dGH[t], ln_in[t], ln_stats[0, t], ln_stats[1, t], ln[0])
            if p.rec_mask is None:
                dh_prev.addmm_(dA[t], p.w_hh)  # dh_prev += dA W_hh
            else:
                dh_prev.addcmul_(dA[t] @ p.w_hh, p.rec_mask)  # through the dropped input
            dh_next = dh_prev
        hr = hs[:T] if p.rec_mask is None else hs[:T] * p.rec_mask  # (T, B, H_out)
        found = cell.grads(dXG, dGH)
        found["w_hh"] = dA.reshape(T * B, G).t() @ hr.reshape(T * B, H_out)  # dA^T H_r (G, H_out)
        if ln is not None:
            a_hat = (ln_in - ln_stats[0]) * ln_stats[1]
            found["ln_g"], found["ln_b"] = (dGH * a_hat).sum((0, 1)), dGH.sum((0, 1))
        grads = StepTensors(**found)
        return (None, None, dXG, None, None, None, dh_next, cell.dc0(), *grads)
