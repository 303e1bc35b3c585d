"""``rnnkit train translate``: machine translation, a sentence -> its translation, with an
encoder-decoder with attention (see :mod:`rnnkit.tasks.seq2seq`).

The built-in data (``data.source=ding``) is the German -> English sentence pairs of the
Ding dictionary (Debian package ``trans-de-en``, ``/usr/share/trans/de-en``; about 18,000
sub-entries are whole sentences on both sides, read by :func:`rnnkit.data.pairs.read_ding`).
Users' pairs: a TSV or CSV file of ``source, target`` or two aligned text files
(``data.source`` and ``data.target_file``); a file in the Ding layout with
``data.format=ding``.

The split is by source sentence (case-folded, spaces normalised): a sentence of the test
split is in no training pair. Training sees every pair of its sources; a held-out source
is scored against all its translations in the data (sacrebleu's variable references).
Both sides get their own byte-pair encoding (Hugging Face ``tokenizers``), fitted on the
training split only.

Metrics: corpus BLEU and chrF computed by ``sacrebleu`` on the detokenised outputs (their
signatures are in ``report.json`` under ``anchor``). Baselines on the same test split:
``copy_source`` (the source sentence unchanged) and ``word_by_word`` (a word dictionary
learnt from the training pairs, :class:`rnnkit.baselines.translation.WordByWord`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.baselines.translation import WordByWord
from rnnkit.config import option
from rnnkit.data.pairs import (
    DING_KINDS,
    DING_PATH,
    Pair,
    normalise_key,
    read_ding,
    read_pair_file,
    read_parallel_files,
)
from rnnkit.data.seqvocab import SubwordVocab, Vocab
from rnnkit.data.splits import split_groups
from rnnkit.errors import RnnkitError
from rnnkit.metrics.sequence import translation_scores
from rnnkit.tasks.seq2seq import Example, Seq2SeqData, Seq2SeqTask

BUILTIN_NAME = "ding"
FORMATS = ("auto", "ding", "pairs", "lines")


@dataclass
class TranslateData(Seq2SeqData):
    """``data`` section of ``rnnkit train translate``."""

    source: str = option(
        BUILTIN_NAME,
        "built-in 'ding' (German->English sentences of trans-de-en), a TSV/CSV file of "
        "source,target pairs, or a text file of sources (with data.target_file)",
    )
    target_file: str = option(
        "", "aligned text file of targets: line i translates line i of data.source"
    )
    format: str = option(
        "auto",
        "auto | ding | pairs | lines (auto: ding for the built-in, lines with "
        "data.target_file, else pairs: CSV for .csv, else tab-separated)",
    )
    header: bool = option(False, "skip the first line of a TSV/CSV file (column names)")
    kind: str = option("sentences", "Ding pairs: sentences | phrases (multi-word, not sentences)")
    pairs: int = option(0, "a random subset of this many pairs (0 = every pair)")
    vocab_size: int = option(4000, "BPE ids per side, specials included (fitted on train)")


class TranslateTask(Seq2SeqTask):
    """Sentence -> translation; BLEU and chrF on held-out source sentences."""

    name = "translate"
    DataConfig = TranslateData
    capabilities = Seq2SeqTask.capabilities | {"translate"}
    model_defaults = {
        "cell": "lstm",
        "hidden_size": 256,
        "num_layers": 1,
        "bidirectional": True,
        "embedding_dim": 128,
        "dropout": 0.2,
    }
    train_defaults = {
        "epochs": 12,
        "batch_size": 64,
        "lr": 2e-3,
        "clip_norm": 1.0,
        "early_stopping": 3,
    }
    monitor = "bleu"
    monitor_mode = "max"
    ANCHOR_SOURCE = (
        "other data, not ours (news text, larger models, word vocabularies): RNN "
        "encoder-decoders with attention on WMT'14 test sets; RNNsearch-50 English->French "
        "26.75 BLEU (Bahdanau et al. 2015); local attention + input feeding English->German "
        "20.9 BLEU, 23.0 as an ensemble of 8 (Luong et al. 2015)"
    )

    @property
    def anchor(self) -> dict[str, Any]:  # type: ignore[override]
        """The published figures and how rnnkit's scores were computed (sacrebleu's
        signatures: tokeniser, smoothing, version)."""
        return {
            "source": self.ANCHOR_SOURCE,
            "bleu_rnnsearch_en_fr": 26.75,
            "bleu_luong_en_de": 20.9,
            "bleu_luong_en_de_ensemble": 23.0,
            **(getattr(self, "_signatures", None) or sacrebleu_signatures()),
        }

    def _check_config(self) -> None:
        super()._check_config()
        d = self.cfg.data
        if d.format not in FORMATS:
            raise RnnkitError(f"data.format: {d.format!r} is not one of {', '.join(FORMATS)}")
        if d.kind not in DING_KINDS:
            raise RnnkitError(f"data.kind: {d.kind!r} is not one of {', '.join(DING_KINDS)}")
        if d.pairs < 0:
            raise RnnkitError(f"data.pairs: expected >= 0 (0 = all), got {d.pairs}")
        if d.vocab_size < 5:
            raise RnnkitError(f"data.vocab_size: expected at least 5, got {d.vocab_size}")

    # ------------------------------------------------------------------ data
    def _format(self, source: str, target_file: str, fmt: str = "") -> str:
        """The layout of ``source``: ding, pairs (TSV / CSV) or lines."""
        fmt = fmt or self.cfg.data.format
        if fmt == "auto":
            if source == BUILTIN_NAME:
                return "ding"
            if target_file:
                return "lines"
            return "pairs"
        if fmt == "lines" and not target_file:
            raise RnnkitError(
                "data.format=lines needs data.target_file, the aligned file of translations"
            )
        return fmt

    def read_pairs(self, source: str, target_file: str = "", fmt: str = "") -> list[Pair]:
        """The pairs of ``source`` (the built-in name or a file) in format ``fmt`` (default:
        ``data.format``)."""
        d = self.cfg.data
        fmt = self._format(source, target_file, fmt)
        if source != BUILTIN_NAME and not Path(source).is_file():
            raise RnnkitError(
                f"data.source {source!r} is neither the built-in 'ding' nor an existing file "
                f"of pairs (TSV/CSV of source,target, or sentences with data.target_file)"
            )
        if target_file and fmt != "lines":
            raise RnnkitError(
                f"data.target_file is set, so data.source is a file of sentences: use "
                f"data.format=lines or auto (got {fmt})"
            )
        if fmt == "ding":
            path = None if source == BUILTIN_NAME else Path(source)
            pairs = read_ding(path, kind=d.kind)
            if not pairs:
                raise RnnkitError(f"{path or DING_PATH} holds no Ding {d.kind} pairs")
            return pairs
        if fmt == "lines":
            return read_parallel_files(source, target_file)
        if source == BUILTIN_NAME:
            raise RnnkitError(
                "data.format=pairs reads a file; the built-in 'ding' is in ding format"
            )
        return read_pair_file(source, header=d.header)

    def load_examples(self) -> dict[str, list[Example]]:
        d = self.cfg.data
        pairs = self.read_pairs(d.source, d.target_file)
        total = len(pairs)
        if d.pairs and d.pairs < len(pairs):
            pick = np.random.default_rng(self.cfg.seed).choice(len(pairs), d.pairs, replace=False)
            pairs = [pairs[i] for i in sorted(pick)]
        self._counts = (len(pairs), total)
        keys = [normalise_key(p.source) for p in pairs]
        fractions = (1.0 - d.val_fraction - d.test_fraction, d.val_fraction, d.test_fraction)
        parts = split_groups(keys, fractions, seed=self.cfg.seed)
        out: dict[str, list[Example]] = {}
        for split, idx in zip(("train", "val", "test"), parts):
            if split == "train":  # one example per pair
                out[split] = [
                    Example(pairs[i].source, pairs[i].target, [pairs[i].target]) for i in idx
                ]
            else:  # one per source sentence, scored against all its translations
                out[split] = _one_per_source([pairs[i] for i in idx])
        return out

    def fit_vocabs(self, train: list[Example]) -> tuple[Vocab, Vocab]:
        size = self.cfg.data.vocab_size
        return (
            SubwordVocab.fit([e.source for e in train], vocab_size=size),
            SubwordVocab.fit([e.target for e in train], vocab_size=size),
        )

    def describe_data(self) -> str:
        d = self.cfg.data
        used, total = getattr(self, "_counts", (d.pairs, 0))
        if not d.pairs or used == total:
            subset = f"all {used} pairs" if used else "all pairs"
        else:
            subset = f"{used} random pairs" + (f" of {total}" if total else "")
        if d.source == BUILTIN_NAME:
            where = f"ding (trans-de-en {DING_PATH}, German->English {d.kind})"
        elif d.target_file:
            where = f"{d.source} + {d.target_file}"
        else:
            where = d.source
        return f"{where} ({subset}, seed {self.cfg.seed}, split by source sentence)"

    def set_data(self, source: str) -> None:
        """Evaluate on another pair file: all its pairs become the val and test splits. A
        ``.tsv``, ``.csv`` or ``.txt`` file holds pairs; another file is in the run's
        ``data.format`` (a run trained on a Ding-layout file reads Ding files)."""
        if source == BUILTIN_NAME or not Path(source).is_file():
            raise RnnkitError(
                f"--data {source}: expected a file of pairs (TSV/CSV of source,target)"
            )
        fmt = "pairs" if Path(source).suffix.lower() in (".tsv", ".csv", ".txt") else ""
        if not fmt and self.cfg.data.format in ("auto", "lines"):
            fmt = "pairs"
        examples = _one_per_source(self.read_pairs(source, fmt=fmt))
        self.examples = {"train": [], "val": examples, "test": examples}
        self._encoded = {}

    # ------------------------------------------------------------------ outputs
    def render(self, ids: list[int]) -> str:  # type: ignore[override]
        if self.target_vocab is None:
            raise RnnkitError("the vocabularies are not loaded (call prepare or restore first)")
        return str(self.target_vocab.decode(ids))

    def score(self, outputs: list[Any], examples: list[Example]) -> dict[str, float]:
        scores = translation_scores(outputs, [e.refs for e in examples])
        self._signatures = {k: scores[k] for k in ("bleu_signature", "chrf_signature")}
        return {"bleu": scores["bleu"], "chrf": scores["chrf"]}

    def baselines(self) -> dict[str, dict[str, float]]:
        """``copy_source`` and ``word_by_word`` (an IBM Model 1 dictionary of the training pairs)
        on the test split."""
        train = self._examples("train")
        test = self._examples("test")
        lexicon = WordByWord.fit((e.source, e.target) for e in train)
        return {
            "copy_source": self.score([e.source for e in test], test),
            "word_by_word": self.score([lexicon.translate(e.source) for e in test], test),
        }


def sacrebleu_signatures() -> dict[str, str]:
    """How :func:`~rnnkit.metrics.sequence.translation_scores` scores: sacrebleu's BLEU and
    chrF signatures (tokeniser, smoothing, n-gram orders, version) for one reference (the
    task's own scoring replaces them: ``nrefs:var`` where a source has several)."""
    scores = translation_scores(["a"], ["a"])  # sacrebleu signs a metric once it has scored
    return {k: scores[k] for k in ("bleu_signature", "chrf_signature")}


def _one_per_source(pairs: list[Pair]) -> list[Example]:
    """One example per distinct source (its first pair); ``refs`` every translation."""
    first: dict[str, Example] = {}
    for p in pairs:
        key = normalise_key(p.source)
        if key in first:
            if p.target not in first[key].refs:
                first[key].refs.append(p.target)
        else:
            first[key] = Example(p.source, p.target, [p.target])
    return list(first.values())
