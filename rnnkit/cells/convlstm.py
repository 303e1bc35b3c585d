"""ConvLSTM (Shi et al. 2015): an LSTM whose matrix products are convolutions.

For a state ``h, c`` of shape ``(B, C_h, *S)`` (S = (L,) or (H, W)) and an input ``x_t``
``(B, C_in, *S)``, with ``*`` a convolution with 'same' padding::

    i, f, g, o = split(W * [x_t, h_{t-1}] + b)           # W: (4 C_h, C_in + C_h, *K)
    c_t = sigmoid(f) c_{t-1} + sigmoid(i) tanh(g)
    h_t = sigmoid(o) tanh(c_t)

The gate order is i, f, g, o as in torch.nn.LSTM. Shi et al. also add peephole terms
``W_c . c``; like most implementations we leave them out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def convlstm_step(
    x_t: Tensor, h: Tensor, c: Tensor, weight: Tensor, bias: Tensor | None
) -> tuple[Tensor, Tensor]:
    """One ConvLSTM step. x_t (B, C_in, *S), h and c (B, C_h, *S) -> (h_t, c_t)."""
    conv = _CONV[x_t.dim() - 2]
    gates = conv(torch.cat([x_t, h], 1), weight, bias, padding="same")  # (B, 4 C_h, *S)
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def convlstm_gates(
    x: Tensor, h: Tensor, state: tuple[Tensor, Tensor], weight: Tensor, bias: Tensor | None
) -> tuple[Tensor, dict[str, Tensor]]:
    """The cell states and gates of a whole sequence, from its inputs and hidden states.

    x (B, T, C_in, *S), h (B, T, C_h, *S) the outputs, state (h0, c0) each (B, C_h, *S).
    The gates of every step are one convolution over all ``B * T`` steps (``h_{t-1}`` is
    known); only ``c_t = f c_{t-1} + i g`` runs step by step. Returns ``c`` (B, T, C_h, *S)
    and the activations ``i, f, g, o`` (B, T, C_h, *S).
    """
    B, T = x.shape[0], x.shape[1]
    conv = _CONV[x.dim() - 3]
    h_prev = torch.cat([state[0][:, None], h[:, :-1]], 1)  # (B, T, C_h, *S)
    xh = torch.cat([x, h_prev], 2).flatten(0, 1)  # (B*T, C_in + C_h, *S)
    pre = conv(xh, weight, bias, padding="same").unflatten(0, (B, T))  # (B, T, 4 C_h, *S)
    i, f, g, o = pre.chunk(4, dim=2)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c, c_t = torch.empty_like(g), state[1]
    for t in range(T):
        c_t = f[:, t] * c_t + i[:, t] * g[:, t]
        c[:, t] = c_t
    return c, {"i": i, "f": f, "g": g, "o": o}
