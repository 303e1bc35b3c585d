"""A parallel scan for the linear recurrence ``h_t = a_t * h_{t-1} + b_t`` in log space.

With ``A_t = a_1 * ... * a_t`` the recurrence unrolls to
``h_t = A_t * h_0 + sum_{k<=t} (A_t / A_k) * b_k``. For positive ``a`` and ``b`` the sum is
``exp(a*_t + logcumsumexp_k(log b_k - a*_k))`` with ``a*_t = cumsum(log a)_t`` (Heinsen 2023),
which is stable in float32 over thousands of steps and runs as two cumulative ops over
time instead of ``T`` sequential steps. ``h_0`` enters linearly, so it may have any sign.
"""

from __future__ import annotations

import torch
from torch import Tensor


def log_linear_scan(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    """All states of ``h_t = a_t * h_{t-1} + b_t`` from log coefficients, in parallel.

    Shapes: log_a, log_b (B, T, H); h0 (B, H) -> h (B, T, H) (h_1 .. h_T).
    """
    a_star = torch.cumsum(log_a, dim=1)  # (B, T, H) log A_t
    log_h = a_star + torch.logcumsumexp(log_b - a_star, dim=1)  # log of the b-driven part
    return torch.exp(log_h) + h0[:, None, :] * torch.exp(a_star)
