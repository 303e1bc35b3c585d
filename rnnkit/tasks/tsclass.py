"""``rnnkit train tsclass``: classify whole time series (UCR/UEA archives, your files).

Data: a built-in archive (GunPoint, ItalyPowerDemand, ArrowHead, BasicMotions,
JapaneseVowels: the ``_TRAIN.ts``/``_TEST.ts`` files bundled in sktime), a ``.ts`` file
(its ``_TEST.ts`` sibling is the test set when present), or a CSV with one series per
row and a label column. The archive's own train/test split is kept; validation is carved
from train, stratified by class. Without a test file the test part is carved the same way.

Normalisation (``data.normalize``; ``auto``, the default, is ``series`` for one channel
and ``train`` for several, resolved at training and saved in ``config.yaml``):

``series`` (default)
    every series, channel by channel, is z-normalised by its own mean and standard
    deviation (the UCR convention: a class is a shape, not a level).
``train``
    one mean and standard deviation per channel, fitted on the training split only and
    saved in the run directory (``scaler.json``): for data whose level carries meaning.
``none``
    the values as read.

Variable-length series keep their lengths: batches are right-padded and the lengths go to
the recurrent stack, so nothing is computed on padding. ``data.patch = k`` groups ``k``
consecutive steps into one step of ``k x channels`` features (a k-times shorter sequence
for the recurrent stack; the last group repeats its last value where a series ends).
``data.patch = 0`` (the default) picks ``k = ceil(longest training series / 50)``: an
LSTM learns GunPoint's 150 steps far more reliably as 50 steps of 3 values.

Model: :class:`rnnkit.models.classifier.SequenceClassifier` with a linear encoder.
Reported: accuracy and macro-F1, beside the majority class and 1-nearest-neighbour
(Euclidean, equal-length data) baselines and the LSTM-FCN anchor.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from rnnkit.config import RunConfig
from rnnkit.data.batch import Batch
from rnnkit.data.ucr import LabelledSeries, builtin_ucr_name, load_classification
from rnnkit.errors import RnnkitError
from rnnkit.metrics.classification import accuracy, f1_score
from rnnkit.models.classifier import SequenceClassifier
from rnnkit.tasks.base import Task

LSTM_FCN = "LSTM-FCN (Karim et al. 2017; multivariate: MLSTM-FCN, Karim et al. 2019)"
MAX_STEPS = 50  # data.patch=0 (auto) groups steps so that sequences have at most this many
ANCHORS: dict[str, float] = {
    "GunPoint": 1.00,
    "ItalyPowerDemand": 0.962,
    "ArrowHead": 0.897,
    "JapaneseVowels": 0.99,
}


@dataclass
class TSClassData:
    """The ``data`` section of ``rnnkit train tsclass``."""

    source: str = "GunPoint"  # built-in archive, a .ts file or folder, or a .csv path
    label_column: str = "label"  # CSV files: the label column (other columns: time steps)
    normalize: str = "auto"  # auto | series (per-series z-norm) | train (fitted) | none
    val_fraction: float = 0.2  # carved from train, stratified by class
    test_fraction: float = 0.3  # carved (stratified) only when there is no test file
    patch: int = 0  # group this many steps into one input step; 0 = auto (<= 50 steps)


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(keep, held_out)``: ``fraction`` of every class held out (at least one
    example of each class with two or more), chosen with ``seed``."""
    rng = np.random.default_rng(seed)
    keep, held = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n = int(round(len(idx) * fraction))
        n = min(max(n, 1), len(idx) - 1) if fraction > 0 and len(idx) >= 2 else 0
        held.extend(idx[:n])
        keep.extend(idx[n:])
    return np.sort(np.asarray(keep, dtype=np.int64)), np.sort(np.asarray(held, dtype=np.int64))


def _znorm(x: np.ndarray) -> np.ndarray:
    """Per-channel z-normalisation of one series ``(T, D)``."""
    std = x.std(0)
    return (x - x.mean(0)) / np.where(std > 1e-8, std, 1.0)


class TSClassTask(Task):
    """Classify whole (multivariate, variable-length) series (see module docs)."""

    name: ClassVar[str] = "tsclass"
    DataConfig: ClassVar[type] = TSClassData
    model_defaults: ClassVar[dict[str, Any]] = {
        "cell": "lstm",
        "hidden_size": 64,
        "num_layers": 1,
        "bidirectional": True,
        "embedding_dim": 32,
        "pooling": "last",
    }
    train_defaults: ClassVar[dict[str, Any]] = {
        "epochs": 150,
        "batch_size": 16,
        "lr": 3e-3,
        "early_stopping": 40,
    }
    # Validation sets are tiny (10 series for GunPoint): accuracy ties across many epochs,
    # the loss still tells them apart, so it picks the best epoch.
    monitor: ClassVar[str] = "loss"
    monitor_mode: ClassVar[str] = "min"
    anchor: ClassVar[dict[str, Any] | None] = None

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__(cfg)
        d: TSClassData = cfg.data
        if d.normalize not in ("auto", "series", "train", "none"):
            raise RnnkitError(
                f"data.normalize: expected auto, series, train or none, got {d.normalize!r}"
            )
        if d.patch < 0:
            raise RnnkitError(f"data.patch must be >= 1, or 0 for auto, got {d.patch}")
        for key in ("val_fraction", "test_fraction"):
            if not 0.0 <= getattr(d, key) < 1.0:
                raise RnnkitError(f"data.{key}: expected a fraction in [0, 1)")
        name = builtin_ucr_name(d.source)
        self.anchor = {"source": LSTM_FCN, "accuracy": ANCHORS[name]} if name in ANCHORS else None
        self.classes: list[str] = []
        self.channels = 0
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.splits: dict[str, tuple[list[np.ndarray], np.ndarray]] = {}

    # ------------------------------------------------------------------ data
    def _load(self) -> tuple[LabelledSeries, LabelledSeries | None]:
        return load_classification(self.cfg.data.source, self.cfg.data.label_column)

    def _split(self, train: LabelledSeries, test: LabelledSeries | None) -> dict[str, Any]:
        d: TSClassData = self.cfg.data
        y = np.asarray([self.classes.index(lab) for lab in train.labels])
        out: dict[str, Any] = {}
        if test is None:
            keep, held = stratified_split(y, d.test_fraction, self.cfg.seed + 1)
            out["test"] = ([train.series[i] for i in held], y[held])
        else:
            self._check_channels(test)
            for lab in test.labels:
                if lab not in self.classes:
                    raise RnnkitError(f"test label {lab!r} does not occur in the training data")
            out["test"] = (test.series, np.asarray([self.classes.index(v) for v in test.labels]))
            keep = np.arange(len(y))
        k2, v2 = stratified_split(y[keep], d.val_fraction, self.cfg.seed)
        out["train"] = ([train.series[keep[i]] for i in k2], y[keep[k2]])
        out["val"] = ([train.series[keep[i]] for i in v2], y[keep[v2]])
        return out

    def _check_channels(self, data: LabelledSeries) -> None:
        if data.channels != self.channels:
            raise RnnkitError(
                f"{data.name}: series have {data.channels} channel(s), the model expects "
                f"{self.channels}"
            )

    def _normalise(self, series: list[np.ndarray]) -> list[np.ndarray]:
        mode = self.cfg.data.normalize
        if mode == "series":
            return [_znorm(s) for s in series]
        if mode == "train":
            return [(s - self.mean) / self.std for s in series]
        return list(series)

    def prepare(self, run_dir: Path) -> None:
        from rnnkit.io import write_json

        train, test = self._load()
        labels_seen = set(train.labels)
        self.classes = [c for c in train.classes if c in labels_seen] or sorted(labels_seen)
        if len(self.classes) < 2:
            raise RnnkitError(f"{train.name}: needs at least 2 classes, found {self.classes}")
        self.channels = train.channels
        if self.cfg.data.normalize == "auto":  # resolved here, saved in config.yaml
            self.cfg.data.normalize = "series" if self.channels == 1 else "train"
        if self.cfg.data.patch == 0:  # auto: at most MAX_STEPS steps for the recurrent stack
            self.cfg.data.patch = max(1, -(-int(train.lengths.max()) // MAX_STEPS))
        splits = self._split(train, test)
        if self.cfg.data.normalize == "train":
            allx = np.concatenate(splits["train"][0], axis=0)  # (sum T, D)
            self.mean, std = allx.mean(0), allx.std(0)
            self.std = np.where(std > 1e-8, std, 1.0)
        self.splits = {k: (self._normalise(s), y) for k, (s, y) in splits.items()}
        self.lengths = {k: [len(x) for x in s] for k, (s, _) in self.splits.items()}
        write_json(Path(run_dir) / "labels.json", {"classes": self.classes})
        write_json(
            Path(run_dir) / "scaler.json",
            {
                "normalize": self.cfg.data.normalize,
                "channels": self.channels,
                "mean": None if self.mean is None else self.mean.tolist(),
                "std": None if self.std is None else self.std.tolist(),
            },
        )

    def restore(self, run_dir: Path) -> None:
        for f in ("labels.json", "scaler.json"):
            if not (Path(run_dir) / f).is_file():
                raise RnnkitError(f"run directory {run_dir}: {f} is missing (not a tsclass run?)")
        self.classes = json.loads((Path(run_dir) / "labels.json").read_text())["classes"]
        sc = json.loads((Path(run_dir) / "scaler.json").read_text())
        self.channels = int(sc["channels"])
        if sc["mean"] is not None:
            self.mean, self.std = np.asarray(sc["mean"]), np.asarray(sc["std"])

    def _ensure_data(self) -> None:
        if not self.splits:  # after restore: read the data again with the saved statistics
            train, test = self._load()
            self._check_channels(train)
            self.splits = {
                k: (self._normalise(s), y) for k, (s, y) in self._split(train, test).items()
            }

    def set_data(self, source: str) -> None:
        """Evaluate on another file: all of it becomes the test split."""
        data, test = load_classification(source, self.cfg.data.label_column)
        if test is not None:
            data = test
        self._check_channels(data)
        for lab in data.labels:
            if lab not in self.classes:
                raise RnnkitError(f"{source}: label {lab!r} is not one of {self.classes}")
        y = np.asarray([self.classes.index(v) for v in data.labels])
        empty = ([], np.zeros(0, dtype=np.int64))
        self.splits = {"train": empty, "val": empty, "test": (self._normalise(data.series), y)}

    def describe_data(self) -> str:
        self._ensure_data()
        sizes = ", ".join(f"{k} {len(y)}" for k, (_, y) in self.splits.items())
        lens = [len(s) for s, _ in zip(*self.splits["train"])] or [0]
        return (
            f"{self.cfg.data.source}: {len(self.classes)} classes, {self.channels} channel(s), "
            f"length {min(lens)}-{max(lens)}; {sizes}; normalize={self.cfg.data.normalize}"
        )

    def encode(self, series: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised series ``[(T_i, D)]`` -> padded inputs ``(B, T', k*D)`` and lengths
        ``(B,)`` after patching by ``k = data.patch``."""
        k = self.cfg.data.patch
        parts, lengths = [], []
        for s in series:
            n = -(-len(s) // k)  # ceil
            if n * k > len(s):
                s = np.concatenate([s, np.repeat(s[-1:], n * k - len(s), axis=0)], axis=0)
            parts.append(s.reshape(n, k * s.shape[1]))
            lengths.append(n)
        T = max(lengths)
        x = np.zeros((len(parts), T, parts[0].shape[1]), dtype=np.float32)
        for i, p in enumerate(parts):
            x[i, : len(p)] = p
        return torch.from_numpy(x), torch.as_tensor(lengths, dtype=torch.int64)

    def batches(
        self, split: str, *, shuffle: bool = False, generator: torch.Generator | None = None
    ) -> Iterator[Batch]:
        self._ensure_data()
        series, y = self.splits[split]
        n = len(y)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        bs = self.cfg.train.batch_size
        for i in range(0, n, bs):
            idx = order[i : i + bs].tolist()
            x, lengths = self.encode([series[j] for j in idx])
            yield Batch(x, lengths, torch.as_tensor(y[idx], dtype=torch.int64))

    def split_size(self, split: str) -> int:
        self._ensure_data()
        return len(self.splits[split][1])

    # ------------------------------------------------------------------ model
    def build_model(self) -> nn.Module:
        return SequenceClassifier.from_config(
            self.cfg.model,
            num_classes=len(self.classes),
            input_size=self.channels * self.cfg.data.patch,
        )

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return model.loss(model(batch.inputs, batch.lengths), batch.targets)

    @torch.no_grad()
    def predict_proba(self, model: nn.Module, series: list[np.ndarray]) -> np.ndarray:
        """Class probabilities ``(N, C)`` of raw series ``[(T_i, D)]`` (normalised here)."""
        for s in series:
            if s.ndim != 2 or s.shape[1] != self.channels:
                raise RnnkitError(
                    f"expected series of shape (T, {self.channels}), got {tuple(s.shape)}"
                )
        model.eval()
        device = next(model.parameters()).device
        out = []
        norm = self._normalise(series)
        for i in range(0, len(norm), 256):
            x, lengths = self.encode(norm[i : i + 256])
            out.append(model.probabilities(model(x.to(device), lengths)).float().cpu().numpy())
        return np.concatenate(out, axis=0)

    def predict(self, model: nn.Module, inputs: list[str]) -> list[dict[str, Any]]:
        """Classify series given as text in the ``.ts`` data-line layout without the label:
        ``"v1,v2,..."`` (one channel) or ``"a1,a2,...:b1,b2,..."`` (channels split by ':').
        Returns ``{"label": ..., "p": ...}`` per input."""
        from rnnkit.data.ucr import _parse_values

        series = []
        for i, text in enumerate(inputs):
            where = Path(f"INPUT {i + 1}")
            chans = [_parse_values(c, where, 1, d) for d, c in enumerate(text.split(":"))]
            if len({len(c) for c in chans}) != 1 or len(chans[0]) == 0:
                raise RnnkitError(
                    f"INPUT {text[:40]!r}: expected comma-separated numbers, channels split by "
                    "':' and of equal length"
                )
            series.append(np.stack(chans, axis=1))
        probs = self.predict_proba(model, series)
        return [{"label": self.classes[int(p.argmax())], "p": float(p.max())} for p in probs]

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        self._ensure_data()
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        losses, preds, targets = [], [], []
        for batch in self.batches(split):
            logits = model(batch.inputs.to(device), batch.lengths)
            t = batch.targets.to(device)
            losses.append(float(model.loss(logits, t)) * len(batch))
            preds.append(model.probabilities(logits).argmax(1).cpu().numpy())
            targets.append(batch.targets.numpy())
        model.train(was_training)
        if not preds:
            raise RnnkitError(f"the {split} split is empty")
        p, t = np.concatenate(preds), np.concatenate(targets)
        C = len(self.classes)
        return {
            "loss": sum(losses) / len(t),
            "accuracy": accuracy(t, p),
            "macro_f1": f1_score(t, p, average="macro", num_classes=C),
        }

    def baselines(self) -> dict[str, dict[str, float]]:
        """Majority class of train, and 1-NN Euclidean on the normalised series (equal
        lengths only), on the test split."""
        self._ensure_data()
        (tr_s, tr_y), (te_s, te_y) = self.splits["train"], self.splits["test"]
        C = len(self.classes)
        out: dict[str, dict[str, float]] = {}
        if len(tr_y):
            major = np.full_like(te_y, np.bincount(tr_y, minlength=C).argmax())
            out["majority"] = {"accuracy": accuracy(te_y, major)}
        lens = {len(s) for s in tr_s} | {len(s) for s in te_s}
        if len(tr_y) and len(lens) == 1:
            a = np.stack([s.ravel() for s in tr_s])  # (N, T*D)
            b = np.stack([s.ravel() for s in te_s])  # (M, T*D)
            d2 = (b**2).sum(1)[:, None] - 2 * b @ a.T + (a**2).sum(1)[None, :]
            nn1 = tr_y[d2.argmin(1)]
            out["1nn_euclidean"] = {
                "accuracy": accuracy(te_y, nn1),
                "macro_f1": f1_score(te_y, nn1, average="macro", num_classes=C),
            }
        return out
