"""Forecast accuracy: MAE, RMSE, MASE and sMAPE, on values in the data's own units.

All functions take ``actual`` and ``forecast`` arrays of the same shape (any shape, e.g.
``(W, H, C)`` windows x horizon x targets) and return a float averaged over every entry.

    MAE   = mean |y - f|
    RMSE  = sqrt(mean (y - f)^2)
    MASE  = MAE / mean_t |y_t - y_{t-m}|     the denominator is the in-sample MAE of the
                                             seasonal naive forecast on the training part
    sMAPE = 100 * mean 2|y - f| / (|y| + |f|)   (0 where y = f = 0), in percent
"""

from __future__ import annotations

import numpy as np


def _pair(actual: np.ndarray, forecast: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(actual, dtype=np.float64)
    f = np.asarray(forecast, dtype=np.float64)
    if a.shape != f.shape:
        raise ValueError(f"actual has shape {a.shape} but forecast has shape {f.shape}")
    if a.size == 0:
        raise ValueError("no values to score")
    return a, f


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute error."""
    a, f = _pair(actual, forecast)
    return float(np.mean(np.abs(a - f)))


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Root mean squared error."""
    a, f = _pair(actual, forecast)
    return float(np.sqrt(np.mean((a - f) ** 2)))


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric mean absolute percentage error, in percent (0..200)."""
    a, f = _pair(actual, forecast)
    den = np.abs(a) + np.abs(f)
    ratio = np.divide(2.0 * np.abs(a - f), den, out=np.zeros_like(den), where=den > 0)
    return float(100.0 * np.mean(ratio))


def mase_scale(train: np.ndarray, m: int = 1) -> np.ndarray:
    """The MASE denominator: in-sample MAE of the seasonal naive forecast, per column.

    Args:
        train: ``(N,)`` or ``(N, C)`` training values in time order.
        m: season length (1 = plain naive).

    Returns:
        ``()`` or ``(C,)`` mean of ``|y_t - y_{t-m}|`` over ``t = m .. N-1``.
    """
    y = np.asarray(train, dtype=np.float64)
    if m < 1:
        raise ValueError(f"seasonality m must be >= 1, got {m}")
    if len(y) <= m:
        raise ValueError(f"MASE needs more than m={m} training values, got {len(y)}")
    return np.mean(np.abs(y[m:] - y[:-m]), axis=0)


def mase(actual: np.ndarray, forecast: np.ndarray, scale: float | np.ndarray) -> float:
    """Mean absolute scaled error: ``|y - f|`` divided by :func:`mase_scale` (broadcast over
    the last axis for several targets), averaged."""
    a, f = _pair(actual, forecast)
    s = np.asarray(scale, dtype=np.float64)
    if np.any(s <= 0):
        raise ValueError("MASE scale is zero: the training series is constant")
    return float(np.mean(np.abs(a - f) / s))


def forecast_metrics(
    actual: np.ndarray, forecast: np.ndarray, scale: float | np.ndarray
) -> dict[str, float]:
    """``{"mae", "rmse", "mase", "smape"}`` of ``forecast`` against ``actual``."""
    return {
        "mae": mae(actual, forecast),
        "rmse": rmse(actual, forecast),
        "mase": mase(actual, forecast, scale),
        "smape": smape(actual, forecast),
    }
