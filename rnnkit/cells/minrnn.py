"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): the cell math.

Both drop the hidden state from the gates, so a layer is a *linear* recurrence in ``h``
whose coefficients depend on the input only; training runs it as a parallel scan in log
space (:func:`rnnkit.cells.scan.log_linear_scan`), generation step by step. With
``g(x) = x + 0.5 if x >= 0 else sigmoid(x)`` (positive, so candidates have a logarithm)::

    minGRU:   z_t = sigmoid(k_z),  h~_t = g(k_h),   h_t = (1 - z_t) * h_{t-1} + z_t * h~_t
    minLSTM:  f_t = sigmoid(k_f),  i_t = sigmoid(k_i),  h~_t = g(k_h),
              f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t),
              h_t = f'_t * h_{t-1} + i'_t * h~_t

where ``k = x_t @ W.T + b`` holds the gate pre-activations in the order (z, h) for minGRU
and (f, i, h) for minLSTM. The step functions are the reference; the scan functions
compute the same numbers (to float precision) for a whole sequence at once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells._step import Pair, add_bias, layer_norm, zoneout
from rnnkit.cells.padded import last_step, step_mask
from rnnkit.cells.scan import log_linear_scan


def g(x: Tensor) -> Tensor:
    """``x + 0.5`` for ``x >= 0``, ``sigmoid(x)`` below: continuous, positive, increasing."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: Tensor) -> Tensor:
    """``log(g(x))`` computed stably: ``log(x + 0.5)`` or ``-softplus(-x)``."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


def input_part(x: Tensor, weight: Tensor, bias: Tensor | None, ln_ih: Pair | None) -> Tensor:
    """The gate pre-activations ``k = LN(x W^T) + b`` (``x W^T + b`` without layer norm),
    ``(..., G H)`` for x ``(..., I)``: all a step reads of its input, so one product
    gives every step's ``k`` at once (the scan)."""
    if ln_ih is None:
        return F.linear(x, weight, bias)
    return add_bias(layer_norm(x @ weight.t(), ln_ih), bias)


def mingru_step(
    x_t: Tensor,
    h: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    *,
    ln_ih: Pair | None = None,
    keep_h: Tensor | None = None,
    gates: dict[str, Tensor] | None = None,
) -> Tensor:
    """One minGRU step. x_t (B, I), h (B, H), weight (2H, I), bias (2H,) -> h_t (B, H).

    Options: ``ln_ih`` (gain, bias) (2H,) layer-normalises ``x_t W^T``; ``keep_h`` (B, H)
    blends zoneout ``k h + (1 - k) h'``. ``gates`` receives ``z`` (B, H). The leading
    ``(B,)`` may be any batch shape (``(B, T)``: every step at once, as the trace runs it).
    """
    k_z, k_h = input_part(x_t, weight, bias, ln_ih).chunk(2, dim=-1)
    z = torch.sigmoid(k_z)
    if gates is not None:
        gates.update(z=z)
    return zoneout(keep_h, h, (1 - z) * h + z * g(k_h))


def minlstm_step(
    x_t: Tensor,
    h: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    *,
    ln_ih: Pair | None = None,
    keep_h: Tensor | None = None,
    gates: dict[str, Tensor] | None = None,
) -> Tensor:
    """One minLSTM step. x_t (B, I), h (B, H), weight (3H, I), bias (3H,) -> h_t (B, H).

    Options as :func:`mingru_step`; ``gates`` receives the normalised gates ``f, i``.
    """
    k_f, k_i, k_h = input_part(x_t, weight, bias, ln_ih).chunk(3, dim=-1)
    f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
    f, i = f / (f + i), i / (f + i)  # normalised: f' + i' = 1
    if gates is not None:
        gates.update(f=f, i=i)
    return zoneout(keep_h, h, f * h + i * g(k_h))


def _mingru_log_coefficients(k: Tensor) -> tuple[Tensor, Tensor]:
    """log a_t = log(1 - z_t), log b_t = log z_t + log g(k_h), from k (B, T, 2H)."""
    k_z, k_h = k.chunk(2, dim=-1)
    return -F.softplus(k_z), -F.softplus(-k_z) + log_g(k_h)


def _minlstm_log_coefficients(k: Tensor) -> tuple[Tensor, Tensor]:
    """log f'_t and log i'_t + log g(k_h), from k (B, T, 3H)."""
    k_f, k_i, k_h = k.chunk(3, dim=-1)
    diff = F.softplus(-k_f) - F.softplus(-k_i)  # log(i / f)
    return -F.softplus(diff), -F.softplus(-diff) + log_g(k_h)


_STEPS = {"mingru": mingru_step, "minlstm": minlstm_step}
_COEFFICIENTS = {"mingru": _mingru_log_coefficients, "minlstm": _minlstm_log_coefficients}


def minrnn_sequence(
    kind: str,
    x: Tensor,
    lengths: Tensor | None,
    h0: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    *,
    mode: str = "scan",
    ln_ih: Pair | None = None,
    zoneout_h: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Run one minGRU/minLSTM layer (``kind``) over x (B, T, I) from h0 (B, H).

    ``mode="scan"`` is the parallel log-space scan, ``"reference"`` a loop over the step.
    Options: ``ln_ih`` (gain, bias) (G H,); ``zoneout_h`` keep weights broadcastable to
    (B, T, H) (reference only: 0/1 keep weights would put log 0 into the scan).
    Returns output (B, T, H) with zeros at padding and h_n (B, H), the state at each
    sequence's last real step. Padding sits after the real steps, so a causal scan over
    it cannot change them; its values are dropped.
    """
    if kind not in _STEPS:
        raise ValueError(f"kind must be 'mingru' or 'minlstm', got {kind!r}")
    B, T, _ = x.shape
    if mode == "scan":
        if zoneout_h is not None:
            raise ValueError("the scan has no zoneout (log 0 of a kept step): use the reference")
        log_a, log_b = _COEFFICIENTS[kind](input_part(x, weight, bias, ln_ih))  # (B, T, H) each
        h = log_linear_scan(log_a, log_b, h0)  # (B, T, H)
    elif mode == "reference":
        step, state, hs = _STEPS[kind], h0, []
        keep = None if zoneout_h is None else zoneout_h.expand(B, T, h0.shape[-1])
        for t in range(T):
            k = None if keep is None else keep[:, t]
            state = step(x[:, t], state, weight, bias, ln_ih=ln_ih, keep_h=k)
            hs.append(state)
        h = torch.stack(hs, 1)
    else:
        raise ValueError(f"mode must be 'scan' or 'reference', got {mode!r}")
    if lengths is None:
        return h, h[:, -1]
    out = h * step_mask(lengths, T, x.device)[..., None].to(h.dtype)  # zero at padding
    return out, last_step(h, lengths)
