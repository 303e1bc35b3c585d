"""End to end: ``rnnkit train adding`` and ``rnnkit train copy`` on tiny generated data."""

from __future__ import annotations

import json
import math

import pytest
import torch

from rnnkit.tasks.adding import AddingTask
from rnnkit.tasks.resolve import resolve_config
from rnnkit.tools.cli import main

TINY = ["--set", "model.hidden_size=8", "train.batch_size=16", "train.progress=false"]
TINY += ["data.train_size=32", "data.val_size=16", "data.test_size=16"]


def _train(task, tmp_path, *extra):
    out = tmp_path / task
    assert main(["train", task, "--out", str(out), "--epochs", "1", *TINY, *extra]) == 0
    return out, json.loads((out / "report.json").read_text())


def test_train_adding_reports_mse_baseline_and_anchor(tmp_path):
    out, report = _train("adding", tmp_path, "data.length=12", "train.gradflow=true")
    assert report["test"]["mse"] >= 0
    assert report["baselines"]["predict_one_expected"]["mse"] == pytest.approx(1 / 6)
    assert 0.05 < report["baselines"]["predict_one"]["mse"] < 0.35
    assert "TCN" in report["anchor"]["source"]
    assert (out / "gradflow.png").read_bytes()[:4] == b"\x89PNG"
    line = json.loads((out / "gradflow.jsonl").read_text().splitlines()[0])
    assert len(line["grad_norm_per_step"]) == 12


def test_train_copy_reports_recall_metrics_and_guessing(tmp_path):
    _, report = _train("copy", tmp_path, "data.length=6")
    assert set(report["test"]) >= {"loss", "accuracy", "loss_per_step"}
    guess = report["baselines"]["guessing"]
    assert guess["loss_per_step"] == pytest.approx(10 * math.log(8) / 26)
    assert guess["accuracy"] == 0.125
    assert report["test"]["loss_per_step"] == pytest.approx(report["test"]["loss"] * 10 / 26)


def test_fresh_training_data_each_epoch_comes_from_the_loop_generator():
    cfg = resolve_config("adding", overrides=["data.length=6", "data.train_size=8"])
    task = AddingTask(cfg)
    a = next(iter(task.batches("train", shuffle=True, generator=torch.Generator().manual_seed(1))))
    b = next(iter(task.batches("train", shuffle=True, generator=torch.Generator().manual_seed(1))))
    c = next(iter(task.batches("train", shuffle=True, generator=torch.Generator().manual_seed(2))))
    assert torch.equal(a.inputs, b.inputs) and not torch.equal(a.inputs, c.inputs)
    val1, val2 = task.batches("val"), task.batches("val")
    assert torch.equal(next(iter(val1)).inputs, next(iter(val2)).inputs)  # fixed


def test_adding_length_too_short_is_refused(tmp_path, capsys):
    code = main(["train", "adding", "--out", str(tmp_path / "r"), *TINY, "data.length=1"])
    assert code == 2
    assert "data.length: expected at least 2" in capsys.readouterr().err


def test_diagnose_draws_the_cells_gradient_flow(tmp_path, capsys):
    png = tmp_path / "flow.png"
    args = ["diagnose", "--length", "8", "--cells", "rnn,lstm", "--steps", "2"]
    assert main([*args, "--hidden-size", "4", "--out", str(png)]) == 0
    out = capsys.readouterr().out
    assert "rnn" in out and "lstm" in out and png.read_bytes()[:4] == b"\x89PNG"
    assert main(["diagnose", "--cells", "lstm,nope", "--out", str(png)]) == 2
    assert "unknown cell(s) nope" in capsys.readouterr().err
