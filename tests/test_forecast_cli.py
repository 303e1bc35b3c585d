"""End to end on a tiny series: train forecast -> evaluate -> forecast --plot/--out -> predict,
and the command-line errors (one line, exit code 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnkit.tools.cli import main

TINY = [
    "--set", "train.progress=false", "model.hidden_size=6", "model.embedding_dim=4",
    "data.context=8", "data.horizon=4", "train.batch_size=32", "train.early_stopping=0",
]  # fmt: skip


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    n = 72
    t = np.arange(n)
    df = pd.DataFrame(
        {
            "month": pd.date_range("2010-01-01", periods=n, freq="MS").strftime("%Y-%m"),
            "sales": 100 + t + 10 * np.sin(2 * np.pi * t / 12),
        }
    )
    path = tmp_path_factory.mktemp("data") / "sales.csv"
    df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def run_dir(series: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "f"
    args = ["train", "forecast", "--data", str(series), "--out", str(out), "--epochs", "2"]
    assert main([*args, *TINY, "data.seasonality=12"]) == 0
    return out


def test_train_writes_report_with_metrics_and_baselines(run_dir: Path) -> None:
    report = json.loads((run_dir / "report.json").read_text())
    assert report["task"] == "forecast"
    assert {"mae", "rmse", "mase", "smape"} <= set(report["test"])
    assert set(report["baselines"]) == {"naive", "seasonal_naive"}
    assert report["anchor"] is None  # anchors belong to the built-in airline series only
    scaler = json.loads((run_dir / "scaler.json").read_text())
    assert scaler["targets"]["kind"] == "standard" and len(scaler["targets"]["shift"]) == 1


def test_evaluate_reproduces_the_report(run_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["evaluate", str(run_dir)]) == 0
    report = json.loads((run_dir / "report.json").read_text())
    out = capsys.readouterr().out
    assert f"{report['test']['rmse']:.4f}"[:6] in out


def test_forecast_plot_and_csv(run_dir: Path, tmp_path: Path, capsys) -> None:
    png, csv = tmp_path / "f.png", tmp_path / "f.csv"
    args = ["forecast", str(run_dir), "--horizon", "6", "--plot", str(png), "--out", str(csv)]
    assert main(args) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    df = pd.read_csv(csv)
    assert list(df.columns) == ["time", "sales"] and len(df) == 6
    # written in the format the data was read with (inferred: %Y-%m)
    assert df["time"].iloc[0] == "2016-01" and df["time"].iloc[-1] == "2016-06"
    assert np.isfinite(df["sales"]).all()
    # backtest: the last steps of the data with their actual values
    assert main(["forecast", str(run_dir), "--backtest", "--out", str(csv)]) == 0
    df = pd.read_csv(csv)
    assert list(df.columns) == ["time", "sales", "sales_actual"] and len(df) == 4
    assert "backtest: MAE" in capsys.readouterr().out


def test_predict_from_values(run_dir: Path, capsys: pytest.CaptureFixture) -> None:
    values = ",".join(str(100 + i) for i in range(8))
    assert main(["predict", str(run_dir), values]) == 0
    assert capsys.readouterr().out.count(",") >= 3  # four forecast values


def test_cli_errors_are_one_line(run_dir: Path, series: Path, tmp_path: Path, capsys) -> None:
    assert main(["forecast", str(run_dir), "--horizon", "0"]) == 2
    assert "--horizon must be >= 1" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text(series.read_text().replace("month,sales", "month,revenue"))
    assert main(["forecast", str(run_dir), "--data", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "no target column 'sales'" in err and "month, revenue" in err
    assert err.count("\n") == 1
    args = ["train", "forecast", "--data", str(series), "--out", str(tmp_path / "r2")]
    assert main([*args, *TINY, "data.horizon=40"]) == 2
    assert "horizon=40 is longer than the test part" in capsys.readouterr().err


def test_long_format_with_covariates_and_static_features(tmp_path: Path) -> None:
    from rnnkit.api import load, train

    rows = []
    for sid, region, size in (("s1", "north", 1.0), ("s2", "south", 3.0)):
        for t in range(48):
            promo = t % 4 == 0
            y = 50 * size + t + 5 * np.sin(t / 2) + 8 * promo
            rows.append({"store": sid, "week": t, "units": y, "temp": np.cos(t), "promo": promo,
                         "region": region, "size": size})  # fmt: skip
    path = tmp_path / "long.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    data = {
        "source": str(path), "time_column": "week", "targets": ["units"],
        "past_covariates": ["temp"], "future_covariates": ["promo"], "id_column": "store",
        "static_categorical": ["region"], "static_numeric": ["size"],
        "context": 8, "horizon": 4, "test_fraction": 0.25, "val_fraction": 0.15,
    }  # fmt: skip
    model = {"hidden_size": 6, "embedding_dim": 4, "cell": "gru", "static_fusion": "init"}
    run = train("forecast", out=tmp_path / "run", verbose=False, data=data, model=model,
                train={"epochs": 1, "progress": False})  # fmt: skip
    assert run.report["data"].startswith(str(path)) and "2 series" in run.report["data"]
    run = load(tmp_path / "run")
    results = run.task.forecast_series(run.model, backtest=True)
    assert [r["id"] for r in results] == ["s1", "s2"]
    assert all(r["forecast"].shape == (4, 1) and r["actual"].shape == (4, 1) for r in results)
    with pytest.raises(ValueError, match="future covariates"):
        run.task.forecast_series(run.model)  # their values after the data are unknown
    # another file: an unseen region is coded as unknown (0) with the trained vocabulary
    other = pd.DataFrame(rows).assign(region=lambda df: df["region"].replace("south", "west"))
    other.to_csv(tmp_path / "other.csv", index=False)
    data2 = run.task.load_data(str(tmp_path / "other.csv"))
    assert data2.static_cat[:, 0].tolist() == [1, 0]
    assert np.isfinite(run.evaluate(str(tmp_path / "other.csv"))["rmse"])


def _csv(tmp_path: Path, values: np.ndarray) -> Path:
    dates = pd.date_range("2000-01-01", periods=len(values), freq="D").strftime("%Y-%m-%d")
    path = tmp_path / "y.csv"
    pd.DataFrame({"day": dates, "y": values}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("kind", ["cycles", "random_walk"])
def test_residual_auto_starts_from_seasonal_naive_only_where_it_is_better(tmp_path, kind):
    from rnnkit.tasks.forecast import ForecastTask
    from rnnkit.tasks.resolve import resolve_config

    t = np.arange(300)
    rng = np.random.default_rng(0)
    y = 50 + 10 * np.sin(2 * np.pi * t / 7) if kind == "cycles" else np.cumsum(rng.normal(size=300))
    keys = [f"data.source={_csv(tmp_path, y)}", "data.seasonality=7", "data.context=14"]
    keys.append("model.residual=auto")
    task = ForecastTask(resolve_config("forecast", overrides=[*keys, "data.horizon=3"]))
    task.prepare(tmp_path / "run")
    assert task.cfg.model.residual == ("seasonal" if kind == "cycles" else True)
    assert (task.build_model().season == 7) == (kind == "cycles")


def test_residual_seasonal_without_a_season_that_fits_is_refused(tmp_path, capsys):
    data = _csv(tmp_path, np.sin(np.arange(100) / 3))
    args = ["train", "forecast", "--data", str(data), "--out", str(tmp_path / "r"), *TINY]
    assert main([*args, "model.residual=seasonal", "data.seasonality=12"]) == 2
    err = capsys.readouterr().err
    assert "model.residual=seasonal needs a season of 2 to data.context=8 steps" in err
    assert not (tmp_path / "r" / "model.safetensors").exists()
