"""The forecasts a user tries first, on exactly the windows the model is scored on.

For a window with origin ``t`` (first target step) and horizon ``H``:

    naive            f[t+h] = y[t-1]                      the last observed value
    seasonal naive   f[t+h] = y[t+h - m*(h//m + 1)]      the last observed value of the
                                                          same season (m = season length)

Both use only values before the origin, like the model.
"""

from __future__ import annotations

import numpy as np


def naive(y: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """Repeat the last observed value.

    Args:
        y: ``(N, C)`` the series (raw units).
        origins: ``(W,)`` int64 first target rows (``>= 1``).
        horizon: ``H`` steps.

    Returns:
        ``(W, H, C)`` forecasts.
    """
    last = y[origins - 1]  # (W, C)
    return np.repeat(last[:, None, :], horizon, axis=1)


def seasonal_naive(y: np.ndarray, origins: np.ndarray, horizon: int, m: int) -> np.ndarray:
    """Repeat the last observed season: ``f[t+h] = y[t+h - m*(h//m + 1)]``.

    Args:
        y: ``(N, C)`` the series; origins: ``(W,)`` with ``origins >= m``; horizon: ``H``;
        m: the season length (``m = 1`` is :func:`naive`).

    Returns:
        ``(W, H, C)`` forecasts.
    """
    if m < 1:
        raise ValueError(f"season length m must be >= 1, got {m}")
    h = np.arange(horizon)
    src = origins[:, None] + h[None, :] - m * (h[None, :] // m + 1)  # (W, H), all < origin
    if (src < 0).any():
        raise ValueError(f"seasonal naive needs {m} observed steps before every origin")
    return y[src]
