"""`rnnkit export` for tsclass (with and without static features), forecast and the
synthetic tasks: ONNX Runtime equals the model in eval mode within 1e-5 on ragged batches
(lengths 1, some and T; T longer than any series seen in training)."""

import gzip
import struct

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import torch

import rnnkit
from rnnkit.deploy import export_model, read_metadata
from rnnkit.models.forecaster import Forecaster, ForecasterConfig
from rnnkit.models.static_classifier import StaticClassifierConfig, StaticSequenceClassifier
from rnnkit.tasks import get_task_class, tasks_with
from rnnkit.tools.cli import main

TRAIN = {"epochs": 1, "batch_size": 16, "progress": False, "tensorboard": False}
TINY_MODEL = {"hidden_size": 5, "num_layers": 1}


def session(path_or_proto):
    src = path_or_proto if isinstance(path_or_proto, str) else path_or_proto.SerializeToString()
    return ort.InferenceSession(src, providers=["CPUExecutionProvider"])


def lengths_for(T):
    """1, some, and all = T, in one batch."""
    return torch.tensor([1, max(1, T // 2), T, min(2, T), T], dtype=torch.int64)


def export_cli(run, tmp_path):
    out = tmp_path / f"{run.config.task}.onnx"
    assert main(["export", str(run.run_dir), "--out", str(out)]) == 0
    return str(out), read_metadata(out)


# ------------------------------------------------------------------ tsclass
def write_series_csv(path, n=40, T=8, static=False):
    rng = np.random.default_rng(0)
    head = "label," + ("site,age," if static else "") + ",".join(f"t{k}" for k in range(T))
    rows = [head]
    for i in range(n):
        label = ("up", "down")[i % 2]
        x = (1 if label == "up" else -1) * np.linspace(0, 1, T) + 0.1 * rng.standard_normal(T)
        stat = f"{'AB'[i % 2]},{rng.integers(20, 80)}," if static else ""
        rows.append(f"{label},{stat}" + ",".join(f"{v:.3f}" for v in x))
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("fusion", [None, "concat", "init"])
def test_tsclass_export_matches_rnnkit(tmp_path, fusion):
    csv = write_series_csv(tmp_path / "s.csv", static=fusion is not None)
    data = {"source": str(csv), "patch": 2}
    model = {"cell": "gru", "hidden_size": 5, "embedding_dim": 4, "bidirectional": True,
             "pooling": "last"}  # fmt: skip
    if fusion:
        data.update(static_categorical=["site"], static_numeric=["age"])
        model.update(static_fusion=fusion, static_size=3)
    run = rnnkit.train("tsclass", out=tmp_path / "run", verbose=False, data=data, model=model,
                       train=TRAIN)  # fmt: skip
    path, meta = export_cli(run, tmp_path)
    assert meta["labels"] == run.task.classes and meta["preprocessing"]["patch"] == 2
    names = ["inputs", "lengths"] + (["static_cat", "static_num"] if fusion else [])
    assert [i["name"] for i in meta["inputs"]] == names
    if fusion:
        assert meta["artefacts"]["static.json"]["vocab"] == {"site": ["A", "B"]}
    sess = session(path)
    gen = torch.Generator().manual_seed(0)
    for T in (1, 3, 4, 20):  # training series are 4 steps (8 values in pairs)
        x, lengths = torch.randn(5, T, 2, generator=gen), lengths_for(T)
        feeds = {"inputs": x.numpy(), "lengths": lengths.numpy()}
        extras = {}
        if fusion:
            extras = {"static_cat": torch.tensor([[0], [1], [2], [1], [2]]),
                      "static_num": torch.randn(5, 1, generator=gen)}  # fmt: skip
            feeds.update({k: v.numpy() for k, v in extras.items()})
        with torch.no_grad():
            logits = run.model(x, lengths, **extras)
        got_logits, got_probs = sess.run(None, feeds)
        np.testing.assert_allclose(got_logits, logits.numpy(), atol=1e-5, rtol=0)
        np.testing.assert_allclose(
            got_probs, run.model.probabilities(logits).numpy(), atol=1e-5, rtol=0
        )


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "indrnn", "minlstm"])
def test_static_classifier_families_and_numeric_only(cell):
    torch.manual_seed(0)
    cfg = StaticClassifierConfig(cell=cell, hidden_size=5, num_layers=2, embedding_dim=4,
                                 bidirectional=True, pooling="max")  # fmt: skip
    fusion = "concat" if cell in ("indrnn", "minlstm") else "init"
    model = StaticSequenceClassifier.from_config(
        cfg, num_classes=3, input_size=2, cardinalities=[], num_numeric=2, fusion=fusion, size=3
    ).eval()
    proto, io = export_model(model)
    assert [i["name"] for i in io["inputs"]] == ["inputs", "lengths", "static_num"]
    x, lengths, num = torch.randn(5, 9, 2), lengths_for(9), torch.randn(5, 2)
    with torch.no_grad():
        ref = model(x, lengths, static_cat=torch.zeros(5, 0, dtype=torch.int64), static_num=num)
    got = session(proto).run(
        ["logits"], {"inputs": x.numpy(), "lengths": lengths.numpy(), "static_num": num.numpy()}
    )[0]
    np.testing.assert_allclose(got, ref.numpy(), atol=1e-5, rtol=0)


# ------------------------------------------------------------------ forecast
def forecast_reference(model, context, lengths, future=None, **static):
    """Window b alone, its first lengths[b] steps, through the model's own forecast."""
    rows = []
    for b, n in enumerate(lengths.tolist()):
        fut = None if future is None else future[b : b + 1]
        one = {k: v[b : b + 1] for k, v in static.items()}
        rows.append(model.forecast(context[b : b + 1, :n], fut, **one))
    return torch.cat(rows).numpy()


def test_forecast_run_export_matches_rnnkit(tmp_path):
    t = np.arange(60)
    df = pd.DataFrame({"t": t, "sales": 100 + t + 10 * np.sin(2 * np.pi * t / 12)})
    df.to_csv(tmp_path / "s.csv", index=False)
    run = rnnkit.train(
        "forecast", out=tmp_path / "run", verbose=False,
        data={"source": str(tmp_path / "s.csv"), "context": 6, "horizon": 3},
        model={"hidden_size": 5, "embedding_dim": 4}, train=TRAIN,
    )  # fmt: skip
    path, meta = export_cli(run, tmp_path)
    assert [o["shape"] for o in meta["outputs"]] == [["batch", 3, 1]]
    assert meta["preprocessing"]["context"] == 6 and "scaler.json" in meta["artefacts"]
    sess = session(path)
    gen = torch.Generator().manual_seed(0)
    for T in (1, 4, 6, 18):  # 18: three times the trained context
        ctx, lengths = torch.randn(5, T, 1, generator=gen), lengths_for(T)
        got = sess.run(None, {"context": ctx.numpy(), "lengths": lengths.numpy()})[0]
        np.testing.assert_allclose(
            got, forecast_reference(run.model, ctx, lengths), atol=1e-5, rtol=0
        )


@pytest.mark.parametrize(
    ("cell", "output", "fusion"),
    [("lstm", "direct", "init"), ("gru", "rollout", "concat"), ("gru", "rollout", "init"),
     ("mingru", "direct", "concat"), ("rnn", "rollout", None), ("indrnn", "rollout", "concat")],
)  # fmt: skip
def test_forecaster_outputs_covariates_and_statics(cell, output, fusion):
    torch.manual_seed(0)
    cfg = ForecasterConfig(cell=cell, hidden_size=5, num_layers=2, embedding_dim=4,
                           bidirectional=output == "direct", output=output)  # fmt: skip
    K, H = 1, 4
    F = 3 if output == "direct" else 2  # target, [past covariate], future covariate
    model = Forecaster.from_config(
        cfg, input_size=F, num_targets=1, horizon=H, future_size=K, output=output,
        static_cardinalities=[2] if fusion else None, static_numeric=1 if fusion else 0,
        static_fusion=fusion or "concat",
    ).eval()  # fmt: skip
    proto, io = export_model(model)
    sess = session(proto)
    gen = torch.Generator().manual_seed(1)
    for T in (1, 5, 15):
        ctx, lengths = torch.randn(5, T, F, generator=gen), lengths_for(T)
        future = torch.randn(5, H, K, generator=gen)
        static = {}
        feeds = {"context": ctx.numpy(), "lengths": lengths.numpy(), "future": future.numpy()}
        if fusion:
            static = {"static_cat": torch.tensor([[0], [1], [2], [1], [0]]),
                      "static_num": torch.randn(5, 1, generator=gen)}  # fmt: skip
            feeds.update({k: v.numpy() for k, v in static.items()})
        got = sess.run(None, feeds)[0]
        ref = forecast_reference(model, ctx, lengths, future, **static)
        np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)
    if output == "rollout":  # H unrolled steps, the recurrent weights stored once
        names = [i.name for i in proto.graph.initializer]
        assert len(names) == len(set(names))
        assert sum(n.op_type in ("GRU", "RNN", "Scan") for n in proto.graph.node) >= 2 * H


# ------------------------------------------------------------------ synthetic tasks
def write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


@pytest.fixture(scope="module")
def mnist_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("idx")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (100, 28, 28), dtype=np.uint8)
    write_idx(folder / "train-images-idx3-ubyte.gz", images)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.arange(100) % 10)
    return folder


SYNTHETIC = {
    "adding": {"length": 6},
    "copy": {"length": 3},
    "selective_copy": {"length": 8, "n_tokens": 2, "n_symbols": 3},
    "smnist": {"mode": "row", "val_fraction": 0.2, "test_fraction": 0.2},
}


@pytest.mark.parametrize("task", list(SYNTHETIC))
def test_synthetic_task_export_matches_rnnkit(task, tmp_path, mnist_folder):
    data = dict(SYNTHETIC[task])
    if task == "smnist":
        data["source"] = str(mnist_folder)
    else:
        data.update(train_size=16, val_size=8, test_size=8)
    run = rnnkit.train(task, out=tmp_path / "run", verbose=False, data=data,
                       model={"cell": "gru", **TINY_MODEL}, train=TRAIN)  # fmt: skip
    path, meta = export_cli(run, tmp_path)
    assert meta["preprocessing"]["input"]
    sess = session(path)
    model = run.model
    gen = torch.Generator().manual_seed(0)
    trained_T = 28 if task == "smnist" else None
    for T in (1, 5, 12, 3 * (trained_T or 12)):
        if model.num_symbols is not None:
            x = torch.randint(0, model.num_symbols, (5, T), generator=gen)
        else:
            x = torch.rand(5, T, model.input_size, generator=gen)
        lengths = lengths_for(T)
        got = sess.run(None, {"inputs": x.numpy(), "lengths": lengths.numpy()})[0]
        with torch.no_grad():
            for b, n in enumerate(lengths.tolist()):  # sequence b alone, its first n steps
                ref = model(x[b : b + 1, :n])[0].numpy()
                mine = got[b, :n] if model.per_step else got[b]
                np.testing.assert_allclose(mine, ref, atol=1e-5, rtol=0)
                if model.per_step:
                    assert not got[b, n:].any()  # zero after the length


def test_every_task_with_a_trained_model_declares_export():
    assert set(tasks_with("export")) >= {
        "sentiment", "tsclass", "forecast", "charlm", "adding", "copy", "selective_copy",
        "smnist",
    }  # fmt: skip


def test_a_task_without_export_is_refused_by_its_capability(tmp_path, monkeypatch, capsys):
    run = rnnkit.train("adding", out=tmp_path / "run", verbose=False,
                       data={"length": 4, "train_size": 8, "val_size": 4, "test_size": 4},
                       model=TINY_MODEL, train=TRAIN)  # fmt: skip
    cls = get_task_class("adding")
    monkeypatch.setattr(cls, "capabilities", frozenset({"evaluate"}))
    assert main(["export", str(run.run_dir), "--out", str(tmp_path / "a.onnx")]) == 2
    err = capsys.readouterr().err
    assert "rnnkit export: a 'adding' run cannot export" in err
    assert not (tmp_path / "a.onnx").exists()
