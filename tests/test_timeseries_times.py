"""Time stamps keep their full precision: parsing infers one format (or refuses), and the
forecast CSV writes every stamp exactly (sub-daily, daily, monthly and numeric times)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnkit.data.timeseries import format_times, future_times, load_series
from rnnkit.errors import RnnkitError
from rnnkit.tools.cli import main


def _write(tmp_path: Path, times: list[str], name: str = "s.csv") -> Path:
    values = 10 + np.sin(np.arange(len(times)))
    path = tmp_path / name
    pd.DataFrame({"time": times, "y": values}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("freq", "fmt", "text_format"),
    [
        ("30min", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S"),
        ("h", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M"),
        ("D", "%Y-%m-%d", "%Y-%m-%d"),
        ("MS", "%Y-%m", "%Y-%m"),
    ],
)
def test_inferred_format_round_trips_past_and_future(
    tmp_path: Path, freq: str, fmt: str, text_format: str
) -> None:
    stamps = pd.date_range("2000-06-05 00:00", periods=60, freq=freq)
    data = load_series(_write(tmp_path, list(stamps.strftime(text_format))))
    assert data.time_format == fmt
    assert (data.time == stamps.to_numpy(dtype="datetime64[ns]")).all()
    ahead = future_times(data.time, 5)
    expected = pd.date_range(stamps[-1], periods=6, freq=freq)[1:]
    assert (ahead == expected.to_numpy(dtype="datetime64[ns]")).all()
    text = format_times(ahead, data.time_format)
    back = pd.to_datetime(pd.Series(text), format="ISO8601")
    assert (back.to_numpy(dtype="datetime64[ns]") == ahead).all()
    assert len(set(text)) == len(text)  # no two stamps collapse onto one string


def test_format_that_cannot_hold_the_stamps_is_not_used() -> None:
    stamps = pd.date_range("2000-08-28 00:30", periods=4, freq="30min").to_numpy()
    text = format_times(stamps, "%Y-%m-%d")  # a day-only format would drop the time of day
    assert text == ["2000-08-28 00:30", "2000-08-28 01:00", "2000-08-28 01:30", "2000-08-28 02:00"]


def test_numeric_times_print_exactly() -> None:
    times = np.array([1949.0, 2000.5, 1234567.25, 0.1 + 0.2])
    text = format_times(times)
    assert text[:2] == ["1949", "2000.5"]
    assert [float(t) for t in text] == list(times)


def test_ambiguous_day_and_month_are_refused(tmp_path: Path) -> None:
    times = [f"{d:02d}/01/2000" for d in range(1, 13)]  # every value reads either way
    with pytest.raises(RnnkitError, match="data.time_format"):
        load_series(_write(tmp_path, times))
    data = load_series(_write(tmp_path, times), time_format="%d/%m/%Y")
    assert pd.DatetimeIndex(data.time).day.tolist() == list(range(1, 13))


def test_unknown_format_and_mixed_formats_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RnnkitError, match="cannot tell the time format"):
        load_series(_write(tmp_path, [f"week {i}" for i in range(10)]))
    mixed = [f"2000-01-{d:02d}" for d in range(1, 10)] + ["Jan 10 2000"]
    with pytest.raises(RnnkitError, match="line 11"):
        load_series(_write(tmp_path, mixed))


def test_forecast_csv_keeps_time_of_day(tmp_path: Path) -> None:
    stamps = pd.date_range("2000-06-05 00:30", periods=96, freq="30min")
    path = _write(tmp_path, list(stamps.strftime("%Y-%m-%d %H:%M:%S")))
    run = tmp_path / "run"
    tiny = [
        "--set", "train.progress=false", "model.hidden_size=4", "model.embedding_dim=4",
        "data.context=8", "data.horizon=4", "train.batch_size=32", "train.early_stopping=0",
    ]  # fmt: skip
    assert main(["train", "forecast", "--data", str(path), "--out", str(run), "--epochs", "1",
                 *tiny]) == 0  # fmt: skip
    out = tmp_path / "f.csv"
    assert main(["forecast", str(run), "--horizon", "4", "--out", str(out)]) == 0
    written = pd.read_csv(out)["time"].tolist()
    expected = pd.date_range(stamps[-1], periods=5, freq="30min")[1:]
    assert written == list(expected.strftime("%Y-%m-%d %H:%M:%S"))
