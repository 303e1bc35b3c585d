"""Forecaster: series in, the next values out; the forecast task's model and scaler on
the training engine, a run directory every command reads, scikit-learn's conventions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV

from rnnkit.data.arrays import pad
from rnnkit.deploy.server import create_app
from rnnkit.errors import RnnkitError
from rnnkit.estimators import Forecaster, load
from rnnkit.tasks.resolve import default_config
from rnnkit.tools.cli import main


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models step many times faster on one thread on a shared, loaded machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TINY = {"hidden_size": 8, "embedding_dim": 8, "lr": 0.01, "context": 12, "horizon": 3}


def _wave(n: int = 160, phase: float = 0.0, level: float = 50.0) -> np.ndarray:
    t = np.arange(n)
    return level + 5 * np.sin(2 * np.pi * t / 12 + phase) + 0.05 * t  # (n,)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "fc"
    series = _wave()
    fc = Forecaster(**TINY, epochs=25, seed=1).fit(series, run_dir=run_dir)
    return fc, series, run_dir


def test_parameters_are_the_config_keys_with_their_defaults():
    params = Forecaster().get_params()
    assert params.pop("verbose") is False
    assert set(params) == set(Forecaster.param_keys())
    assert params == Forecaster.params_from_config(default_config("array_forecast"))
    assert Forecaster.param_keys()["residual"] == "model.residual"
    assert Forecaster.param_keys()["context"] == "data.context"
    assert clone(Forecaster(horizon=5)).get_params()["horizon"] == 5


def test_one_series_in_its_next_values_out(fitted):
    fc, series, _ = fitted
    assert fc.n_features_in_ == 1 and "val.mae" in fc.history_[0]
    pred = fc.predict(series)
    assert pred.shape == (3,)
    truth = _wave(163)[-3:]
    assert np.abs(pred - truth).max() < 2.0  # an amplitude-5 wave, forecast within 2
    assert fc.score(series) > 0.5  # backtest: the last 3 values from the steps before
    assert fc.predict(series, horizon=7).shape == (7,)  # longer: forecasts fed back


def test_every_input_form_gives_the_same_forecasts(fitted):
    fc, series, _ = fitted
    others = [_wave(160, 1.0), _wave(140, 2.0, 40.0)]
    as_list = fc.predict([series, *others])  # (3, 3): series of their own lengths
    assert as_list.shape == (3, 3)
    np.testing.assert_allclose(as_list[0], fc.predict(series), rtol=1e-6)
    padded, lengths = pad([s.astype(np.float32)[:, None] for s in [series, *others]])
    np.testing.assert_allclose(fc.predict(padded, lengths=lengths), as_list, rtol=1e-6)
    two_d = np.stack([series, others[0]])  # (2, 160): two univariate series
    np.testing.assert_allclose(fc.predict(two_d), as_list[:2], rtol=1e-6)
    np.testing.assert_allclose(fc.predict(series.tolist()), as_list[0], rtol=1e-6)


def test_multivariate_series_forecast_every_value():
    X = [np.stack([_wave(80, p), -_wave(80, p)], axis=1) for p in (0.0, 1.0)]  # (80, 2) each
    fc = Forecaster(**TINY, epochs=1).fit(X)
    assert fc.n_features_in_ == 2 and fc.predict(X).shape == (2, 3, 2)
    with pytest.raises(RnnkitError, match=r"series of 1 value\(s\) per step; the model was "
                       r"fitted on series of 2"):  # fmt: skip
        fc.predict(_wave(80))


def test_the_run_directory_comes_back_and_every_command_reads_it(fitted, tmp_path, capsys):
    fc, series, run_dir = fitted
    back = load(run_dir)
    assert isinstance(back, Forecaster) and back.get_params() == fc.get_params()
    np.testing.assert_array_equal(back.predict(series), fc.predict(series))
    assert main(["evaluate", str(run_dir), "--split", "val", "--json"]) == 0
    assert '"mase"' in capsys.readouterr().out
    assert main(["forecast", str(run_dir), "--out", str(tmp_path / "f.csv")]) == 0
    csv = (tmp_path / "f.csv").read_text().splitlines()
    assert csv[0] == "time,y" and len(csv) == 4  # the 3 steps after the kept series
    np.testing.assert_allclose([float(r.split(",")[1]) for r in csv[1:]], fc.predict(series),
                               rtol=1e-5)  # fmt: skip
    text = ",".join(f"{v:.6f}" for v in series[-12:])
    assert main(["predict", "--json", str(run_dir), "--", text]) == 0
    assert '"forecast"' in capsys.readouterr().out
    html = tmp_path / "why.html"
    assert main(["explain", str(run_dir), "val:0", "--out", str(html)]) == 0
    assert "next 3 step(s) (data units)" in capsys.readouterr().out
    assert main(["export", str(run_dir), "--out", str(tmp_path / "fc.onnx")]) == 0
    client = TestClient(create_app(run_dir, engine="onnx"), raise_server_exceptions=False)
    r = client.post("/forecast", json={"series": [series[-12:].tolist()]})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["forecasts"][0], fc.predict(series[-12:]), rtol=1e-4)


def test_a_grid_search_over_two_hyper_parameters_scores_by_backtest():
    X = np.stack([_wave(60, p) for p in (0.0, 0.5, 1.0, 1.5)])  # (4, 60)
    grid = {"hidden_size": [4, 8], "context": [6, 12]}
    search = GridSearchCV(Forecaster(**{**TINY, "hidden_size": 4}, epochs=1), grid, cv=2)
    search.fit(X)
    assert len(search.cv_results_["params"]) == 4
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.predict(X).shape == (4, 3)


def test_predict_before_fit_is_a_not_fitted_error():
    with pytest.raises(NotFittedError):
        Forecaster().predict(_wave())


@pytest.mark.parametrize(
    ("X", "message"),
    [
        ([], "X is empty; expected at least one sequence"),
        (np.r_[_wave(40), np.nan], r"X\[0\] holds NaN or infinity"),
        (["1", "2", "3"], "X holds text; this estimator takes numbers"),
        ([np.zeros((40, 1)), np.zeros((40, 2))], "different feature sizes"),
        (_wave(10), r"series 'X\[0\]': data.horizon=3 is longer than the validation part "
         r"\(1 of 10 steps"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_with_one_clear_message(X, message):
    with pytest.raises(RnnkitError, match=message):
        Forecaster(**TINY, epochs=1).fit(X)


def test_predict_and_score_refuse_what_does_not_fit(fitted):
    fc, series, _ = fitted
    with pytest.raises(RnnkitError, match=r"series 'X\[0\]': 5 steps before the forecast "
                       r"origin, fewer than data.context=12"):  # fmt: skip
        fc.predict(series[:5])
    with pytest.raises(RnnkitError, match=r"y has shape \(2,\); expected the forecasts' "
                       r"shape \(3,\)"):  # fmt: skip
        fc.score(series, [1.0, 2.0])
    assert fc.score(series[:-3], series[-3:]) == pytest.approx(fc.score(series))


def test_a_table_key_is_refused_by_the_task(tmp_path):
    import rnnkit

    with pytest.raises(RnnkitError, match="data.past_covariates: array_forecast reads series"):
        rnnkit.train("array_forecast", out=tmp_path / "r", verbose=False,
                     data={"source": "x.npz", "past_covariates": ["temp"]})  # fmt: skip


def test_the_task_trains_from_an_npz_file_of_series(tmp_path, capsys):
    import rnnkit

    np.savez(tmp_path / "s.npz", x_0=_wave(60), x_1=_wave(50, 1.0))
    run = rnnkit.train("array_forecast", out=tmp_path / "r", verbose=False,
                       data={"source": str(tmp_path / "s.npz"), "context": 6, "horizon": 2,
                             "test_fraction": 0.2},
                       model={"hidden_size": 4, "embedding_dim": 4},
                       train={"epochs": 1, "progress": False, "tensorboard": False})  # fmt: skip
    assert run.config.data.targets == ["y"]
    np.savez(tmp_path / "new.npz", x_0=_wave(30, 2.0))
    out = tmp_path / "next.csv"
    assert main(["forecast", str(run.run_dir), "--data", str(tmp_path / "new.npz"),
                 "--out", str(out)]) == 0  # fmt: skip
    assert len(out.read_text().splitlines()) == 3  # header and 2 steps
    np.savez(tmp_path / "two.npz", x_0=np.zeros((30, 2)))
    assert main(["forecast", str(run.run_dir), "--data", str(tmp_path / "two.npz")]) == 2
    assert "series of 2 value(s) per step; the model forecasts 1 (y)" in capsys.readouterr().err


def test_val_fraction_0_validates_on_the_training_windows():
    X = np.stack([_wave(20, p) for p in (0.0, 1.0)])  # (2, 20)
    fc = Forecaster(**{**TINY, "context": 4, "horizon": 1}, epochs=2, val_fraction=0.0).fit(X)
    assert "val = train (data.val_fraction=0)" in fc.report_["data"]
    assert fc.predict(X).shape == (2, 1)
    # horizon 1: y may be one next value per series
    assert fc.score(X[:, :-1], X[:, -1]) == pytest.approx(fc.score(X[:, :-1], X[:, -1:]))
