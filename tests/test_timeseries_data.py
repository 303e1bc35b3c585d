"""Forecasting data: loaders, chronological splits and windows (no leakage), scaling, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnkit.data.builtin import is_available
from rnnkit.data.splits import split_points
from rnnkit.data.timeseries import (
    Scaler,
    future_times,
    gather,
    load_series,
    make_windows,
)
from rnnkit.errors import RnnkitError


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def monthly(tmp_path: Path) -> Path:
    n = 40
    df = pd.DataFrame(
        {
            "month": pd.date_range("2000-01-01", periods=n, freq="MS").strftime("%Y-%m"),
            "sales": np.arange(n, dtype=float) + 100,
            "temp": np.sin(np.arange(n)),
            "promo": np.arange(n) % 2,
        }
    )
    path = tmp_path / "sales.csv"
    df.to_csv(path, index=False)
    return path


def test_load_csv_with_covariates(monthly: Path) -> None:
    d = load_series(
        monthly, targets=["sales"], past_covariates=["temp"], future_covariates=["promo"]
    )
    assert d.targets.shape == (40, 1) and d.past.shape == (40, 1) and d.future.shape == (40, 1)
    assert np.issubdtype(d.time.dtype, np.datetime64)
    assert d.targets[0, 0] == 100 and d.future[1, 0] == 1
    # default targets: every column not used otherwise
    d2 = load_series(monthly, past_covariates=["temp"])
    assert d2.target_names == ["sales", "promo"]


def test_load_parquet_and_numeric_time(tmp_path: Path) -> None:
    df = pd.DataFrame({"year": [1990, 1991, 1992, 1993], "y": [1.0, 2.0, 4.0, 8.0]})
    path = tmp_path / "s.parquet"
    df.to_parquet(path)
    d = load_series(path)
    assert d.time.dtype == np.float64 and d.targets[:, 0].tolist() == [1, 2, 4, 8]
    assert future_times(d.time, 2).tolist() == [1994, 1995]


def test_long_format_with_static_columns(tmp_path: Path) -> None:
    rows = ["id,t,y,kind,size"]
    for sid, kind, size in (("a", "x", 1.0), ("b", "y", 2.0)):
        rows += [f"{sid},{t},{t * size},{kind},{size}" for t in range(6)]
    path = write_csv(tmp_path / "long.csv", "\n".join(rows) + "\n")
    d = load_series(
        path, time_column="t", targets=["y"], id_column="id",
        static_categorical=["kind"], static_numeric=["size"],
    )  # fmt: skip
    assert d.segments == [(0, 6), (6, 12)] and d.series_ids == ["a", "b"]
    assert d.static_cat.tolist() == [[1], [2]] and d.static_num[:, 0].tolist() == [1.0, 2.0]


@pytest.mark.skipif(not is_available("co2"), reason="statsmodels data files not installed")
def test_builtin_co2_interpolates_and_says_so() -> None:
    d = load_series("co2")
    assert d.filled == 59 and not np.isnan(d.targets).any()
    assert "59 missing values filled by linear interpolation" in d.describe()


@pytest.mark.skipif(not is_available("airline"), reason="sktime data files not installed")
def test_builtin_airline() -> None:
    d = load_series("airline")
    assert len(d.time) == 144 and d.seasonality == 12
    assert d.targets[0, 0] == 112 and d.targets[-1, 0] == 432
    assert str(future_times(d.time, 1)[0])[:7] == "1961-01"


def test_windows_never_see_the_future() -> None:
    n, L, H = 50, 6, 3
    segments = [(0, n)]
    n_train, n_val = split_points(n, 0.2, 0.2, context=L, horizon=H, what="s")
    assert (n_train, n_val) == (30, 10)
    y = np.arange(n, dtype=float)[:, None]  # y[t] = t
    bounds = {
        "train": [(0, n_train)],
        "val": [(n_train, n_train + n_val)],
        "test": [(n_train + n_val, n)],
    }
    seen_targets: dict[str, set[int]] = {}
    for split, b in bounds.items():
        w = make_windows(segments, b, context=L, horizon=H)
        assert len(w) > 0
        ctx, tgt = gather(y, w.origin - L, L)[..., 0], gather(y, w.origin, H)[..., 0]
        assert (ctx < w.origin[:, None]).all()  # inputs strictly before the origin
        assert (ctx.max(1) + 1 == tgt.min(1)).all()  # contiguous
        lo, hi = b[0]
        assert tgt.min() >= lo and tgt.max() < hi  # targets stay inside their split
        seen_targets[split] = set(tgt.ravel().astype(int))
    assert not seen_targets["train"] & seen_targets["test"]
    assert not seen_targets["val"] & seen_targets["test"]
    # test windows start right at the test part, their context reaching back into val
    w = make_windows(segments, bounds["test"], context=L, horizon=H)
    assert w.origin[0] == n_train + n_val and w.origin[-1] == n - H


def test_scaler_round_trip_and_fit_on_train_only() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(1, 50, size=(30, 2))
    for kind in ("standard", "minmax", "none"):
        for log in (False, True):
            s = Scaler.fit(x[:20], kind, log=log)
            assert np.allclose(s.inverse(s.transform(x)), x)
            assert Scaler.from_dict(s.to_dict()) == s
    s = Scaler.fit(x[:20], "standard")
    z = s.transform(x[:20])
    assert np.allclose(z.mean(0), 0) and np.allclose(z.std(0), 1)
    assert not np.allclose(s.transform(x).mean(0), 0)  # the test rows did not take part
    with pytest.raises(RnnkitError, match="strictly positive"):
        Scaler.fit(-x, "standard", log=True)


# ----------------------------------------------------------------------------- bad input
def test_missing_column_lists_the_columns_found(monthly: Path) -> None:
    with pytest.raises(RnnkitError, match=r"no target column 'revenue'.*month, sales, temp"):
        load_series(monthly, targets=["revenue"])
    with pytest.raises(RnnkitError, match="no past covariate column 'rain'"):
        load_series(monthly, targets=["sales"], past_covariates=["rain"])


def test_non_numeric_value_names_line_and_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", "t,y\n1,1.5\n2,abc\n3,2\n")
    with pytest.raises(RnnkitError, match=r"a\.csv line 3, column 'y': 'abc' is not a number"):
        load_series(path)


def test_time_that_does_not_parse(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", "t,y\n2020-01-01,1\nnot a date,2\n2020-01-03,3\n")
    with pytest.raises(RnnkitError, match=r"line 3, column 't': 'not a date' is not"):
        load_series(path)
    path = write_csv(tmp_path / "b.csv", "t,y\n2020-01,1\n2020-02,2\n")
    with pytest.raises(RnnkitError, match="format '%d.%m.%Y'"):
        load_series(path, time_format="%d.%m.%Y")


def test_time_not_increasing_names_the_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", "t,y\n1,1\n2,2\n2,3\n4,4\n")
    with pytest.raises(RnnkitError, match=r"line 4, column 't': time '2' does not increase"):
        load_series(path)


def test_nan_in_targets_refused_unless_interpolate(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", "t,y\n1,1\n2,\n3,3\n4,5\n")
    with pytest.raises(RnnkitError, match=r"line 3, target column 'y': missing value.*interpolate"):
        load_series(path)
    d = load_series(path, fill_missing="interpolate")
    assert d.targets[:, 0].tolist() == [1, 2, 3, 5] and d.filled == 1


def test_horizon_longer_than_test_part() -> None:
    with pytest.raises(RnnkitError, match=r"horizon=20 is longer than the test part \(10 of 100"):
        split_points(100, 0.1, 0.1, context=5, horizon=20, what="series 'x'")
    with pytest.raises(RnnkitError, match="train part"):
        split_points(30, 0.1, 0.1, context=30, horizon=2, what="series 'x'")


def test_unknown_file_kind_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RnnkitError, match="does not exist"):
        load_series(tmp_path / "nope.csv")
    bad = write_csv(tmp_path / "a.xlsx", "x")
    with pytest.raises(RnnkitError, match="expected a .csv"):
        load_series(bad)
