"""ConvLSTM (Shi et al. 2015): an LSTM whose matrix products are convolutions.

For a state ``h, c`` of shape ``(B, C_h, *S)`` (S = (L,) or (H, W)) and an input ``x_t``
``(B, C_in, *S)``, with ``*`` a convolution with 'same' padding::

    i, f, g, o = split(W * [x_t, h_{t-1}] + b)           # W: (4 C_h, C_in + C_h, *K)
    c_t = sigmoid(f) c_{t-1} + sigmoid(i) tanh(g)
    h_t = sigmoid(o) tanh(c_t)

The gate order is i, f, g, o as in torch.nn.LSTM. Shi et al. also add peephole terms
``W_c . c``; here they are an option (``peephole``, one weight per channel), with the other
cell options of the LSTM (:func:`convlstm_step`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells._step import EPS, Pair, zoneout
from rnnkit.cells.padded import shift_right

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _channels(v: Tensor, like: Tensor) -> Tensor:
    """A per-channel vector ``(C,)`` viewed to broadcast over ``like`` ``(B, C, *S)``."""
    return v.view(-1, *([1] * (like.dim() - 2)))


def _norm(a: Tensor, ln: Pair | None) -> Tensor:
    """Layer norm of ``a`` ``(B, C, *S)`` over its channels and space, with a per-channel
    gain and bias ``ln`` each ``(C,)`` (group norm with one group); ``a`` when None."""
    return a if ln is None else F.group_norm(a, 1, ln[0], ln[1], EPS)


def convlstm_step(
    x_t: Tensor,
    h: Tensor,
    c: Tensor,
    weight: Tensor,
    bias: Tensor | None,
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
    """One ConvLSTM step. x_t (B, C_in, *S), h and c (B, C_h, *S) -> (h_t, c_t).

    The cell options, as on the LSTM (None: off): ``ln_ih``, ``ln_hh`` (gain, bias)
    ``(4 C_h,)`` layer-normalise the input and the recurrent convolutions separately over
    channels and space, ``ln_c`` ``(C_h,)`` the cell state before its ``tanh``;
    ``peephole`` ``(w_ci, w_cf, w_co)`` each ``(C_h,)``, one weight per channel (Shi et
    al.'s are per pixel; per channel keeps the layer free of a fixed spatial size);
    ``rec_mask`` (B, C_h, *S) multiplies ``h`` before its convolution (recurrent dropout);
    ``keep_h``, ``keep_c`` (B, C_h, *S) blend zoneout ``k s + (1 - k) s'``. A DropConnect
    of the recurrent half of ``weight`` is the caller's (``weight`` comes masked).
    ``gates`` receives the activations ``i, f, g, o`` (B, C_h, *S).
    """
    conv = _CONV[x_t.dim() - 2]
    hr = h if rec_mask is None else h * rec_mask  # variational dropout of h_{t-1}
    if ln_ih is None and ln_hh is None:  # one convolution over [x_t, h]
        a = conv(torch.cat([x_t, hr], 1), weight, bias, padding="same")  # (B, 4 C_h, *S)
    else:  # the two parts normalised separately, then the bias
        n_in = x_t.shape[1]
        xa = _norm(conv(x_t, weight[:, :n_in], None, padding="same"), ln_ih)
        ha = _norm(conv(hr, weight[:, n_in:], None, padding="same"), ln_hh)
        a = xa + ha if bias is None else xa + ha + _channels(bias, xa)
    ai, af, ag, ao = a.chunk(4, dim=1)
    if peephole is not None:  # i and f peek at c_{t-1}
        ai = ai + _channels(peephole[0], c) * c
        af = af + _channels(peephole[1], c) * c
    i, f, g = torch.sigmoid(ai), torch.sigmoid(af), torch.tanh(ag)
    c_new = f * c + i * g
    if peephole is not None:  # o peeks at c_t
        ao = ao + _channels(peephole[2], c) * c_new
    o = torch.sigmoid(ao)
    h_new = o * torch.tanh(_norm(c_new, ln_c))
    if gates is not None:
        gates.update(i=i, f=f, g=g, o=o)
    return zoneout(keep_h, h, h_new), zoneout(keep_c, c, c_new)


def convlstm_gates(
    x: Tensor,
    h: Tensor,
    state: tuple[Tensor, Tensor],
    weight: Tensor,
    bias: Tensor | None,
    **options: Any,
) -> tuple[Tensor, dict[str, Tensor]]:
    """The cell states and gates of a whole sequence, from its inputs and hidden states,
    by :func:`convlstm_step` with ``gates`` (the math that ran, no second copy).

    x (B, T, C_in, *S), h (B, T, C_h, *S) the outputs, state (h0, c0) each (B, C_h, *S);
    ``options`` those of :func:`convlstm_step` (``zoneout_h``, ``zoneout_c``: the run's keep
    weights, broadcastable to (B, T, C_h, *S)). Returns ``c`` (B, T, C_h, *S) and the
    activations ``i, f, g, o`` (B, T, C_h, *S); values at padded steps are meaningless.
    """
    T = x.shape[1]
    zh, zc = options.pop("zoneout_h", None), options.pop("zoneout_c", None)
    h_prev = shift_right(h, state[0])  # (B, T, C_h, *S)
    c_t, cs, steps = state[1], [], []
    for t in range(T):
        kh = None if zh is None else zh.expand_as(h)[:, t]
        kc = None if zc is None else zc.expand_as(h)[:, t]
        found: dict[str, Tensor] = {}
        _, c_t = convlstm_step(
            x[:, t], h_prev[:, t], c_t, weight, bias, keep_h=kh, keep_c=kc, gates=found,
            **options,
        )  # fmt: skip
        cs.append(c_t)
        steps.append(found)
    gates = {name: torch.stack([s[name] for s in steps], 1) for name in steps[0]}
    return torch.stack(cs, 1), gates
