"""What the step functions of every family share: the options around a cell's own math.

A step of any family is ``h_t = blend(keep, h_{t-1}, cell(x_t, h_{t-1} * d))``: the family's
own math (``rnnkit.cells.lstm.lstm_step`` ...) in the middle, and around it the options,
each written once here:

* :func:`layer_norm`: ``LN(a; gain, bias)`` over the last dimension (``layer_norm``);
* :func:`projections`: the input and recurrent pre-activations ``LN(W_ih x_t)`` and
  ``LN(W_hh (h_{t-1} * d))`` (``d`` the variational ``recurrent_dropout`` mask);
* :func:`zoneout`: ``k * h_{t-1} + (1 - k) * h~`` (``zoneout``; ``k`` also holds the state
  over padding when the caller folds the step mask into it).

Every option is off when its argument is None, and the step is then the plain equation.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

EPS = 1e-5  # layer-norm epsilon (as torch.nn.LayerNorm)

Pair = tuple[Tensor, Tensor]


def layer_norm(a: Tensor, ln: Pair | None) -> Tensor:
    """``LN(a)`` over its last dimension with ``ln = (gain, bias)``; ``a`` itself when None."""
    return a if ln is None else F.layer_norm(a, a.shape[-1:], ln[0], ln[1], EPS)


def projections(
    x_t: Tensor,
    h: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    ln_ih: Pair | None = None,
    ln_hh: Pair | None = None,
    rec_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """``(LN(x_t W_ih^T), LN((h * d) W_hh^T))``, each ``(..., G)``, without biases."""
    hr = h if rec_mask is None else h * rec_mask  # variational dropout of h_{t-1}
    return layer_norm(x_t @ w_ih.t(), ln_ih), layer_norm(hr @ w_hh.t(), ln_hh)


def zoneout(keep: Tensor | None, old: Tensor, new: Tensor) -> Tensor:
    """``keep * old + (1 - keep) * new``: zoneout's blend; ``new`` when ``keep`` is None."""
    return new if keep is None else keep * old + (1 - keep) * new


def add_bias(a: Tensor, *biases: Tensor | None) -> Tensor:
    """``a`` plus every bias that is not None."""
    for b in biases:
        if b is not None:
            a = a + b
    return a
