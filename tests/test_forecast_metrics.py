"""Forecast metrics against hand-computed values, and the naive baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnkit.baselines.forecasting import naive, seasonal_naive
from rnnkit.metrics.forecasting import forecast_metrics, mae, mase, mase_scale, rmse, smape


def test_mae_rmse_by_hand() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    f = np.array([2.0, 2.0, 1.0, 4.0])  # errors 1, 0, 2, 0
    assert mae(y, f) == pytest.approx(3 / 4)
    assert rmse(y, f) == pytest.approx(math.sqrt(5 / 4))


def test_smape_by_hand_and_zero_over_zero() -> None:
    y = np.array([100.0, 0.0, 50.0])
    f = np.array([110.0, 0.0, 25.0])
    # 2*10/210, 0 (0/0 defined as 0), 2*25/75
    expected = 100 * (20 / 210 + 0 + 50 / 75) / 3
    assert smape(y, f) == pytest.approx(expected)


def test_mase_scale_is_in_sample_seasonal_naive_mae() -> None:
    train = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    assert mase_scale(train, 1) == pytest.approx((2 + 1 + 3 + 1) / 4)
    assert mase_scale(train, 2) == pytest.approx((1 + 2 + 2) / 3)
    y, f = np.array([6.0, 7.0]), np.array([5.0, 9.0])  # MAE 1.5
    assert mase(y, f, mase_scale(train, 2)) == pytest.approx(1.5 / (5 / 3))


def test_mase_per_target_scale_broadcasts() -> None:
    train = np.array([[0.0, 0.0], [1.0, 10.0], [2.0, 20.0]])  # scales 1 and 10
    y = np.array([[[3.0, 30.0]]])  # (W=1, H=1, C=2)
    f = np.array([[[4.0, 40.0]]])
    assert mase(y, f, mase_scale(train, 1)) == pytest.approx(1.0)


def test_metrics_refuse_mismatched_shapes_and_constant_train() -> None:
    with pytest.raises(ValueError, match="shape"):
        mae(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="constant"):
        mase(np.ones(2), np.zeros(2), mase_scale(np.ones(5), 1))
    assert set(forecast_metrics(np.ones(3), np.ones(3), 1.0)) == {"mae", "rmse", "mase", "smape"}


def test_naive_and_seasonal_naive_use_only_the_past() -> None:
    y = np.arange(20, dtype=float)[:, None]  # y[t] = t
    origins = np.array([8, 12])
    f = naive(y, origins, 3)
    assert f.shape == (2, 3, 1)
    assert (f[0, :, 0] == 7).all() and (f[1, :, 0] == 11).all()
    s = seasonal_naive(y, origins, 6, m=4)
    # origin 8, h=0..5 -> rows 4,5,6,7,4,5 (the last observed season, repeated)
    assert s[0, :, 0].tolist() == [4, 5, 6, 7, 4, 5]
    assert (s < origins[:, None, None]).all()
    assert np.array_equal(seasonal_naive(y, origins, 3, m=1), f)
