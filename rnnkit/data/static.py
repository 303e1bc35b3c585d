"""Static (per-series) features: categories coded against a vocabulary, numbers scaled.

A categorical column's vocabulary is the sorted list of its distinct values; a value's code
is its index + 1, and 0 stands for a category the vocabulary does not hold (one seen only
outside the rows the vocabulary was fitted on). Numeric columns are scaled by a
:class:`~rnnkit.data.scaling.Scaler` fitted on the training rows. The time-series
reader, the ``tsclass`` task and the ``forecast`` task code their static columns with
these functions, and the tasks hold them as one :class:`StaticFeatures` (fit on the
training rows, transform any rows, save / load), so a category means the same code
everywhere and in every run directory.

>>> vocab = category_vocab({"site": ["b", "a", "b"]})
>>> vocab
{'site': ['a', 'b']}
>>> encode_categories({"site": ["a", "b", "c"]}, vocab).tolist()
[[1], [2], [0]]
>>> import numpy as np
>>> static = StaticFeatures.fit({"site": ["b", "a"]}, np.array([[1.0], [3.0]]), ["age"])
>>> codes, scaled = static.transform({"site": ["a", "c"]}, np.array([[2.0], [3.0]]))
>>> codes.tolist(), scaled.tolist()
([[1], [0]], [[0.0], [1.0]])
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.scaling import Scaler
from rnnkit.errors import RnnkitError

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


@dataclass
class StaticFeatures:
    """The static columns of a run: names, category vocabularies and the numeric scaler.

    Attributes:
        categorical: the categorical column names (the order of the code columns).
        numeric: the numeric column names (the order of the scaled columns).
        vocab: each categorical column's vocabulary (see :func:`category_vocab`).
        scaler: the numeric columns' scaler, fitted on the training rows (None without
            numeric columns).
    """

    categorical: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)
    vocab: dict[str, list[str]] = field(default_factory=dict)
    scaler: Scaler | None = None

    @classmethod
    def fit(
        cls,
        categorical: Mapping[str, Sequence[str]],
        numeric: np.ndarray | None = None,
        numeric_names: Sequence[str] = (),
        *,
        scaling: str = "standard",
    ) -> StaticFeatures:
        """Fit on the training rows: ``categorical`` maps each column to its n values,
        ``numeric`` is ``(n, Kn)`` in the order of ``numeric_names``; ``scaling`` is the
        :class:`Scaler` kind (standard | minmax | none)."""
        names = list(numeric_names)
        scaler = None
        if names:
            if numeric is None or numeric.ndim != 2 or numeric.shape[1] != len(names):
                shape = None if numeric is None else numeric.shape
                raise ValueError(f"numeric: expected (n, {len(names)}) values, got {shape}")
            scaler = Scaler.fit(numeric, scaling)
        return cls(list(categorical), names, category_vocab(categorical), scaler)

    def transform(
        self,
        categorical: Mapping[str, Sequence[str | None]],
        numeric: np.ndarray | None = None,
        rows: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Codes ``(n, Kc)`` int64 (0 = a category not in the vocabulary) and scaled
        numbers ``(n, Kn)`` float32 of n rows: ``categorical`` maps every categorical
        column to its n values, ``numeric`` is ``(n, Kn)`` raw values; ``rows`` gives n
        when there are no columns to count them by."""
        n = rows
        if n is None:
            if self.categorical:
                n = len(categorical[self.categorical[0]])
            else:
                n = 0 if numeric is None else len(numeric)
        vocab = {c: self.vocab[c] for c in self.categorical}
        codes = encode_categories(categorical, vocab).reshape(n, len(vocab))  # (n, Kc)
        scaled = np.zeros((n, len(self.numeric)))
        if self.numeric:
            assert self.scaler is not None and numeric is not None
            scaled = self.scaler.transform(numeric)
        return codes, scaled.astype(np.float32)

    def cardinalities(self) -> list[int]:
        """The vocabulary size of each categorical column (the model's embedding sizes)."""
        return [len(self.vocab[c]) for c in self.categorical]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``static.json`` of a ``tsclass`` run)."""
        scaler = None if self.scaler is None else self.scaler.to_dict()
        return {"categorical": self.categorical, "numeric": self.numeric, "vocab": self.vocab,
                "scaler": scaler}  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StaticFeatures:
        """Read :meth:`to_dict`'s form back."""
        scaler = None if d.get("scaler") is None else Scaler.from_dict(d["scaler"])
        vocab = {c: list(v) for c, v in d["vocab"].items()}
        return cls(list(d.get("categorical", vocab)), list(d.get("numeric", [])), vocab, scaler)

    def save(self, path: Path) -> None:
        """Write :meth:`to_dict` to ``path`` (JSON, atomically)."""
        from rnnkit.io import write_json

        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: Path) -> StaticFeatures:
        """Read what :meth:`save` wrote; a missing or malformed file is refused naming it."""
        if not path.is_file():
            raise RnnkitError(f"{path} is missing: the run's static features are not saved")
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise RnnkitError(f"{path}: not the static features of a run ({e})") from None
