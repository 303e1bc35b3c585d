"""Text corpora for character-level language modelling: files -> documents -> ids.

A corpus is one UTF-8 text file or a folder of them (every regular, non-hidden file under
it, in sorted order; each file is one *document*). Text becomes ids at one of two levels:

- ``char``: one id per Unicode character; the vocabulary is the characters of the
  training split, plus id 0 for characters never seen in training (``UNK``).
- ``byte``: one id per UTF-8 byte; the vocabulary is the 256 byte values (no unknowns).

The corpus is split *by position*: the concatenated documents are cut into a leading
training part, then validation, then test, so that no evaluation text was seen in
training. Where documents meet, ``doc_starts`` marks the position at which the carried
state must be reset (see :mod:`rnnkit.data.streams`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from rnnkit.data.files import check_data_file, check_data_files
from rnnkit.errors import RnnkitError
from rnnkit.io import write_json

UNK = "\ufffd"  # the symbol shown for id 0 of a char vocabulary (characters unseen in training)
LEVELS = ("char", "byte")


# ----------------------------------------------------------------------------- reading


def _read_document(path: Path) -> str:
    """The text of one UTF-8 file, refusing empty, binary (NUL bytes) and non-UTF-8 files."""
    check_data_file(path, "text file")
    raw = path.read_bytes()
    if not raw:
        raise RnnkitError(f"text file {path} is empty; a corpus needs some text")
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise RnnkitError(
            f"text file {path} looks binary (a NUL byte at offset {nul}); expected UTF-8 text"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise RnnkitError(
            f"text file {path} is not UTF-8 (invalid byte 0x{raw[e.start]:02x} at offset "
            f"{e.start}, line {line}); convert it to UTF-8 first"
        ) from None


def read_documents(path: str | Path) -> list[tuple[Path, str]]:
    """The documents of a corpus: ``[(file, text), ...]``.

    Args:
        path: a UTF-8 text file (one document), or a folder whose regular, non-hidden files
            (searched recursively, in sorted order) are the documents.

    Raises:
        RnnkitError: the path is missing, the folder holds no files, or a file is empty,
            binary or not UTF-8 (the message names the file).
    """
    path = Path(path)
    check_data_file(path, "corpus file")  # a device or a pipe is neither a file nor a folder
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not files:
            raise RnnkitError(f"corpus folder {path} holds no files")
    else:
        raise RnnkitError(f"corpus {path} does not exist (expected a text file or a folder)")
    check_data_files(files, "text file")
    return [(f, _read_document(f)) for f in files]


# ----------------------------------------------------------------------------- vocabulary


@dataclass
class Vocab:
    """The mapping between symbols and ids.

    Attributes:
        level: ``"char"`` or ``"byte"``.
        symbols: for ``char``, the characters by id (``symbols[0]`` is :data:`UNK`); for
            ``byte``, empty (id = byte value).
    """

    level: str
    symbols: list[str]

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise RnnkitError(f"vocabulary level {self.level!r}: expected one of {LEVELS}")
        self._index = {s: i for i, s in enumerate(self.symbols)}

    @classmethod
    def fit(cls, text: str, level: str = "char") -> Vocab:
        """The vocabulary of ``text`` (the training split) at ``level``."""
        if level == "byte":
            return cls("byte", [])
        return cls(level, [UNK, *sorted(set(text) - {UNK})])

    def __len__(self) -> int:
        return 256 if self.level == "byte" else len(self.symbols)

    @property
    def unk_id(self) -> int | None:
        """The id of unknown characters (``0`` for char vocabularies, None for bytes)."""
        return 0 if self.level == "char" else None

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of ``text`` outside the vocabulary, in order of appearance."""
        if self.level == "byte":
            return []
        return list(dict.fromkeys(c for c in text if c not in self._index))

    def encode(self, text: str) -> torch.Tensor:
        """``(N,)`` int64 ids of ``text``; unknown characters become :attr:`unk_id`."""
        if self.level == "byte":
            return torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8).long()
        get = self._index.get
        return torch.tensor([get(c, 0) for c in text], dtype=torch.int64)

    def decode(self, ids: torch.Tensor | list[int]) -> str:
        """The text of ``ids`` (bytes that do not form valid UTF-8 show as U+FFFD)."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        if self.level == "byte":
            return bytes(ids).decode("utf-8", errors="replace")
        return "".join(self.symbols[i] for i in ids)

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON (atomically)."""
        write_json(path, {"level": self.level, "symbols": self.symbols})

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        """Read a vocabulary written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise RnnkitError(f"vocabulary file {path} is missing")
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
            return cls(obj["level"], list(obj["symbols"]))
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise RnnkitError(f"vocabulary file {path} is not a valid vocabulary ({e})") from None


# ----------------------------------------------------------------------------- splitting


@dataclass
class TextSplit:
    """One split of a corpus as ids.

    Attributes:
        ids: ``(N,)`` int64 symbol ids of the split, documents concatenated.
        doc_starts: ``(D,)`` int64 positions in ``ids`` where a document begins (the state
            is reset before reading that symbol, and the symbol is not predicted from the
            previous document). Position 0 is not listed: every split starts fresh.
    """

    ids: torch.Tensor
    doc_starts: torch.Tensor

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def split_text(
    documents: list[str], fractions: tuple[float, float, float]
) -> dict[str, tuple[str, list[int]]]:
    """Cut the concatenated ``documents`` by position into train, val and test.

    Returns:
        ``{split: (text, doc_starts)}`` where ``doc_starts`` are character positions within
        that split's text at which a document begins (excluding 0).
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise RnnkitError(f"split fractions {fractions}: expected three non-negative numbers")
    text = "".join(documents)
    starts, pos = [], 0
    for doc in documents[:-1]:
        pos += len(doc)
        starts.append(pos)
    n = len(text)
    n_train = int(round(n * fractions[0]))
    n_val = int(round(n * fractions[1]))
    n_seen = n_train + n_val
    bounds = {"train": (0, n_train), "val": (n_train, n_seen), "test": (n_seen, n)}
    out = {}
    for name, (a, b) in bounds.items():
        out[name] = (text[a:b], [s - a for s in starts if a < s < b])
    return out


def encode_split(vocab: Vocab, text: str, doc_starts: list[int]) -> TextSplit:
    """Encode one split; for byte vocabularies, character positions become byte positions."""
    ids = vocab.encode(text)
    if vocab.level == "byte" and doc_starts:
        cuts = [0, *doc_starts]
        sizes = [len(text[a:b].encode("utf-8")) for a, b in zip(cuts[:-1], cuts[1:])]
        doc_starts = torch.tensor(sizes).cumsum(0).tolist()
    return TextSplit(ids, torch.tensor(doc_starts, dtype=torch.int64))


__all__ = [
    "LEVELS",
    "UNK",
    "TextSplit",
    "Vocab",
    "encode_split",
    "read_documents",
    "split_text",
]
