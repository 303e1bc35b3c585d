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

from rnnkit.cells.scan import log_linear_scan


def g(x: Tensor) -> Tensor:
    """``x + 0.5`` for ``x >= 0``, ``sigmoid(x)`` below: continuous, positive, increasing."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: Tensor) -> Tensor:
    """``log(g(x))`` computed stably: ``log(x + 0.5)`` or ``-softplus(-x)``."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


def mingru_step(x_t: Tensor, h: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """One minGRU step. x_t (B, I), h (B, H), weight (2H, I), bias (2H,) -> h_t (B, H)."""
    k_z, k_h = F.linear(x_t, weight, bias).chunk(2, dim=-1)
    z = torch.sigmoid(k_z)
    return (1 - z) * h + z * g(k_h)


def minlstm_step(x_t: Tensor, h: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """One minLSTM step. x_t (B, I), h (B, H), weight (3H, I), bias (3H,) -> h_t (B, H)."""
    k_f, k_i, k_h = F.linear(x_t, weight, bias).chunk(3, dim=-1)
    f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
    return f / (f + i) * h + i / (f + i) * g(k_h)


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
) -> tuple[Tensor, Tensor]:
    """Run one minGRU/minLSTM layer (``kind``) over x (B, T, I) from h0 (B, H).

    ``mode="scan"`` is the parallel log-space scan, ``"reference"`` a loop over the step.
    Returns output (B, T, H) with zeros at padding and h_n (B, H), the state at each
    sequence's last real step. Padding sits after the real steps, so a causal scan over
    it cannot change them; its values are dropped.
    """
    if kind not in _STEPS:
        raise ValueError(f"kind must be 'mingru' or 'minlstm', got {kind!r}")
    B, T, _ = x.shape
    if mode == "scan":
        log_a, log_b = _COEFFICIENTS[kind](F.linear(x, weight, bias))  # (B, T, H) each
        h = log_linear_scan(log_a, log_b, h0)  # (B, T, H)
    elif mode == "reference":
        step, state, hs = _STEPS[kind], h0, []
        for t in range(T):
            state = step(x[:, t], state, weight, bias)
            hs.append(state)
        h = torch.stack(hs, 1)
    else:
        raise ValueError(f"mode must be 'scan' or 'reference', got {mode!r}")
    if lengths is None:
        return h, h[:, -1]
    real = torch.arange(T, device=x.device)[None, :] < lengths[:, None]  # (B, T)
    out = h * real[..., None].to(h.dtype)
    h_n = h.gather(1, (lengths - 1).view(B, 1, 1).expand(B, 1, h.shape[-1])).squeeze(1)
    return out, h_n
