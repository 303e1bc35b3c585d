"""Sequences held in memory: checking them, handing them to a task, saving them.

The estimators (:mod:`rnnkit.estimators`) take ``X`` in the forms a Python user has at
hand and turn it into one list of float32 arrays ``[(T_i, F)]``:

* a list of arrays ``(T_i, F)`` of varying length ``T_i`` (or ``(T_i,)``: one feature),
* a padded array ``(N, T, F)`` with ``lengths`` ``(N,)`` (None: every sequence is T long),
* a 2-D array ``(N, T)``: N univariate series of T steps (``F = 1``).

:func:`as_sequences` does that and refuses, in one message, what it cannot read: feature
sizes that differ, NaN or infinite values, an empty list, strings, a ``lengths`` that does
not fit. The array tasks (:mod:`rnnkit.tasks.arrays`) read their data by name, not from a
file: :func:`register` keeps ``(sequences, targets)`` under a ``memory:KEY`` name that the
task's ``data.source`` gives, and :func:`save_npz` / :func:`load_npz` write and read the
same data as an ``.npz`` file (the copy a run directory keeps, or a user's own file).

>>> seqs = as_sequences(np.zeros((3, 5)))          # 3 univariate series of 5 steps
>>> [s.shape for s in seqs]
[(5, 1), (5, 1), (5, 1)]
>>> [s.shape for s in as_sequences(np.zeros((2, 4, 3)), lengths=[4, 2])]
[(4, 3), (2, 3)]
"""

from __future__ import annotations

import itertools
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.errors import RnnkitError

MEMORY_PREFIX = "memory:"


@dataclass
class SequenceArrays:
    """Sequences and their targets.

    Attributes:
        sequences: N float32 arrays ``(T_i, F)``, ``T_i >= 1``, the same F for all.
        targets: ``(N,)`` (class codes or values) or ``(N, K)`` (K values per sequence).
    """

    sequences: list[np.ndarray]
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def num_features(self) -> int:
        """F, the features per step."""
        return int(self.sequences[0].shape[1])


@dataclass
class TextArrays:
    """Raw texts and their class codes (the in-memory data of ``array_text``).

    Attributes:
        texts: N non-empty strings.
        targets: ``(N,)`` int64 class codes in ``0..C-1``.
        label_names: the C class names (``str`` of each class), index = code.
        classes: the C classes as given (numbers or strings), or None.
    """

    texts: list[str]
    targets: np.ndarray
    label_names: list[str]
    classes: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class SeriesArrays:
    """Series to forecast (the in-memory data of ``array_forecast``).

    Attributes:
        series: S float32 arrays ``(T_s, C)``: C target values per step, the same C for all.
    """

    series: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.series)

    @property
    def num_targets(self) -> int:
        """C, the values per step."""
        return int(self.series[0].shape[1])


# ----------------------------------------------------------------------------- checking


def _is_text(x: Any) -> bool:
    return isinstance(x, str | bytes) or (isinstance(x, np.ndarray) and x.dtype.kind in ("U", "S"))


def _numeric(a: Any, what: str) -> np.ndarray:
    """``a`` as a float32 array, refusing text, objects that are not numbers and NaN/inf."""
    if _is_text(a):
        raise RnnkitError(
            f"{what} holds text; this estimator takes numbers (for raw strings use "
            "rnnkit.estimators.TextClassifier)"
        )
    arr = np.asarray(a)
    if arr.dtype.kind in ("U", "S"):
        raise RnnkitError(
            f"{what} holds text; this estimator takes numbers (for raw strings use "
            "rnnkit.estimators.TextClassifier)"
        )
    if arr.dtype.kind == "c":
        raise RnnkitError(f"{what}: Complex data not supported; expected real numbers")
    if arr.dtype.kind not in "biuf":
        try:  # object arrays of numbers are fine; a dict or a string in one is not
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"{what}: expected numbers ({e}; float() argument must be a string or a "
                "real number)"
            ) from None
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0].tolist()
        raise RnnkitError(
            f"{what} holds NaN or infinity (first at index {bad}); fill or drop the missing "
            "values first"
        )
    return arr


def _is_sparse(x: Any) -> bool:
    try:
        from scipy.sparse import issparse
    except ImportError:  # scipy comes with scikit-learn; without it nothing is sparse
        return False
    return bool(issparse(x))


def _as_steps(a: Any, i: int) -> np.ndarray:
    """Sequence ``i`` as ``(T, F)`` float32 (a 1-D sequence has one feature)."""
    arr = _numeric(a, f"X[{i}]")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise RnnkitError(
            f"X[{i}] has shape {tuple(arr.shape)}; expected (T, F) steps x features or (T,)"
        )
    if arr.shape[0] == 0:
        raise RnnkitError(f"X[{i}] has no steps; every sequence needs at least one")
    return arr


def as_sequences(X: Any, lengths: Any = None) -> list[np.ndarray]:
    """``X`` in any accepted form (module docs) as N float32 arrays ``(T_i, F)``.

    Args:
        X: a list of ``(T_i, F)`` / ``(T_i,)`` arrays, a padded ``(N, T, F)`` array, or a
            2-D ``(N, T)`` array of univariate series (a pandas DataFrame counts as one).
        lengths: ``(N,)`` real lengths in ``[1, T]`` for a padded 3-D ``X``; None for all T.

    Raises:
        RnnkitError (a ``ValueError``): an empty ``X``, text, NaN or infinity, sequences
        whose feature sizes differ, a bad ``lengths``; ``TypeError`` for objects that are
        not numbers.
    """
    if X is None:
        raise RnnkitError("X is None; expected sequences (a list of arrays or an array)")
    if _is_text(X) or (isinstance(X, list | tuple) and X and all(map(_is_text, X))):
        raise RnnkitError(
            "X holds text; this estimator takes numbers (for raw strings use "
            "rnnkit.estimators.TextClassifier)"
        )
    if _is_sparse(X):
        raise TypeError(
            "X is a sparse matrix: sparse input is not supported; pass a dense array (X.toarray())"
        )
    if hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):  # pandas
        X = X.to_numpy()
    if hasattr(X, "detach"):  # a torch tensor
        X = X.detach().cpu().numpy()
    if isinstance(X, list | tuple):
        if len(X) == 0:
            raise RnnkitError("X is empty; expected at least one sequence")
        if all(isinstance(x, np.ndarray) or hasattr(x, "detach") for x in X):
            seqs = [_as_steps(x.detach().cpu().numpy() if hasattr(x, "detach") else x, i)
                    for i, x in enumerate(X)]  # fmt: skip
            return _same_features(seqs, lengths)
        try:  # nested lists: one array when rectangular, else one sequence per item
            X = np.asarray(X)
        except ValueError:
            return _same_features([_as_steps(x, i) for i, x in enumerate(X)], lengths)
        if X.dtype == object and X.ndim == 1:
            return _same_features([_as_steps(x, i) for i, x in enumerate(X)], lengths)
    arr = _numeric(X, "X")
    if arr.ndim == 1:
        raise RnnkitError(
            f"X is 1-D (shape {tuple(arr.shape)}); expected a 2-D array (N, T) of N univariate "
            "series (Reshape your data with X.reshape(1, -1) for a single series), a padded "
            "(N, T, F) array or a list of (T_i, F) arrays"
        )
    if arr.ndim not in (2, 3):
        raise RnnkitError(
            f"X has shape {tuple(arr.shape)}; expected (N, T), (N, T, F) or a list of (T_i, F)"
        )
    if arr.shape[0] == 0:
        raise RnnkitError("X is empty (0 sequences); expected at least one")
    if arr.shape[1] == 0:
        raise RnnkitError(
            f"X has shape {tuple(arr.shape)}: sequences of 0 steps (Found array with 0 "
            f"feature(s) (shape={tuple(arr.shape)}) while a minimum of 1 is required.)"
        )
    if arr.ndim == 2:
        arr = arr[:, :, None]  # (N, T, 1)
    if arr.shape[2] == 0:
        raise RnnkitError(f"X has shape {tuple(arr.shape)}: 0 features per step")
    lens = _check_lengths(lengths, arr.shape[0], arr.shape[1])
    return [arr[i, : lens[i]] for i in range(arr.shape[0])]


def _check_lengths(lengths: Any, n: int, t: int) -> np.ndarray:
    """``lengths`` as ``(n,)`` int64 in ``[1, t]`` (None: all ``t``)."""
    if lengths is None:
        return np.full(n, t, dtype=np.int64)
    lens = np.asarray(lengths.detach().cpu() if hasattr(lengths, "detach") else lengths)
    if lens.shape != (n,) or lens.dtype.kind not in "iu":
        raise RnnkitError(
            f"lengths: expected {n} integers (one per sequence), got shape "
            f"{tuple(lens.shape)} of {lens.dtype}"
        )
    if n and (lens.min() < 1 or lens.max() > t):
        raise RnnkitError(
            f"lengths: each must be in [1, {t}] (the padded time axis), got values from "
            f"{lens.min()} to {lens.max()}"
        )
    return lens.astype(np.int64)


def _same_features(seqs: list[np.ndarray], lengths: Any) -> list[np.ndarray]:
    if lengths is not None:
        raise RnnkitError("lengths applies to a padded (N, T, F) array, not to a list of arrays")
    sizes = {s.shape[1] for s in seqs}
    if len(sizes) > 1:
        first = seqs[0].shape[1]
        odd = next(i for i, s in enumerate(seqs) if s.shape[1] != first)
        raise RnnkitError(
            f"X: the sequences have different feature sizes ({', '.join(map(str, sorted(sizes)))}"
            f"); X[0] has {first} features per step but X[{odd}] has {seqs[odd].shape[1]}"
        )
    return seqs


def as_series(X: Any, lengths: Any = None) -> tuple[list[np.ndarray], bool]:
    """``X`` as series to forecast: S float32 arrays ``(T_s, C)``, and whether ``X`` was
    one series (a 1-D array or list of numbers: ``(T,)``).

    ``X`` is one series ``(T,)``, a 2-D array ``(S, T)`` of S univariate series, a padded
    ``(S, T, C)`` array with ``lengths``, or a list of ``(T_s,)`` / ``(T_s, C)`` arrays
    (one multivariate series ``(T, C)``: pass ``[series]``). Refused as
    :func:`as_sequences` refuses.
    """
    if hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):  # pandas
        X = X.to_numpy()
    if hasattr(X, "detach"):  # a torch tensor
        X = X.detach().cpu().numpy()
    single = False
    if isinstance(X, np.ndarray) and X.ndim == 1 and X.dtype != object:
        single = True
    elif isinstance(X, list | tuple) and X and all(isinstance(v, int | float) for v in X):
        single = True  # plain numbers (not bool-only checks: numbers are what a series is)
    if single:
        if lengths is not None:
            raise RnnkitError("lengths applies to a padded (S, T, C) array, not to one series")
        return [_as_steps(X, 0)], True
    return as_sequences(X, lengths), False


def as_texts(X: Any) -> list[str]:
    """``X`` as a list of N non-empty strings (a list, tuple, 1-D array or pandas Series of
    ``str``); one clear error for anything else."""
    if isinstance(X, str | bytes):
        raise RnnkitError("X is one string; expected a list of texts (wrap it: [text])")
    if hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):  # pandas
        X = X.to_numpy()
    if isinstance(X, np.ndarray):
        if X.ndim != 1:
            raise RnnkitError(f"X has shape {tuple(X.shape)}; expected a 1-D list of texts")
        X = X.tolist()
    if not isinstance(X, list | tuple):
        raise RnnkitError(f"X is a {type(X).__name__}; expected a list of texts")
    if len(X) == 0:
        raise RnnkitError("X is empty; expected at least one text")
    for i, text in enumerate(X):
        if not isinstance(text, str):
            raise RnnkitError(
                f"X[{i}] is a {type(text).__name__}, not a text; TextClassifier takes raw "
                "strings (for numbers use SequenceClassifier)"
            )
        if not text.strip():
            raise RnnkitError(f"X[{i}] is an empty text; every text needs at least one word")
    return list(X)


def require_targets(y: Any, owner: str, item: str) -> None:
    """Refuse ``y=None`` for ``owner`` (``"TextClassifier"``, ``"rnnkit.fit"`` ...), which
    needs one target per ``item`` (``"text"``, ``"sequence"``, ``"example"``). The wording
    is the one scikit-learn's estimator checks look for."""
    if y is None:
        raise RnnkitError(
            f"{owner} requires y to be passed, but the target y is None; expected one target "
            f"per {item}"
        )


def check_target_count(count: int, n: int, item: str) -> None:
    """Refuse ``count`` targets for ``n`` inputs, each a ``item`` (``"text"``,
    ``"sequence"``, ``"example"``): there must be one each."""
    if count != n:
        raise RnnkitError(f"y has {count} targets but X has {n} {item}s; expected one each")


def pad(sequences: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad ``[(T_i, F)]`` into ``(N, max T_i, F)`` float32 zeros and ``lengths`` ``(N,)``."""
    lengths = np.asarray([len(s) for s in sequences], dtype=np.int64)
    out = np.zeros((len(sequences), int(lengths.max()), sequences[0].shape[1]), np.float32)
    for i, s in enumerate(sequences):
        out[i, : len(s)] = s
    return out, lengths


def parse_series(text: str, where: str) -> np.ndarray:
    """A sequence written as text: ``"1,2,3"`` (one feature) or ``"1,2,3:4,5,6"``
    (features split by ``:``, each a comma-separated run of equal length) -> ``(T, F)``."""
    try:
        channels = [
            [float(v) for v in part.split(",") if v.strip() != ""] for part in text.split(":")
        ]
    except ValueError:
        channels = []
    if not channels or len({len(c) for c in channels}) != 1 or len(channels[0]) == 0:
        raise RnnkitError(
            f"{where} {text[:40]!r}: expected comma-separated numbers, one run per feature "
            "split by ':' and of equal length (e.g. '1,2,3' or '1,2,3:0,0,1')"
        )
    return _numeric(np.asarray(channels, dtype=np.float64).T, f"{where} {text[:40]!r}")


# ----------------------------------------------------------------------------- by name

Registered = SequenceArrays | TextArrays | SeriesArrays
_MEMORY: dict[str, Registered] = {}
_COUNTER = itertools.count(1)


def register(arrays: Registered) -> str:
    """Keep ``arrays`` in memory under a new name ``memory:KEY`` (a task's ``data.source``)."""
    name = f"{MEMORY_PREFIX}{os.getpid()}-{next(_COUNTER)}"
    _MEMORY[name] = arrays
    return name


def unregister(name: str) -> None:
    """Forget the arrays registered as ``name`` (nothing if unknown)."""
    _MEMORY.pop(name, None)


def lookup(source: str) -> SequenceArrays:
    """The sequences of ``source`` (see :func:`lookup_any`)."""
    found = lookup_any(source)
    if not isinstance(found, SequenceArrays):
        raise RnnkitError(f"data.source {source!r} holds texts, not numeric sequences")
    return found


def lookup_texts(source: str) -> TextArrays:
    """The texts registered as ``source`` (a ``memory:KEY`` name)."""
    found = lookup_any(source)
    if not isinstance(found, TextArrays):
        raise RnnkitError(f"data {source!r} holds numeric sequences, not texts")
    return found


def lookup_series(source: str) -> SeriesArrays:
    """The series of ``source``: a ``memory:KEY`` name or an ``.npz`` file of series
    (:func:`load_series_npz`)."""
    if not source.startswith(MEMORY_PREFIX):
        if not source:
            raise RnnkitError(
                "data.source is empty; expected an .npz file of series (--data FILE.npz) or "
                "series passed in memory (rnnkit.estimators.Forecaster)"
            )
        return load_series_npz(source)
    found = lookup_any(source)
    if not isinstance(found, SeriesArrays):
        raise RnnkitError(f"data.source {source!r} holds labelled sequences, not series")
    return found


def lookup_any(source: str) -> Registered:
    """The arrays of ``source``: a ``memory:KEY`` name from :func:`register` or an ``.npz``
    file written by :func:`save_npz` (or by hand: ``x_0 .. x_{N-1}`` or a padded ``x``
    with optional ``lengths``, and ``y``)."""
    if source.startswith(MEMORY_PREFIX):
        if source not in _MEMORY:
            raise RnnkitError(
                f"data.source {source!r}: no arrays are registered under this name (they "
                "live only in the process that registered them; train from an .npz file)"
            )
        return _MEMORY[source]
    if not source:
        raise RnnkitError(
            "data.source is empty; expected an .npz file (--data FILE.npz) or arrays passed "
            "in memory (rnnkit.estimators)"
        )
    return load_npz(source)


def save_npz(path: str | Path, arrays: SequenceArrays) -> None:
    """Write ``arrays`` to ``path`` atomically: the sequences padded (``x``, ``lengths``)
    and ``y``."""
    from rnnkit.io import write_atomic

    x, lengths = pad(arrays.sequences)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: numpy would add .npz to the name
            np.savez(f, x=x, lengths=lengths, y=arrays.targets)

    write_atomic(path, write)


def save_series_npz(path: str | Path, arrays: SeriesArrays) -> None:
    """Write series atomically as ``x_0 .. x_{S-1}``, one ``(T_s, C)`` array each."""
    from rnnkit.io import write_atomic

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: numpy would add .npz to the name
            named: dict[str, Any] = {f"x_{i}": s for i, s in enumerate(arrays.series)}
            np.savez(f, **named)

    write_atomic(path, write)


def _read_npz(path: str | Path, what: str) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file, checked before numpy allocates them."""
    from rnnkit.data.files import check_npz

    path = Path(path)
    check_npz(path)  # a device, a zip bomb, a header declaring more than the file holds
    if not path.is_file():
        raise RnnkitError(f"data.source {path}: no such file (expected an .npz of {what})")
    if not zipfile.is_zipfile(path):
        raise RnnkitError(
            f"{path}: not a readable .npz file (not a zip archive); expected the arrays of "
            f"{what} saved by numpy.savez"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            return dict(z.items())
    except (OSError, ValueError) as e:
        raise RnnkitError(f"{path}: not a readable .npz file ({e})") from None


def _npz_sequences(files: dict[str, np.ndarray], path: Path) -> list[np.ndarray]:
    """``x`` (padded, optional ``lengths``) or ``x_0 .. x_{N-1}`` of an ``.npz`` file."""
    if "x" in files:
        return as_sequences(files["x"], files.get("lengths"))
    keys = sorted((k for k in files if k[2:].isdigit() and k.startswith("x_")),
                  key=lambda k: int(k[2:]))  # fmt: skip
    if not keys:
        raise RnnkitError(
            f"{path}: no array 'x' (padded sequences) nor 'x_0', 'x_1', ... (one per "
            f"sequence); it holds {', '.join(files) or 'nothing'}"
        )
    return as_sequences([files[k] for k in keys])


def load_series_npz(path: str | Path) -> SeriesArrays:
    """Read series from an ``.npz`` file: ``x_0 .. x_{S-1}`` (each ``(T_s,)`` or
    ``(T_s, C)``) or a padded ``x`` ``(S, T)`` / ``(S, T, C)`` with optional ``lengths``."""
    files = _read_npz(path, "series")
    return SeriesArrays(_npz_sequences(files, Path(path)))


def load_npz(path: str | Path) -> SequenceArrays:
    """Read an ``.npz`` file of sequences: ``x`` (padded ``(N, T, F)`` or ``(N, T)``) with
    optional ``lengths``, or one array per sequence ``x_0 .. x_{N-1}``; and ``y`` ``(N,)``
    or ``(N, K)``."""
    path = Path(path)
    files = _read_npz(path, "x and y")
    if "y" not in files:
        raise RnnkitError(f"{path}: no array 'y' (the targets); it holds {', '.join(files)}")
    seqs = _npz_sequences(files, path)
    y = files["y"]
    if len(y) != len(seqs):
        raise RnnkitError(f"{path}: {len(seqs)} sequences but {len(y)} targets in 'y'")
    return SequenceArrays(seqs, y)


__all__ = [
    "MEMORY_PREFIX",
    "SequenceArrays",
    "SeriesArrays",
    "TextArrays",
    "as_sequences",
    "as_series",
    "as_texts",
    "load_npz",
    "lookup",
    "lookup_any",
    "lookup_series",
    "lookup_texts",
    "load_series_npz",
    "pad",
    "parse_series",
    "register",
    "save_npz",
    "save_series_npz",
    "unregister",
]
