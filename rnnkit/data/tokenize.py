"""Text -> token ids, with a Hugging Face ``tokenizers`` model trained on the training split.

Two kinds:

- ``word`` (default): Unicode-normalised, lower-cased (optional) words, with punctuation
  split off (``"It's great!"`` -> ``it ' s great !``); the ``vocab_size - 2`` most frequent
  training words get ids, every other word is ``[UNK]``.
- ``bpe``: byte-pair encoding with the same pre-tokenisation; rare words become sub-words
  instead of ``[UNK]``.

Id 0 is ``[PAD]`` and id 1 is ``[UNK]`` in both. Sequences longer than ``max_length`` are
cut at the end (keep the start, ``truncate="end"``) or at the start (keep the end,
``truncate="start"``). The whole tokenizer, truncation included, is one ``tokenizer.json``.

Datasets that already are token ids (Keras ``imdb.npz``, word ranks) skip the tokenizer:
:func:`clip_token_ids` maps their ranks to the same id layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Encoding, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import BPE, WordLevel
from tokenizers.trainers import BpeTrainer, WordLevelTrainer

from rnnkit.errors import RnnkitError
from rnnkit.io import atomic_path

PAD, UNK = "[PAD]", "[UNK]"
PAD_ID, UNK_ID = 0, 1
KINDS = ("word", "bpe")
TRUNCATE = ("end", "start")


@dataclass
class Truncation:
    """What ``max_length`` cut from a set of texts (filled by ``encode(..., stats=)``).

    >>> t = Truncation()
    >>> t.add(full=250, kept=200); t.add(full=50, kept=50)
    >>> t.describe(200, "end")
    '1 of 2 texts (50.0%) were longer than 200 tokens and lost their end: 16.7% of all tokens'
    """

    texts: int = 0  # texts seen
    cut: int = 0  # texts longer than max_length
    tokens: int = 0  # their tokens before cutting
    dropped: int = 0  # tokens cut off

    def add(self, full: int, kept: int) -> None:
        """Count one text of ``full`` tokens of which ``kept`` were kept."""
        self.texts += 1
        self.tokens += full
        self.dropped += full - kept
        self.cut += full > kept

    def describe(self, max_length: int, truncate: str) -> str:
        """One line for the user and the report."""
        if not self.cut:
            return f"no text was longer than {max_length} tokens"
        side = "end" if truncate == "end" else "start"
        return (
            f"{self.cut} of {self.texts} texts ({100 * self.cut / self.texts:.1f}%) were longer "
            f"than {max_length} tokens and lost their {side}: "
            f"{100 * self.dropped / max(self.tokens, 1):.1f}% of all tokens"
        )


class TextTokenizer:
    """A trained tokenizer: ``encode(texts) -> list of id lists`` (truncated, unpadded).

    Build one with :meth:`train` (on the training texts only) or :meth:`load`.

    Example::

        tok = TextTokenizer.train(train_texts, vocab_size=10_000, max_length=200)
        ids = tok.encode(["A gripping, well-acted thriller."])  # [[5, 2417, 4, ...]]
        tok.save(run_dir / "tokenizer.json")
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tok = tokenizer
        trunc = tokenizer.truncation
        self.max_length: int | None = trunc["max_length"] if trunc else None
        self.truncate: str = "start" if trunc and trunc["direction"] == "left" else "end"

    # ------------------------------------------------------------------ build
    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        *,
        kind: str = "word",
        vocab_size: int = 10_000,
        lowercase: bool = True,
        max_length: int = 200,
        truncate: str = "end",
        min_frequency: int = 1,
    ) -> TextTokenizer:
        """Fit a tokenizer on ``texts`` (the training split).

        Args:
            texts: the training texts.
            kind: ``word`` or ``bpe``.
            vocab_size: the most ids, ``[PAD]`` and ``[UNK]`` included (>= 3).
            lowercase: lower-case before splitting.
            max_length: the most tokens kept per text (>= 1).
            truncate: ``end`` cuts the tail of long texts, ``start`` the head.
            min_frequency: words (merges for BPE) seen fewer times get no id.
        """
        if kind not in KINDS:
            raise RnnkitError(f"data.tokenizer: {kind!r} is not one of {', '.join(KINDS)}")
        if truncate not in TRUNCATE:
            raise RnnkitError(f"data.truncate: {truncate!r} is not one of {', '.join(TRUNCATE)}")
        if vocab_size < 3:
            raise RnnkitError(
                f"data.vocab_size: expected at least 3 (pad, unk, a word), got {vocab_size}"
            )
        if max_length < 1:
            raise RnnkitError(f"data.max_length: expected at least 1, got {max_length}")
        if not texts:
            raise RnnkitError("cannot train a tokenizer on an empty training split")
        specials = [PAD, UNK]  # ids 0 and 1, in this order
        if kind == "word":
            tok = Tokenizer(WordLevel(unk_token=UNK))
            trainer: WordLevelTrainer | BpeTrainer = WordLevelTrainer(
                vocab_size=vocab_size,
                min_frequency=min_frequency,
                special_tokens=specials,
                show_progress=False,
            )
        else:
            tok = Tokenizer(BPE(unk_token=UNK))
            trainer = BpeTrainer(
                vocab_size=vocab_size,
                min_frequency=min_frequency,
                special_tokens=specials,
                show_progress=False,
            )
        norm = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
        tok.normalizer = normalizers.Sequence(norm)
        tok.pre_tokenizer = pre_tokenizers.Whitespace()  # words and punctuation runs
        tok.train_from_iterator(texts, trainer=trainer)
        tok.enable_truncation(max_length, direction="right" if truncate == "end" else "left")
        assert tok.token_to_id(PAD) == PAD_ID and tok.token_to_id(UNK) == UNK_ID
        return cls(tok)

    @classmethod
    def load(cls, path: str | Path) -> TextTokenizer:
        """Read a tokenizer saved by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise RnnkitError(f"tokenizer file {path} does not exist")
        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as e:  # tokenizers raises a plain Exception for bad JSON
            raise RnnkitError(
                f"tokenizer file {path} is not a valid tokenizer.json ({e})"
            ) from None
        if tok.token_to_id(PAD) != PAD_ID or tok.token_to_id(UNK) != UNK_ID:
            raise RnnkitError(f"tokenizer file {path}: expected {PAD} = 0 and {UNK} = 1")
        return cls(tok)

    def save(self, path: str | Path) -> None:
        """Write ``tokenizer.json`` atomically."""
        with atomic_path(path) as tmp:
            self._tok.save(str(tmp))

    # ------------------------------------------------------------------ use
    @property
    def vocab_size(self) -> int:
        """Number of ids (embedding rows needed), ``[PAD]`` and ``[UNK]`` included."""
        return self._tok.get_vocab_size(with_added_tokens=True)

    def encode(self, texts: Sequence[str], stats: Truncation | None = None) -> list[list[int]]:
        """Token ids of each text, truncated to ``max_length``; never empty (``[UNK]``).
        ``stats`` (optional) counts what the truncation cut."""
        encodings = self._tok.encode_batch(list(texts))
        if stats is not None:
            for enc in encodings:
                stats.add(_full_length(enc), len(enc.ids))
        return [enc.ids or [UNK_ID] for enc in encodings]

    def full_lengths(self, texts: Sequence[str]) -> list[int]:
        """Tokens in each text before truncation (what :meth:`encode` cuts to ``max_length``)."""
        return [_full_length(enc) for enc in self._tok.encode_batch(list(texts))]

    def tokens(self, text: str) -> list[str]:
        """The token strings of one text, as :meth:`encode` sees them (for explanations)."""
        return self._tok.encode(text).tokens or [UNK]

    def id_to_token(self, index: int) -> str:
        """The token string of id ``index``."""
        token = self._tok.id_to_token(index)
        if token is None:
            raise ValueError(f"token id {index} is outside the vocabulary (size {self.vocab_size})")
        return token


def _full_length(encoding: Encoding) -> int:
    """Tokens of an encoding before truncation: the kept ones and the overflowing ones."""
    return len(encoding.ids) + sum(len(o.ids) for o in encoding.overflowing)


def clip_token_ids(
    ranks: Sequence[Sequence[int]],
    *,
    vocab_size: int,
    max_length: int,
    truncate: str = "end",
    stats: Truncation | None = None,
) -> list[list[int]]:
    """Map word ranks (1 = most frequent word) to ids with ``[PAD]`` = 0 and ``[UNK]`` = 1.

    Rank r becomes id r + 1 when r + 1 < vocab_size, else ``[UNK]``; each sequence is cut
    to ``max_length`` as :class:`TextTokenizer` does (``stats``: counts what was cut).
    """
    if truncate not in TRUNCATE:
        raise RnnkitError(f"data.truncate: {truncate!r} is not one of {', '.join(TRUNCATE)}")
    out = []
    for seq in ranks:
        ids = [r + 1 if r > 0 and r + 1 < vocab_size else UNK_ID for r in seq]
        full = len(ids)
        ids = ids[:max_length] if truncate == "end" else ids[-max_length:]
        if stats is not None:
            stats.add(full, len(ids))
        out.append(ids or [UNK_ID])
    return out
