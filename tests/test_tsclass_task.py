"""Time-series classification: splits, normalisation, patching, and the CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnkit.config import RunConfig, TrainConfig
from rnnkit.errors import RnnkitError
from rnnkit.models.static_classifier import StaticClassifierConfig
from rnnkit.tasks.tsclass import TSClassData, TSClassTask
from rnnkit.tools.cli import main

TINY = [
    "--set", "train.progress=false", "model.hidden_size=6", "model.embedding_dim=4",
    "train.early_stopping=0",
]  # fmt: skip


def write_ts(path: Path, n: int, seed: int, *, channels: int = 2) -> Path:
    """Variable-length multivariate series of three classes: rising, falling, flat."""
    rng = np.random.default_rng(seed)
    head = "@problemName Toy\n@timeStamps false\n@missing false\n"
    head += f"@univariate {'true' if channels == 1 else 'false'}\n"
    if channels > 1:
        head += f"@dimensions {channels}\n"
    head += "@equalLength false\n@classLabel true up down flat\n@data\n"
    lines = []
    for i in range(n):
        label = ("up", "down", "flat")[i % 3]
        T = int(rng.integers(6, 12))
        slope = {"up": 1.0, "down": -1.0, "flat": 0.0}[label]
        x = slope * np.linspace(0, 1, T) + 0.05 * rng.standard_normal((channels, T))
        lines.append(":".join(",".join(f"{v:.4f}" for v in ch) for ch in x) + f":{label}")
    path.write_text(head + "\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("toy")
    write_ts(d / "Toy_TRAIN.ts", 30, 0)
    write_ts(d / "Toy_TEST.ts", 12, 1)
    return d / "Toy_TRAIN.ts"


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


def test_prepare_normalises_and_keeps_lengths(toy: Path, tmp_path: Path) -> None:
    task = task_for(str(toy))
    task.prepare(tmp_path)
    assert task.cfg.data.normalize == "train"  # auto: several channels -> train-fitted
    assert task.classes == ["up", "down", "flat"] and task.channels == 2
    assert task.split_size("test") == 12 and task.split_size("train") + task.split_size("val") == 30
    mean = json.loads((tmp_path / "scaler.json").read_text())["mean"]
    allx = np.concatenate(task.splits["train"][0])
    assert np.allclose(allx.mean(0), 0, atol=1e-9) and len(mean) == 2  # fitted on train only
    batch = next(iter(task.batches("test")))
    lens = batch.lengths.tolist()
    assert batch.inputs.shape == (8, max(lens), 2) and min(lens) >= 6
    assert (batch.inputs[0, lens[0] :] == 0).all()  # padding


def test_series_znorm_and_patching(toy: Path, tmp_path: Path) -> None:
    task = task_for(str(toy), normalize="series", patch=4)
    task.prepare(tmp_path)
    s = task.splits["train"][0][0]
    assert np.allclose(s.mean(0), 0) and np.allclose(s.std(0), 1)
    x, lengths = task.encode([np.arange(10.0)[:, None].repeat(2, 1)])
    assert x.shape == (1, 3, 8) and lengths.tolist() == [3]  # ceil(10 / 4) steps of 4 x 2
    assert x[0, 2].reshape(4, 2)[:, 0].tolist() == [8, 9, 9, 9]  # last group repeats


def test_bad_config() -> None:
    with pytest.raises(RnnkitError, match="data.normalize"):
        task_for("GunPoint", normalize="minmax")
    with pytest.raises(RnnkitError, match="data.patch"):
        task_for("GunPoint", patch=-1)


def test_cli_train_evaluate_predict(toy: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    args = ["train", "tsclass", "--data", str(toy), "--out", str(out), "--epochs", "2"]
    assert main([*args, *TINY]) == 0
    report = json.loads((out / "report.json").read_text())
    assert {"accuracy", "macro_f1", "loss"} <= set(report["test"])
    assert "majority" in report["baselines"]
    assert "1nn_euclidean" not in report["baselines"]  # variable lengths
    dtw = report["baselines"]["1nn_dtw"]  # ... but DTW takes them
    assert dtw["accuracy"] > 0.9 and dtw["resampled_to"] == 0  # up/down/flat are easy
    assert main(["evaluate", str(out), "--data", str(toy.with_name("Toy_TEST.ts"))]) == 0
    capsys.readouterr()
    assert main(["predict", str(out), "0,0.5,1,1.5,2:0,0.5,1,1.5,2"]) == 0
    assert "label=" in capsys.readouterr().out
    assert main(["predict", str(out), "1,2,3"]) == 2  # one channel, the model wants two
    assert "expected series of shape (T, 2)" in capsys.readouterr().err
