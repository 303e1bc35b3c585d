"""A model fitted in memory with ``run_dir`` works with every rnnkit command: ``explain``,
``export`` (ONNX Runtime with the metadata's preprocessing gives the estimator's numbers)
and ``serve`` (JSON arrays in, the estimator's predictions out; torch and ONNX engines)."""

from __future__ import annotations

import json
import re

import numpy as np
import onnxruntime as ort
import pytest
import torch
from fastapi.testclient import TestClient

from rnnkit.data.arrays import pad
from rnnkit.deploy import read_metadata
from rnnkit.deploy.server import create_app
from rnnkit.estimators import SequenceClassifier, SequenceRegressor, TextClassifier
from rnnkit.tools.cli import main


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models step many times faster on one thread on a shared, loaded machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TINY = {"hidden_size": 6, "embedding_dim": 5, "lr": 0.02, "epochs": 2}


def _sequences(n: int = 40, features: int = 2, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [3 + 2 * rng.normal(size=(int(rng.integers(2, 9)), features)) for _ in range(n)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("fitted")
    X = _sequences()
    labels = np.array(["up" if x[:, 0].mean() > 3 else "down" for x in X])
    values = np.stack([[x.sum(), x[:, 1].max()] for x in X])  # (N, 2) targets
    clf = SequenceClassifier(**TINY, pooling="mean").fit(X, labels, run_dir=root / "clf")
    reg = SequenceRegressor(**TINY).fit(X, values, run_dir=root / "reg")
    texts = [f"{'great fun' if i % 2 else 'dull mess'} film {i}" for i in range(30)]
    txt = TextClassifier(hidden_size=6, embedding_dim=8, num_layers=1, epochs=1,
                         nb_init_dims=2).fit(texts, [i % 2 for i in range(30)],
                                             run_dir=root / "txt")  # fmt: skip
    return {"X": X, "clf": clf, "reg": reg, "txt": txt, "root": root}


@pytest.mark.parametrize(
    ("name", "spec", "prediction"),
    [
        ("clf", "val:0", r"prediction: (up|down) \(p = [01]\.\d{3}\); true label (up|down)"),
        ("reg", "val:1", r"prediction: [-0-9.e+]+, [-0-9.e+]+ \(target units\); actual "
         r"[-0-9.e+]+, [-0-9.e+]+"),
        ("txt", "a great fun film", r"prediction: class [01] \(p = [01]\.\d{3}\)"),
    ],
)  # fmt: skip
def test_explain_works_on_a_run_fitted_in_memory(runs, name, spec, prediction, capsys):
    run_dir = runs[name].run_dir_
    out = runs["root"] / f"{name}.html"
    assert main(["explain", str(run_dir), spec, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert re.search(prediction, printed), printed
    delta = float(re.search(r"delta ([-+0-9.e]+)", printed).group(1))
    assert abs(delta) <= 0.01  # integrated gradients add up to the explained value
    assert "Completeness check" in out.read_text(encoding="utf-8")


def test_explain_refuses_a_test_index_of_an_in_memory_run(runs, capsys):
    out = runs["root"] / "none.html"
    assert main(["explain", str(runs["clf"].run_dir_), "test:0", "--out", str(out)]) == 2
    assert "the test split has 0 examples" in capsys.readouterr().err
    assert not out.exists()


def _onnx(run_dir, tmp):
    out = tmp / "model.onnx"
    assert main(["export", str(run_dir), "--out", str(out)]) == 0
    return ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]), read_metadata(out)


def _feeds(X, meta):
    """What a client without rnnkit does with the metadata: normalise, pad, lengths."""
    pre = meta["preprocessing"]
    mean, std = np.asarray(pre["mean"], np.float32), np.asarray(pre["std"], np.float32)
    x, lengths = pad([((s - mean) / std).astype(np.float32) for s in X])
    return {"inputs": x, "lengths": lengths}


def test_export_of_a_classifier_gives_its_probabilities(runs, tmp_path):
    clf, X = runs["clf"], runs["X"]
    session, meta = _onnx(clf.run_dir_, tmp_path)
    assert meta["task"] == "array_classification" and meta["labels"] == ["down", "up"]
    assert meta["preprocessing"]["classes"] == clf.classes_.tolist()
    probs = dict(zip([o.name for o in session.get_outputs()], session.run(None, _feeds(X, meta))))
    np.testing.assert_allclose(probs["probabilities"], clf.predict_proba(X), atol=1e-5)


def test_export_of_a_regressor_gives_its_values_in_the_targets_units(runs, tmp_path):
    reg, X = runs["reg"], runs["X"]
    session, meta = _onnx(reg.run_dir_, tmp_path)
    assert meta["model"] == "PooledRegressor"
    assert [o["name"] for o in meta["outputs"]] == ["outputs"]
    (scaled,) = session.run(None, _feeds(X, meta))
    pre = meta["preprocessing"]
    values = scaled * np.asarray(pre["y_std"]) + np.asarray(pre["y_mean"])
    np.testing.assert_allclose(values, reg.predict(X), rtol=1e-4, atol=1e-4)


def test_export_of_a_text_classifier(runs, tmp_path):
    session, meta = _onnx(runs["txt"].run_dir_, tmp_path)
    assert meta["task"] == "array_text" and "tokenizer.json" in meta["artefacts"]
    assert [o.name for o in session.get_outputs()] == ["logits", "probabilities"]


@pytest.mark.parametrize("engine", ["torch", "onnx"])
@pytest.mark.parametrize("name", ["clf", "reg"])
def test_serve_takes_json_arrays_and_answers_the_estimators_predictions(runs, name, engine):
    est, X = runs[name], runs["X"][:3]
    client = TestClient(create_app(est.run_dir_, engine=engine), raise_server_exceptions=False)
    series = [s.T.tolist() for s in X]  # one list per feature
    r = client.post("/predict", json={"inputs": series})
    assert r.status_code == 200, r.text
    got = r.json()["predictions"]
    if name == "clf":
        assert [p["label"] for p in got] == est.predict(X).tolist()
        np.testing.assert_allclose([p["p"] for p in got], est.predict_proba(X).max(1), atol=1e-5)
    else:
        np.testing.assert_allclose([p["values"] for p in got], est.predict(X), rtol=1e-4,
                                   atol=1e-4)  # fmt: skip
    bad = client.post("/predict", json={"inputs": [[1.0, 2.0]]})  # one feature, not two
    assert bad.status_code == 400 and "expected 2 features per step" in bad.json()["error"]


@pytest.mark.parametrize("task", ["array_classification", "array_forecast"])
def test_training_from_a_file_without_a_test_split_finishes(task, tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 30))
    np.savez(tmp_path / "d.npz", x=x, y=(x.mean(1) > 0).astype(int))
    extra = ["--set", "data.context=4", "--set", "data.horizon=2"] * (task == "array_forecast")
    argv = ["train", task, "--data", str(tmp_path / "d.npz"), "--out", str(tmp_path / "r"),
            "--set", "train.epochs=1", "--set", "model.hidden_size=4", *extra]  # fmt: skip
    assert main(argv) == 0
    assert "test: no test split" in capsys.readouterr().out
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["test"] is None and report["best_epoch"] == 1
