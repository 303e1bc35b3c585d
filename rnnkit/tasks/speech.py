"""``rnnkit train speech``: speech recognition of spoken digit strings and short words,
audio -> characters, with a recurrent acoustic model and CTC.

Data (``data.source``):

``espeak`` (default)
    utterances synthesised by espeak-ng (:mod:`rnnkit.data.speech`): ``data.utterances``
    texts of ``data.min_words``-``data.max_words`` words from ``data.words`` (``digits``:
    zero-nine and oh; ``numbers``: also ten-nineteen, the tens, hundred, thousand,
    million; or your words, comma-separated), each spoken by an English accent with a
    voice variant, at a random speed and pitch. Test and validation speakers use voice
    variants that training never hears. Generated once and cached (``data.cache_dir``).
a folder
    WAV files and ``transcripts.tsv`` (``file.wav<TAB>transcript[<TAB>speaker]``); split
    by speaker when the third column names speakers, else by file.

Out of domain (``data.ood=asterisk``, espeak only): the recorded speaker of the Debian
``asterisk-core-sounds-en-wav`` package, the clips whose transcript uses only the
training words, and ``data.ood_strings`` strings made of its clips. Reported beside the
in-domain test figures (``asterisk_cer``, ``asterisk_wer``).

Audio is read at ``data.sample_rate`` (8 kHz, the asterisk recordings' rate; a folder's
file at another rate is refused unless ``data.resample=true``), turned into
``data.n_mels`` log-mel energies every 10 ms from ``data.f_min`` Hz to half the rate
(:mod:`rnnkit.data.audio`), each band normalised to mean 0, variance 1 over the
utterance. Batches are bucketed by length. Training masks bands and frames
(SpecAugment, ``data.spec_augment``).

Model: :class:`rnnkit.models.acoustic.CTCAcousticModel` (convolutional front-end, any
rnnkit cell family, bidirectional), CTC over the characters of the training
transcripts. Validation decodes greedily; the test split, the out-of-domain set and
``predict`` with prefix beam search (``data.beam_size``; :mod:`rnnkit.metrics.ctc`).
Metrics: character and word error rate (``cer``, ``wer``; edit distances over reference
length). Baseline: the transcript of the nearest training utterance by its averaged
MFCCs (mean and standard deviation of 13 coefficients, standardised).

``rnnkit predict RUN_DIR clip.wav`` prints the transcript of each WAV file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np
import torch
from torch import nn

from rnnkit.config import RunConfig, option
from rnnkit.data.audio import FrontEnd, dct_matrix, load_wav, log_mel, read_wav
from rnnkit.data.batch import Batch
from rnnkit.data.batching import BucketedBatches
from rnnkit.data.pairs import split_groups
from rnnkit.data.speech import (
    WORD_SETS,
    EspeakSpec,
    Utterance,
    asterisk_utterances,
    espeak_utterances,
    folder_utterances,
)
from rnnkit.errors import RnnkitError
from rnnkit.io import write_json
from rnnkit.metrics.ctc import ctc_decode
from rnnkit.metrics.sequence import error_rate
from rnnkit.models.acoustic import AcousticConfig, CTCAcousticModel
from rnnkit.tasks.base import Task

ALPHABET = "alphabet.json"
SPLITS = ("train", "val", "test")
OOD = "asterisk"
ctc_loss = CTCAcousticModel.loss


@dataclass
class SpeechData:
    """The ``data`` section of ``rnnkit train speech``."""

    source: str = option("espeak", "espeak (synthesised), or a folder with transcripts.tsv")
    words: str = option("digits", "espeak: digits | numbers | comma-separated words")
    utterances: int = option(2000, "espeak: training utterances")
    val_utterances: int = option(200, "espeak: validation utterances (held-out voices)")
    test_utterances: int = option(400, "espeak: test utterances (other held-out voices)")
    min_words: int = option(1, "espeak: fewest words per utterance")
    max_words: int = option(4, "espeak: most words per utterance")
    test_variants: int = option(20, "espeak: voice variants only the test split speaks with")
    val_variants: int = option(10, "espeak: voice variants only validation speaks with")
    speed: list[int] = option([130, 210], "espeak: words per minute, [min, max]")
    pitch: list[int] = option([20, 80], "espeak: pitch 0-99, [min, max]")
    cache_dir: str = option("", "espeak audio cache; empty = $RNNKIT_CACHE/speech or ~/.cache")
    ood: str = option("asterisk", "out-of-domain test: asterisk (recorded speaker) | none")
    ood_strings: int = option(200, "asterisk: word strings joined from its clips, besides them")
    val_fraction: float = option(0.1, "a folder: share of speakers (or files) for validation")
    test_fraction: float = option(0.1, "a folder: share of speakers (or files) for testing")
    sample_rate: int = option(8000, "Hz; the rate every clip is read at")
    resample: bool = option(False, "a folder: resample clips at another rate (else refused)")
    n_mels: int = option(40, "log-mel bands per 10 ms frame")
    f_min: float = option(
        150.0, "Hz, the lowest mel band's edge (recorded telephone speech has little below it)"
    )
    beam_size: int = option(8, "CTC beam width on test and in predict (1 = greedy)")
    bucket_batches: int = option(20, "batches per length-sorted chunk (1 = plain random)")
    spec_augment: int = option(
        2, "training: this many frequency masks (<= 6 bands) and time masks (<= 8 frames)"
    )


@dataclass
class Features:
    """One split: per utterance its normalised frames ``(T, n_mels)`` float32, its
    transcript and speaker, and ``mfcc_stats (N, 26)``: the mean and standard deviation
    over time of the 13 MFCCs of its (unnormalised) log-mel frames."""

    frames: list[np.ndarray]
    texts: list[str]
    speakers: list[str]
    mfcc_stats: np.ndarray


def spec_augment(
    x: torch.Tensor, lengths: torch.Tensor, masks: int, bands: int = 6, frames: int = 8
) -> torch.Tensor:
    """SpecAugment's masking (Park et al. 2019) of normalised frames ``x (B, T, M)``: per
    utterance ``masks`` runs of up to ``bands`` mel bands and ``masks`` runs of up to
    ``frames`` frames (inside its length) set to 0, the mean. Draws from torch's global
    generator (seeded by the run). Returns a new tensor."""
    x = x.clone()
    B, _, M = x.shape
    for b in range(B):
        n = int(lengths[b])
        for _ in range(masks):
            w = int(torch.randint(0, bands + 1, ()))
            f0 = int(torch.randint(0, max(M - w, 0) + 1, ()))
            x[b, :n, f0 : f0 + w] = 0.0
            w = int(torch.randint(0, min(frames, n // 4) + 1, ()))
            t0 = int(torch.randint(0, max(n - w, 0) + 1, ()))
            x[b, t0 : t0 + w] = 0.0
    return x


@contextmanager
def one_thread() -> Iterator[None]:
    """torch on one thread for the block: the front-end's many small operations run
    several times faster so on a shared CPU (the thread count is restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class SpeechTask(Task):
    """Audio -> characters with CTC; see the module docstring."""

    name: ClassVar[str] = "speech"
    DataConfig: ClassVar[type] = SpeechData
    ModelConfig: ClassVar[type] = AcousticConfig
    model_defaults: ClassVar[dict[str, Any]] = {
        "cell": "lstm",
        "hidden_size": 128,
        "num_layers": 2,
        "bidirectional": True,
        "dropout": 0.1,
    }
    train_defaults: ClassVar[dict[str, Any]] = {
        "epochs": 30,
        "batch_size": 32,
        "lr": 1e-3,
        "clip_norm": 1.0,
        "early_stopping": 6,
    }
    monitor: ClassVar[str] = "cer"
    monitor_mode: ClassVar[str] = "min"
    capabilities: ClassVar[frozenset[str]] = frozenset({"evaluate", "predict"})
    serve_input: ClassVar[str] = "files"  # predict reads WAV paths: rnnkit serve refuses them

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__(cfg)
        d: SpeechData = cfg.data
        self.front = FrontEnd(sample_rate=d.sample_rate, n_mels=d.n_mels, f_min=d.f_min)
        if d.beam_size < 1:
            raise RnnkitError(f"data.beam_size: expected >= 1, got {d.beam_size}")
        if d.spec_augment < 0:
            raise RnnkitError(f"data.spec_augment: expected >= 0 masks, got {d.spec_augment}")
        if d.bucket_batches < 1:
            raise RnnkitError(f"data.bucket_batches: expected >= 1, got {d.bucket_batches}")
        if d.ood not in (OOD, "none", ""):
            raise RnnkitError(f"data.ood: expected asterisk or none, got {d.ood!r}")
        for key in ("val_fraction", "test_fraction"):
            if not 0.0 < getattr(d, key) < 0.5:
                raise RnnkitError(
                    f"data.{key}: expected a value in (0, 0.5), got {getattr(d, key)}"
                )
        for key in ("speed", "pitch"):
            if len(getattr(d, key)) != 2:
                raise RnnkitError(f"data.{key}: expected [min, max], got {getattr(d, key)}")
        self.symbols: list[str] = []  # the characters; label i + 1 is symbols[i], 0 = blank
        self.splits: dict[str, Features] = {}
        self.ood_set: Features | None = None
        self.resampled = 0

    # ------------------------------------------------------------------ data
    @property
    def is_espeak(self) -> bool:
        """Whether the data is synthesised (``data.source=espeak``)."""
        return self.cfg.data.source == "espeak"

    def word_list(self) -> tuple[str, ...]:
        """``data.words`` as the words themselves."""
        words = self.cfg.data.words.strip()
        if words in WORD_SETS:
            return WORD_SETS[words]
        listed = tuple(w.strip().lower() for w in words.split(",") if w.strip())
        if not listed:
            raise RnnkitError(f"data.words: expected {' | '.join(WORD_SETS)} or words, got ''")
        return listed

    def espeak_spec(self) -> EspeakSpec:
        """The generator's parameters from the ``data`` section and the seed."""
        d: SpeechData = self.cfg.data
        return EspeakSpec(
            sizes=(d.utterances, d.val_utterances, d.test_utterances),
            words=self.word_list(),
            min_words=d.min_words,
            max_words=d.max_words,
            test_variants=d.test_variants,
            val_variants=d.val_variants,
            speed=(int(d.speed[0]), int(d.speed[1])),
            pitch=(int(d.pitch[0]), int(d.pitch[1])),
            sample_rate=d.sample_rate,
            seed=self.cfg.seed,
        )

    def _cache_dir(self) -> Path | None:
        return Path(self.cfg.data.cache_dir).expanduser() if self.cfg.data.cache_dir else None

    def _utterances(self) -> dict[str, list[Utterance]]:
        d: SpeechData = self.cfg.data
        if self.is_espeak:
            return espeak_utterances(self.espeak_spec(), self._cache_dir())
        clips = folder_utterances(d.source)
        known = [u.speaker for u in clips]
        keys = known if len(set(known) - {"unknown"}) >= 3 else [str(u.path) for u in clips]
        fractions = (1.0 - d.val_fraction - d.test_fraction, d.val_fraction, d.test_fraction)
        parts = split_groups(keys, fractions, seed=self.cfg.seed)
        return {s: [clips[i] for i in idx] for s, idx in zip(SPLITS, parts)}

    def features(self, clips: Sequence[Utterance]) -> Features:
        """Normalised log-mel frames of ``clips`` (read at ``data.sample_rate``)."""
        d: SpeechData = self.cfg.data
        frames, stats = [], []
        with one_thread():
            for u in clips:
                if d.resample:
                    _, rate = read_wav(u.path)
                    self.resampled += rate != d.sample_rate
                x, c = self.frames_of(load_wav(u.path, d.sample_rate, allow_resample=d.resample))
                frames.append(x)
                stats.append(c)
        texts, speakers = [u.text for u in clips], [u.speaker for u in clips]
        return Features(frames, texts, speakers, np.asarray(stats, dtype=np.float64))

    def frames_of(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Samples ``(N,)`` -> log-mel frames ``(T, n_mels)`` float32, each band normalised
        to mean 0 and variance 1 over the utterance, and the MFCC statistics ``(26,)``."""
        x = log_mel(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)), self.front)
        c = x @ dct_matrix(self.front.n_mels, 13, x.dtype)  # (T, 13) MFCCs
        stats = torch.cat([c.mean(0), c.std(0, unbiased=False)])  # (26,)
        x = (x - x.mean(0)) / (x.std(0, unbiased=False) + 1e-5)  # (T, M)
        return x.numpy(), stats.numpy()

    def _load(self) -> None:
        utts = self._utterances()
        for split in SPLITS:
            if not utts[split]:
                raise RnnkitError(
                    f"the {split} split is empty; give more clips or a larger data.{split}_fraction"
                    if split != "train"
                    else "the training split is empty"
                )
        self.splits = {s: self.features(utts[s]) for s in SPLITS}
        if self.is_espeak and self.cfg.data.ood == OOD:
            d: SpeechData = self.cfg.data
            clips = asterisk_utterances(
                self.word_list(), strings=d.ood_strings, max_words=d.max_words,
                seed=self.cfg.seed, cache_dir=self._cache_dir(),
            )  # fmt: skip
            self.ood_set = self.features(clips)

    def _ensure_data(self) -> None:
        if not self.splits:
            self._load()

    def prepare(self, run_dir: Path) -> None:
        """Generate or read the clips, compute their features, fit the alphabet on the
        training transcripts and save it (``alphabet.json``)."""
        self._load()
        chars = sorted({c for t in self.splits["train"].texts for c in t})
        self.symbols = chars
        write_json(
            Path(run_dir) / ALPHABET,
            {"symbols": chars, "blank": 0, "sizes": {s: len(self.splits[s].texts) for s in SPLITS}},
        )

    def restore(self, run_dir: Path) -> None:
        path = Path(run_dir) / ALPHABET
        if not path.is_file():
            raise RnnkitError(f"run directory {run_dir}: {ALPHABET} is missing (not a speech run?)")
        try:
            self.symbols = list(json.loads(path.read_text(encoding="utf-8"))["symbols"])
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise RnnkitError(f"{path}: not a speech alphabet ({e})") from None

    def set_data(self, source: str) -> None:
        """Evaluate on a folder of WAV files with ``transcripts.tsv``: all of it is val and test."""
        feats = self.features(folder_utterances(source))
        empty = Features([], [], [], np.zeros((0, 26)))
        self.splits = {"train": empty, "val": feats, "test": feats}
        self.ood_set = None

    def describe_data(self) -> str:
        self._ensure_data()
        d: SpeechData = self.cfg.data
        sizes = ", ".join(f"{s} {len(self.splits[s].texts)}" for s in SPLITS)
        seconds = sum(len(f) for f in self.splits["train"].frames) * self.front.hop_ms / 1000
        if self.is_espeak:
            speakers = {s: len(set(self.splits[s].speakers)) for s in SPLITS}
            what = (
                f"espeak-ng, {d.min_words}-{d.max_words} words of {d.words} "
                f"({len(self.word_list())} words), seed {self.cfg.seed}; speakers train "
                f"{speakers['train']} / val {speakers['val']} / test {speakers['test']}, voice "
                "variants of val and test unseen in training"
            )
        else:
            what = f"{d.source}"
        ood = (
            f"; out of domain: asterisk-en, {len(self.ood_set.texts)} clips" if self.ood_set else ""
        )
        note = f"; {self.resampled} clips resampled to {d.sample_rate} Hz" if self.resampled else ""
        return f"{what}; {sizes} utterances ({seconds / 60:.1f} min of training audio){ood}{note}"

    # ------------------------------------------------------------------ batches
    def encode_text(self, text: str) -> list[int]:
        """A transcript as labels (a character unseen in training is left out)."""
        index = {c: i + 1 for i, c in enumerate(self.symbols)}
        return [index[c] for c in text if c in index]

    def decode_labels(self, labels: Sequence[int]) -> str:
        """Labels (1-based) back to text."""
        return "".join(self.symbols[i - 1] for i in labels if 0 < i <= len(self.symbols))

    def _batches(
        self, feats: Features, *, shuffle: bool = False, generator: torch.Generator | None = None
    ) -> Iterator[Batch]:
        """Padded batches bucketed by frame count: ``inputs (B, T, M)``, ``lengths (B,)``,
        ``targets (B, S)`` labels (0-padded), ``extras["target_lengths"] (B,)``,
        ``extras["index"] (B,)``."""
        if not feats.frames:
            return
        order = BucketedBatches(
            [[0] * len(f) for f in feats.frames],
            batch_size=self.cfg.train.batch_size,
            shuffle=shuffle,
            generator=generator,
            bucket_batches=self.cfg.data.bucket_batches,
        ).order()
        for idx in order:
            rows = idx.tolist()
            lengths = torch.tensor([len(feats.frames[i]) for i in rows], dtype=torch.int64)
            x = torch.zeros(len(rows), int(lengths.max()), self.cfg.data.n_mels)  # (B, T, M)
            labels = [self.encode_text(feats.texts[i]) for i in rows]
            y = torch.zeros(len(rows), max(1, max(len(s) for s in labels)), dtype=torch.int64)
            for r, i in enumerate(rows):
                x[r, : lengths[r]] = torch.from_numpy(feats.frames[i])
                y[r, : len(labels[r])] = torch.tensor(labels[r], dtype=torch.int64)
            extras = {"target_lengths": torch.tensor([len(s) for s in labels]), "index": idx}
            yield Batch(x, lengths, y, extras)

    def batches(
        self, split: str, *, shuffle: bool = False, generator: torch.Generator | None = None
    ) -> Iterator[Batch]:
        self._ensure_data()
        return self._batches(self.splits[split], shuffle=shuffle, generator=generator)

    def split_size(self, split: str) -> int:
        self._ensure_data()
        return len(self.splits[split].texts)

    # ------------------------------------------------------------------ model
    def build_model(self) -> nn.Module:
        if not self.symbols:
            raise RnnkitError("the alphabet is not loaded (call prepare or restore first)")
        cfg = cast(AcousticConfig, self.cfg.model)
        return CTCAcousticModel.from_config(cfg, self.cfg.data.n_mels, len(self.symbols) + 1)

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        log_probs, n = model(batch.inputs, batch.lengths)
        return ctc_loss(log_probs, n, batch.required_targets(), batch.extras["target_lengths"])

    def training_step(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """The CTC loss of the batch with SpecAugment's masks (``data.spec_augment``)."""
        if self.cfg.data.spec_augment:
            batch = Batch(spec_augment(batch.inputs, batch.lengths, self.cfg.data.spec_augment),
                          batch.lengths, batch.targets, batch.extras)  # fmt: skip
        return self.loss(model, batch)

    def transcribe(self, model: nn.Module, feats: Features, beam: int) -> tuple[list[str], float]:
        """The decoded transcripts of ``feats`` (greedy for ``beam`` 1) and the summed
        CTC loss per reference character."""
        device = next(model.parameters()).device
        out: list[str] = [""] * len(feats.texts)
        total = chars = 0.0
        for batch in self._batches(feats):
            b = batch.to(device)
            log_probs, n = model(b.inputs, b.lengths)
            total += float(
                ctc_loss(log_probs, n, b.required_targets(), b.extras["target_lengths"], "sum")
            )
            chars += int(batch.extras["target_lengths"].sum())
            decoded = ctc_decode(log_probs.cpu(), n, beam)
            for i, labels in zip(batch.extras["index"].tolist(), decoded):
                out[i] = self.decode_labels(labels)
        return out, total / max(chars, 1.0)

    @staticmethod
    def score(hyps: Sequence[str], refs: Sequence[str]) -> dict[str, float]:
        """``cer``: character edit distance over reference characters (spaces included);
        ``wer``: word edit distance over reference words."""
        return {
            "cer": error_rate(list(hyps), list(refs)),
            "wer": error_rate([h.split() for h in hyps], [r.split() for r in refs]),
        }

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        """``loss`` (CTC per character), ``cer`` and ``wer``: greedy on validation; on test
        beam search (and ``cer_greedy``/``wer_greedy``), with the out-of-domain set's
        ``asterisk_cer``/``asterisk_wer`` beside them."""
        self._ensure_data()
        feats = self.splits[split]
        if not feats.texts:
            raise RnnkitError(f"the {split} split is empty")
        beam = self.cfg.data.beam_size if split == "test" else 1
        hyps, loss = self.transcribe(model, feats, beam)
        out = {"loss": loss, **self.score(hyps, feats.texts)}
        if split == "test":
            if beam > 1:
                greedy, _ = self.transcribe(model, feats, 1)
                out |= {f"{k}_greedy": v for k, v in self.score(greedy, feats.texts).items()}
            if self.ood_set is not None:
                hyps, _ = self.transcribe(model, self.ood_set, beam)
                out |= {f"{OOD}_{k}": v for k, v in self.score(hyps, self.ood_set.texts).items()}
        return out

    def baselines(self) -> dict[str, dict[str, Any]]:
        """``mfcc_nearest``: each test (and out-of-domain) utterance gets the transcript of
        the training utterance nearest to it by the mean and standard deviation of its 13
        MFCCs over time (each of the 26 standardised on the training split; Euclidean)."""
        self._ensure_data()
        train = self.splits["train"]
        if not train.texts or not self.splits["test"].texts:
            return {}
        bank = train.mfcc_stats  # (N, 26)
        mean, std = bank.mean(0), bank.std(0) + 1e-8
        bank = (bank - mean) / std

        def nearest(feats: Features) -> list[str]:
            q = (feats.mfcc_stats - mean) / std  # (M, 26)
            d2 = (q**2).sum(1)[:, None] - 2 * q @ bank.T + (bank**2).sum(1)[None, :]
            return [train.texts[i] for i in d2.argmin(1)]

        out = self.score(nearest(self.splits["test"]), self.splits["test"].texts)
        if self.ood_set is not None:
            scores = self.score(nearest(self.ood_set), self.ood_set.texts)
            out |= {f"{OOD}_{k}": v for k, v in scores.items()}
        return {"mfcc_nearest": out}

    # ------------------------------------------------------------------ predict
    @torch.no_grad()
    def predict(self, model: nn.Module, inputs: list[str]) -> list[dict[str, Any]]:
        """The transcript of each WAV file (a path), by beam search (``data.beam_size``):
        ``{"transcript": ..., "frames": ...}``."""
        d: SpeechData = self.cfg.data
        clips = []
        for i, path in enumerate(inputs):
            if not isinstance(path, str) or not path.strip():
                raise RnnkitError(f"input {i + 1} is empty; expected the path of a WAV file")
            samples = load_wav(Path(path.strip()), d.sample_rate, allow_resample=d.resample)
            clips.append(self.frames_of(samples)[0])
        feats = Features(clips, [""] * len(clips), [""] * len(clips), np.zeros((len(clips), 26)))
        device = next(model.parameters()).device
        out: list[dict[str, Any]] = [{} for _ in clips]
        for batch in self._batches(feats):
            log_probs, n = model(batch.inputs.to(device), batch.lengths)
            decoded = ctc_decode(log_probs.cpu(), n, d.beam_size)
            for row, i in enumerate(batch.extras["index"].tolist()):
                out[i] = {"transcript": self.decode_labels(decoded[row]),
                          "frames": int(batch.lengths[row])}  # fmt: skip
        return out

    def format_prediction(self, input: str, prediction: dict[str, Any]) -> str:
        """``<transcript>  <file>``."""
        return f"{prediction['transcript']}\t{input}"
