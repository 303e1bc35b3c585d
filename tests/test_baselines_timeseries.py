"""1-NN DTW, the time-series classification baseline (rnnkit.baselines.timeseries)."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.baselines.timeseries import nearest_neighbour_dtw, resample


def bump(T: int, at: float) -> np.ndarray:
    """A Gaussian bump centred at fraction ``at`` of ``T`` steps, as ``(T, 1)``."""
    t = np.linspace(0.0, 1.0, T)
    return np.exp(-(((t - at) / 0.05) ** 2))[:, None]


def test_dtw_matches_shifted_shapes_that_euclidean_confuses() -> None:
    # class 0: one bump; class 1: two bumps. Test series are shifted and of other lengths.
    train = [bump(60, 0.3), bump(60, 0.3) + bump(60, 0.7)]
    test = [bump(80, 0.45), bump(50, 0.2) + bump(50, 0.6), bump(70, 0.6)]
    pred, info = nearest_neighbour_dtw(train, np.array([0, 1]), test, window=0.3)
    assert pred is not None and pred.tolist() == [0, 1, 0]
    assert info == {"window": 24, "resampled_to": 0}  # 30% of the 80 steps


def test_multivariate_series_use_every_channel() -> None:
    a, b = bump(40, 0.3), bump(40, 0.7)
    train = [np.hstack([a, a]), np.hstack([a, b])]  # channel 2 alone tells them apart
    pred, _ = nearest_neighbour_dtw(train, np.array(["same", "other"]), [np.hstack([a, b])])
    assert pred is not None and pred.tolist() == ["other"]


def test_long_series_are_resampled_and_too_much_work_is_refused_with_a_note() -> None:
    train = [bump(1000, 0.3), bump(1000, 0.7)]
    pred, info = nearest_neighbour_dtw(train, np.array([0, 1]), [bump(500, 0.7)], max_steps=100)
    assert pred is not None and pred.tolist() == [1]
    assert info["resampled_to"] == 100 and info["window"] == 10
    pred, info = nearest_neighbour_dtw(train, np.array([0, 1]), train, max_cells=1e3)
    assert pred is None and "not computed: 2 x 2 pairs" in info["note"]


def test_resample_keeps_the_ends_and_the_channels() -> None:
    x = np.stack([np.arange(5.0), -np.arange(5.0)], axis=1)  # (5, 2)
    y = resample(x, 9)
    assert y.shape == (9, 2)
    assert y[0].tolist() == [0.0, 0.0] and y[-1].tolist() == [4.0, -4.0]
    assert y[1].tolist() == pytest.approx([0.5, -0.5])
