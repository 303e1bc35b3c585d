"""Static (per-series) categorical features coded against a vocabulary.

A categorical column's vocabulary is the sorted list of its distinct values; a value's code
is its index + 1, and 0 stands for a category the vocabulary does not hold (one seen only
outside the rows the vocabulary was fitted on). The time-series reader, the ``tsclass``
task and the ``forecast`` task code their static columns with these two functions, so a
category means the same code everywhere and in every run directory.

>>> vocab = category_vocab({"site": ["b", "a", "b"]})
>>> vocab
{'site': ['a', 'b']}
>>> encode_categories({"site": ["a", "b", "c"]}, vocab).tolist()
[[1], [2], [0]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

UNKNOWN = 0  # the code of a category the vocabulary does not hold


def category_vocab(columns: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Each column's sorted distinct values (its vocabulary), in the columns' order."""
    return {name: sorted(set(values)) for name, values in columns.items()}


def encode_categories(
    columns: Mapping[str, Sequence[str | None]], vocab: Mapping[str, Sequence[str]]
) -> np.ndarray:
    """Codes ``(n, Kc)`` int64 of ``columns`` (column order of ``vocab``; ``n`` rows each).

    A value outside its column's vocabulary, or ``None``, is coded 0 (unknown).
    """
    names = list(vocab)
    n = len(columns[names[0]]) if names else 0
    codes = np.zeros((n, len(names)), dtype=np.int64)
    for j, name in enumerate(names):
        code = {value: k + 1 for k, value in enumerate(vocab[name])}
        codes[:, j] = [code.get(v, UNKNOWN) if v is not None else UNKNOWN for v in columns[name]]
    return codes


def decode_categories(
    codes: np.ndarray, vocab: Mapping[str, Sequence[str]]
) -> dict[str, list[str | None]]:
    """The values behind ``codes`` ``(n, Kc)`` (column order of ``vocab``); 0 gives ``None``."""
    return {
        name: [vocab[name][c - 1] if c != UNKNOWN else None for c in codes[:, j]]
        for j, name in enumerate(vocab)
    }
