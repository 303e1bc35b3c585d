"""The MNIST IDX and CSV loaders, on files the tests write."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from rnnkit.data.mnist import load_idx, load_mnist_csv, load_mnist_folder
from rnnkit.errors import RnnkitError


def write_idx(path, array: np.ndarray, compress: bool = False) -> None:
    """Write ``array`` (uint8) in the IDX format."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


def _digits(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_roundtrip(tmp_path, compress):
    images, _ = _digits()
    path = tmp_path / ("x.idx3-ubyte" + (".gz" if compress else ""))
    write_idx(path, images, compress)
    np.testing.assert_array_equal(load_idx(path), images)


def test_idx_big_endian_int32(tmp_path):
    values = np.array([[1, -2], [70000, 3]], dtype=">i4")
    path = tmp_path / "a.idx"
    path.write_bytes(bytes([0, 0, 0x0C, 2]) + struct.pack(">2I", 2, 2) + values.tobytes())
    np.testing.assert_array_equal(load_idx(path), values.astype(np.int32))


def test_idx_bad_magic_is_a_clear_error(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"PK\x03\x04" + bytes(20))
    with pytest.raises(RnnkitError, match="not an IDX file: bad magic number 504b0304"):
        load_idx(path)


def test_idx_truncated_data_is_a_clear_error(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(bytes([0, 0, 8, 2]) + struct.pack(">2I", 3, 3) + bytes(5))
    with pytest.raises(RnnkitError, match=r"shape \(3, 3\) \(9 bytes of data\) .* 5 bytes"):
        load_idx(path)


def test_mnist_folder_with_train_and_test_pairs(tmp_path):
    images, labels = _digits(5)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images, compress=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels, compress=True)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images[:2])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[:2])
    data = load_mnist_folder(tmp_path)
    x, y = data["train"]
    assert x.shape == (5, 784) and x.dtype == np.uint8
    np.testing.assert_array_equal(x, images.reshape(5, 784))
    np.testing.assert_array_equal(y, labels)
    assert data["test"][0].shape == (2, 784)


def test_mnist_folder_missing_labels(tmp_path):
    images, _ = _digits(2)
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    with pytest.raises(RnnkitError, match="train-labels-idx1-ubyte"):
        load_mnist_folder(tmp_path)


def test_mnist_csv_layout_and_errors(tmp_path):
    images, labels = _digits(3)
    rows = [",".join(map(str, [*img.reshape(-1), lab])) for img, lab in zip(images, labels)]
    path = tmp_path / "d.csv"
    path.write_text("\n".join(rows) + "\n")
    x, y = load_mnist_csv(path)
    np.testing.assert_array_equal(x, images.reshape(3, 784))
    np.testing.assert_array_equal(y, labels)
    path.write_text("1,2,3\n")
    with pytest.raises(RnnkitError, match="expected 785 values"):
        load_mnist_csv(path)
