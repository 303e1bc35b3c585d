"""Time-series classification with static (per-series) features from a CSV."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.config import RunConfig, TrainConfig
from rnnkit.errors import RnnkitError
from rnnkit.models.static_classifier import StaticClassifierConfig
from rnnkit.tasks.tsclass import TSClassData, TSClassTask
from rnnkit.tools.cli import main

TINY = [
    "--set", "train.progress=false", "model.hidden_size=6", "model.embedding_dim=4",
    "train.early_stopping=0", "train.lr=0.03", "data.static_categorical=site",
    "data.static_numeric=age",
]  # fmt: skip


def write_csv(path: Path, n: int, seed: int) -> Path:
    """Noise series whose label is only in the static column ``site`` (A -> yes, B -> no);
    ``age`` is an unrelated number."""
    rng = np.random.default_rng(seed)
    rows = ["label,site,age," + ",".join(f"t{k}" for k in range(8))]
    for i in range(n):
        site = "AB"[i % 2]
        label = "yes" if site == "A" else "no"
        values = ",".join(f"{v:.3f}" for v in rng.standard_normal(8))
        rows.append(f"{label},{site},{rng.integers(20, 80)},{values}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(tmp_path_factory.mktemp("static") / "toy.csv", 64, 0)


def task_for(source: str, static_fusion: str = "concat", **data) -> TSClassTask:
    cfg = RunConfig(
        "tsclass",
        TSClassData(source=source, **data),
        StaticClassifierConfig(
            hidden_size=4, embedding_dim=4, pooling="mean", static_fusion=static_fusion
        ),
        TrainConfig(batch_size=8),
    )
    return TSClassTask(cfg)


def test_cli_train_evaluate_predict_uses_statics(toy: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    args = ["train", "tsclass", "--data", str(toy), "--out", str(out), "--epochs", "6"]
    assert main([*args, *TINY]) == 0
    report = json.loads((out / "report.json").read_text())
    # the series are noise: only the static column can take accuracy above chance (0.5)
    assert report["test"]["accuracy"] >= 0.9
    static = json.loads((out / "static.json").read_text())
    assert static["vocab"] == {"site": ["A", "B"]} and static["numeric"] == ["age"]
    assert main(["evaluate", str(out), "--data", str(toy)]) == 0
    capsys.readouterr()
    series = ",".join(["0.1"] * 8)
    assert main(["predict", str(out), f"site=A;age=40;{series}", f"site=B;age=40;{series}"]) == 0
    lines = capsys.readouterr().out
    assert "label=yes" in lines and "label=no" in lines
    assert main(["predict", str(out), series]) == 2  # the statics are missing
    assert "static column 'site' is missing" in capsys.readouterr().err
    # explain holds the example's static features fixed and attributes the time steps
    report = tmp_path / "explain.html"
    assert main(["explain", str(out), "test:0", "--out", str(report)]) == 0
    assert "time step" in report.read_text(encoding="utf-8")


@pytest.mark.parametrize("fusion", ["concat", "init"])
def test_static_input_changes_logits(toy: Path, tmp_path: Path, fusion: str) -> None:
    task = task_for(
        str(toy), static_categorical=["site"], static_numeric=["age"], static_fusion=fusion
    )
    task.prepare(tmp_path)
    torch.manual_seed(0)
    model = task.build_model()
    batch = next(task.batches("train"))
    assert batch.extras["static_cat"].shape == (len(batch), 1)
    assert batch.extras["static_num"].shape == (len(batch), 1)
    logits = model(batch.inputs, batch.lengths, **batch.extras)
    flipped = dict(batch.extras, static_cat=3 - batch.extras["static_cat"])  # A (1) <-> B (2)
    assert not torch.allclose(logits, model(batch.inputs, batch.lengths, **flipped))
    task.loss(model, batch).backward()
    assert model.static.encoder.embeddings[0].weight.grad.abs().sum() > 0


def test_statics_fitted_on_train_only(toy: Path, tmp_path: Path) -> None:
    task = task_for(str(toy), static_categorical=["site"], static_numeric=["age"])
    task.prepare(tmp_path)
    cat, num = task.statics["train"]
    assert set(cat[:, 0]) == {1, 2}
    assert abs(float(num.mean())) < 1e-5 and abs(float(num.std()) - 1) < 1e-4
    # a file with an unseen category: code 0 (unknown), the training scaler kept
    other = tmp_path / "other.csv"
    other.write_text("label,site,age,t0,t1\nyes,C,50,0.1,0.2\nno,A,50,0.3,0.4\n")
    task.set_data(str(other))
    cat, num = task.statics["test"]
    assert cat[:, 0].tolist() == [0, 1]
    assert task.static is not None and task.static.scaler is not None
    expected = (50 - task.static.scaler.shift[0]) / task.static.scaler.scale[0]
    assert np.allclose(num[:, 0], expected)
    assert task.splits["test"][0][0].shape == (2, 1)  # statics are not time steps


def test_bad_static_config(toy: Path, tmp_path: Path) -> None:
    with pytest.raises(RnnkitError, match="static column 'nope'.*columns found"):
        task_for(str(toy), static_categorical=["nope"]).prepare(tmp_path)
    with pytest.raises(RnnkitError, match="'label'.*is the label column"):
        task_for(str(toy), static_numeric=["label"]).prepare(tmp_path)
    with pytest.raises(RnnkitError, match="model.static_fusion"):
        task_for(str(toy), static_fusion="add")
    with pytest.raises(RnnkitError, match="twice"):
        task_for(str(toy), static_categorical=["site"], static_numeric=["site"])
    with pytest.raises(RnnkitError, match=r"static column 'site'.*'A' is not a number"):
        task_for(str(toy), static_numeric=["site"]).prepare(tmp_path)


def test_statics_with_ts_source_is_an_error(tmp_path: Path) -> None:
    ts = tmp_path / "Toy_TRAIN.ts"
    ts.write_text("@problemName Toy\n@classLabel true a b\n@data\n1,2,3:a\n3,2,1:b\n")
    with pytest.raises(RnnkitError, match="no static columns"):
        task_for(str(ts), static_categorical=["site"]).prepare(tmp_path)
    with pytest.raises(RnnkitError, match="no static columns"):
        task_for("GunPoint", static_numeric=["age"]).prepare(tmp_path)
    out = tmp_path / "run"
    args = ["train", "tsclass", "--data", str(ts), "--out", str(out), "--epochs", "1"]
    assert main([*args, *TINY]) == 2
