"""``rnnkit train selective_copy``: the generator's layout and the task end to end."""

from __future__ import annotations

import json
import math

import pytest
import torch

from rnnkit.data.synthetic import selective_copy
from rnnkit.tools.cli import main

TINY = ["--set", "model.hidden_size=8", "train.batch_size=16", "train.progress=false"]
TINY += ["data.train_size=32", "data.val_size=16", "data.test_size=16"]


def test_layout_symbols_scattered_in_order_then_markers():
    T, k, V = 30, 5, 4
    x, y = selective_copy(200, T, k, V, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (200, T + k) and x.dtype == torch.int64
    assert (x[:, T:] == V + 1).all()  # the markers
    assert (y[:, :T] == 0).all()  # nothing to say before the markers
    body = x[:, :T]
    assert ((body == 0) | ((body >= 1) & (body <= V))).all()
    assert ((body > 0).sum(dim=1) == k).all()  # exactly k symbols, at distinct places
    for row in range(200):  # the targets are the symbols in the order they appeared
        assert torch.equal(body[row][body[row] > 0], y[row, T:])
    # the positions really vary: not the copy task's fixed block at the start
    first = (body > 0).int().argmax(dim=1)
    assert first.unique().numel() > 5


def test_same_seed_same_sequences():
    a = selective_copy(4, 12, 3, 5, torch.Generator().manual_seed(7))
    b = selective_copy(4, 12, 3, 5, torch.Generator().manual_seed(7))
    assert all(torch.equal(p, q) for p, q in zip(a, b))


@pytest.mark.parametrize(
    "args, message",
    [((4, 5, 3), "length must be at least n_tokens"), ((4, 0, 3), "n_tokens >= 1")],
)
def test_generator_refuses_impossible_layouts(args, message):
    with pytest.raises(ValueError, match=message):
        selective_copy(2, *args, torch.Generator().manual_seed(0))


def test_train_reports_recall_metrics_and_guessing(tmp_path):
    out = tmp_path / "sc"
    extra = ["data.length=10", "data.n_tokens=3", "data.n_symbols=4"]
    assert main(["train", "selective_copy", "--out", str(out), "--epochs", "1", *TINY, *extra]) == 0
    report = json.loads((out / "report.json").read_text())
    assert set(report["test"]) >= {"loss", "accuracy", "sequence_accuracy"}
    guess = report["baselines"]["guessing"]
    assert guess["accuracy"] == 0.25 and guess["loss"] == pytest.approx(math.log(4))
    assert guess["sequence_accuracy"] == pytest.approx(4.0**-3)
    assert 0.0 <= report["test"]["accuracy"] <= 1.0
    assert "Mamba" in report["anchor"]["source"]


def test_length_shorter_than_the_symbols_is_refused(tmp_path, capsys):
    out = tmp_path / "bad"
    args = ["train", "selective_copy", "--out", str(out), *TINY, "data.length=2"]
    assert main([*args, "data.n_tokens=4"]) == 2
    assert "data.length" in capsys.readouterr().err


def test_a_small_lstm_learns_it_beyond_guessing(tmp_path):
    # 2 symbols of 2 among 6 noise steps: guessing recalls half of them.
    out = tmp_path / "learn"
    args = ["train", "selective_copy", "--out", str(out), "--epochs", "6", "--set"]
    args += ["model.hidden_size=32", "model.num_layers=1", "train.batch_size=32", "train.lr=0.01"]
    args += ["train.progress=false", "data.length=6", "data.n_tokens=2", "data.n_symbols=2"]
    args += ["data.train_size=1024", "data.val_size=128", "data.test_size=256"]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["test"]["accuracy"] > 0.9, report["test"]
