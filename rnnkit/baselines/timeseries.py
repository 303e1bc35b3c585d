"""Nearest-neighbour baselines for time-series classification.

The baseline the UCR/UEA archive quotes for every dataset is the 1-nearest-neighbour
classifier under dynamic time warping (DTW): a test series gets the class of the training
series it can be warped onto most cheaply. DTW compares series of different lengths, so
it is also the baseline for variable-length data. The distances come from
`dtaidistance <https://dtaidistance.readthedocs.io>`_'s C implementation.

Cost and what is done about it: DTW between two series of length T inside a
Sakoe-Chiba band of half-width w fills about ``T (2w + 1)`` cells, for each of the
``N x M`` (train x test) pairs. :func:`nearest_neighbour_dtw` uses a band of 10% of the
series length (the common choice), resamples the series to at most ``max_steps`` steps
when they are longer, and gives up, saying so, when the work would still exceed
``max_cells``; what it did is returned beside the predictions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def resample(series: np.ndarray, steps: int) -> np.ndarray:
    """``series`` ``(T, D)`` linearly interpolated to ``(steps, D)`` (``steps >= 2``)."""
    T = series.shape[0]
    if steps == T:
        return series
    old = np.linspace(0.0, 1.0, T)
    new = np.linspace(0.0, 1.0, steps)
    return np.stack([np.interp(new, old, series[:, d]) for d in range(series.shape[1])], 1)


def nearest_neighbour_dtw(
    train: Sequence[np.ndarray],
    train_y: np.ndarray,
    test: Sequence[np.ndarray],
    *,
    window: float = 0.1,
    max_steps: int = 256,
    max_cells: float = 4e9,
) -> tuple[np.ndarray | None, dict[str, Any]]:
    """1-NN DTW predictions for ``test``.

    Args:
        train: ``N`` series ``(T_i, D)`` (lengths may differ); ``train_y``: ``(N,)`` labels.
        test: ``M`` series ``(T_j, D)``.
        window: the Sakoe-Chiba band's half-width as a fraction of the longest series.
        max_steps: series longer than this are resampled so that the longest has this
            many steps (all by the same factor, so relative lengths are kept).
        max_cells: the most DTW cells to fill; above it nothing is computed.

    Returns:
        ``(M,)`` predicted labels, or ``None`` when the work exceeded ``max_cells``, and
        what was done: ``window`` (steps), ``resampled_to`` (0 = not resampled) and, when
        nothing was computed, ``note``.
    """
    longest = max(s.shape[0] for s in [*train, *test])
    factor = min(1.0, max_steps / longest)
    if factor < 1.0:
        train = [resample(s, max(2, round(s.shape[0] * factor))) for s in train]
        test = [resample(s, max(2, round(s.shape[0] * factor))) for s in test]
    steps = max(2, round(longest * factor))
    band = max(1, math.ceil(window * steps))
    info: dict[str, Any] = {"window": band, "resampled_to": steps if factor < 1.0 else 0}
    mean_len = float(np.mean([s.shape[0] for s in [*train, *test]]))
    cells = len(train) * len(test) * mean_len * (2 * band + 1)
    if cells > max_cells:
        info["note"] = (
            f"1-NN DTW not computed: {len(train)} x {len(test)} pairs of ~{mean_len:.0f} "
            f"steps would fill {cells:.2g} cells (limit {max_cells:.2g})"
        )
        return None, info
    from dtaidistance import dtw_ndim

    series = [np.ascontiguousarray(s, dtype=np.float64) for s in [*train, *test]]
    N = len(train)
    dist = dtw_ndim.distance_matrix_fast(
        series, window=band, block=((0, N), (N, len(series))), compact=False
    )  # (N+M, N+M), filled in the block rows :N, columns N:
    nearest = np.asarray(dist[:N, N:]).argmin(axis=0)  # (M,)
    return np.asarray(train_y)[nearest], info
