"""Vocabularies of the sequence-to-sequence tasks: both sides of a pair -> ids and back.

Two kinds, one interface (``encode``, ``decode``, ``size``, ``save``, :func:`load_vocab`):

- :class:`SymbolVocab`: a closed set of symbols (the letters of a word, the phonemes of a
  pronunciation), for ``g2p``.
- :class:`SubwordVocab`: byte-pair encoding (Hugging Face ``tokenizers``) with
  SentencePiece-style word boundaries (``▁``), fitted on the training split, so that
  ``decode(encode(text)) == text`` for any text made of known symbols, for ``translate``.

Ids 0-3 are the same in both: ``[PAD]``, ``[UNK]``, ``[BOS]``, ``[EOS]``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rnnkit.errors import RnnkitError
from rnnkit.io import atomic_path, write_json

SPECIALS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3


class SymbolVocab:
    """Symbols <-> ids. A text item is split into characters (``split="chars"``) or at
    whitespace (``split="words"``, e.g. ``"R IY D"``); a sequence item is used as is."""

    def __init__(self, symbols: Sequence[str], split: str = "chars") -> None:
        if split not in ("chars", "words"):
            raise ValueError(f"split must be chars or words, got {split!r}")
        self.symbols = list(SPECIALS) + [s for s in symbols if s not in SPECIALS]
        self.split = split
        self._ids = {s: i for i, s in enumerate(self.symbols)}

    @classmethod
    def fit(cls, items: Sequence[str | Sequence[str]], split: str = "chars") -> SymbolVocab:
        """Every symbol of the (training) ``items``, sorted."""
        vocab = cls([], split)
        return cls(sorted({s for item in items for s in vocab.units(item)}), split)

    def units(self, item: str | Sequence[str]) -> list[str]:
        """The symbols of one item."""
        if isinstance(item, str):
            return list(item) if self.split == "chars" else item.split()
        return list(item)

    @property
    def size(self) -> int:
        """Number of ids, the specials included."""
        return len(self.symbols)

    def encode(self, items: Sequence[str | Sequence[str]]) -> list[list[int]]:
        """Ids of each item (unknown symbols -> ``[UNK]``; an empty item -> ``[UNK]``)."""
        return [[self._ids.get(s, UNK_ID) for s in self.units(item)] or [UNK_ID] for item in items]

    def decode(self, ids: Sequence[int]) -> list[str]:
        """The symbols of ``ids``, specials dropped."""
        return [self.symbols[i] for i in ids if i >= len(SPECIALS) and i < len(self.symbols)]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "symbols", "split": self.split, "symbols": self.symbols}

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON, atomically."""
        write_json(path, self.to_dict())


class SubwordVocab:
    """Byte-pair encoding of sentences, case kept, word boundaries as ``▁``."""

    def __init__(self, tokenizer: Any) -> None:
        self._tok = tokenizer

    @classmethod
    def fit(cls, texts: Sequence[str], vocab_size: int = 8000) -> SubwordVocab:
        """Learn ``vocab_size`` ids (specials included) from the (training) ``texts``."""
        from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers
        from tokenizers.models import BPE
        from tokenizers.trainers import BpeTrainer

        if vocab_size < len(SPECIALS) + 1:
            raise RnnkitError(f"data.vocab_size: expected at least 5, got {vocab_size}")
        if not texts:
            raise RnnkitError("cannot fit a vocabulary on an empty training split")
        tok = Tokenizer(BPE(unk_token=SPECIALS[UNK_ID]))
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        trainer = BpeTrainer(
            vocab_size=vocab_size, special_tokens=list(SPECIALS), show_progress=False
        )
        tok.train_from_iterator(list(texts), trainer=trainer)
        assert [tok.token_to_id(s) for s in SPECIALS] == [0, 1, 2, 3]
        return cls(tok)

    @property
    def size(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)

    def encode(self, items: Sequence[str]) -> list[list[int]]:
        """Sub-word ids of each text (an empty text -> ``[UNK]``)."""
        return [enc.ids or [UNK_ID] for enc in self._tok.encode_batch(list(items))]

    def decode(self, ids: Sequence[int]) -> str:
        """The text of ``ids``, specials dropped."""
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=True)

    def tokens(self, ids: Sequence[int]) -> list[str]:
        """The sub-word strings of ``ids`` (for attention plots)."""
        return [self._tok.id_to_token(int(i)) or "?" for i in ids]

    def save(self, path: str | Path) -> None:
        """Write ``tokenizer.json`` atomically."""
        with atomic_path(path) as tmp:
            self._tok.save(str(tmp))


Vocab = SymbolVocab | SubwordVocab


def load_vocab(path: str | Path) -> Vocab:
    """Read a vocabulary written by ``save`` (either kind), with a clear error if it is not."""
    path = Path(path)
    if not path.is_file():
        raise RnnkitError(f"vocabulary file {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RnnkitError(f"vocabulary file {path} is not valid JSON ({e})") from None
    if isinstance(data, dict) and data.get("kind") == "symbols":
        symbols = data.get("symbols")
        if not isinstance(symbols, list) or symbols[: len(SPECIALS)] != list(SPECIALS):
            raise RnnkitError(f"vocabulary file {path}: expected symbols starting {SPECIALS}")
        return SymbolVocab(symbols[len(SPECIALS) :], data.get("split", "chars"))
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as e:  # tokenizers raises a plain Exception for a bad file
        raise RnnkitError(f"vocabulary file {path} is not a tokenizer.json ({e})") from None
    if [tok.token_to_id(s) for s in SPECIALS] != [0, 1, 2, 3]:
        raise RnnkitError(f"vocabulary file {path}: expected {', '.join(SPECIALS)} as ids 0-3")
    return SubwordVocab(tok)
