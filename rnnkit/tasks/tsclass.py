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

Static features (CSV sources only): ``data.static_categorical`` and ``data.static_numeric``
name columns that hold one value per series (a patient's sex, a sensor's site, an age);
they are not time steps. Categories are coded from the training split (a value unseen
there is code 0, "unknown"); numbers are standardised with the training split's mean and
standard deviation; both are saved in the run directory (``static.json``). They reach the
recurrent stack through :class:`rnnkit.models.static.StaticFusion` as
``model.static_fusion`` says: ``concat`` (appended to every step's input, the default) or
``init`` (the initial state; lstm, gru and rnn cells), in a vector of
``model.static_size`` values.

Model: :class:`rnnkit.models.classifier.SequenceClassifier` with a linear encoder
(wrapped in :class:`rnnkit.models.static_classifier.StaticSequenceClassifier` when there
are static features).
Reported: accuracy and macro-F1, beside the majority class and 1-nearest-neighbour
(Euclidean, equal-length data; DTW, any lengths) baselines and the LSTM-FCN anchor.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
import torch
from torch import nn

from rnnkit.baselines.timeseries import nearest_neighbour_dtw
from rnnkit.config import RunConfig, option
from rnnkit.data.batch import Batch
from rnnkit.data.batching import batch_indices
from rnnkit.data.splits import stratified_split
from rnnkit.data.static import StaticFeatures
from rnnkit.data.ucr import LabelledSeries, builtin_ucr_name, load_classification
from rnnkit.errors import RnnkitError
from rnnkit.metrics.classification import accuracy, f1_score
from rnnkit.models.classifier import SequenceClassifier
from rnnkit.models.static import FUSIONS
from rnnkit.models.static_classifier import StaticClassifierConfig, StaticSequenceClassifier
from rnnkit.tasks.base import Task
from rnnkit.tasks.explaining import ExplainInput, series_classifier_input

if TYPE_CHECKING:
    from rnnkit.tune.space import Param

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

    source: str = option("GunPoint", "built-in archive, a .ts file or folder, or a .csv path")
    label_column: str = option("label", "CSV files: the label column (other columns: time steps)")
    normalize: str = option("auto", "auto | series (per-series z-norm) | train (fitted) | none")
    val_fraction: float = option(0.2, "carved from train, stratified by class")
    test_fraction: float = option(0.3, "carved (stratified) only when there is no test file")
    patch: int = option(0, "group this many steps into one input step; 0 = auto (<= 50 steps)")
    static_categorical: list[str] = option([], "CSV: per-series categories")
    static_numeric: list[str] = option([], "CSV: per-series numbers")


def _classifier(model: nn.Module) -> SequenceClassifier | StaticSequenceClassifier:
    """The task's model as what it is (both kinds have ``loss`` and ``probabilities``)."""
    return cast(SequenceClassifier | StaticSequenceClassifier, model)


def _znorm(x: np.ndarray) -> np.ndarray:
    """Per-channel z-normalisation of one series ``(T, D)``."""
    std = x.std(0)
    return (x - x.mean(0)) / np.where(std > 1e-8, std, 1.0)


class TSClassTask(Task):
    """Classify whole (multivariate, variable-length) series (see module docs)."""

    name: ClassVar[str] = "tsclass"
    DataConfig: ClassVar[type] = TSClassData
    ModelConfig: ClassVar[type] = StaticClassifierConfig
    renamed_keys: ClassVar[dict[str, str]] = {
        "data.static_fusion": "model.static_fusion",
        "data.static_size": "model.static_size",
    }
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
    capabilities: ClassVar[frozenset[str]] = frozenset({"evaluate", "predict", "explain", "export"})
    explain_help: ClassVar[str] = "test:INDEX (or val:INDEX, train:INDEX): that example"
    explain_reads_splits: ClassVar[bool] = True
    serve_input: ClassVar[str] = "series"

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
        m = cast(StaticClassifierConfig, self.cfg.model)
        if m.static_fusion not in FUSIONS:
            raise RnnkitError(
                f"model.static_fusion: expected {' or '.join(FUSIONS)}, got {m.static_fusion!r}"
            )
        if m.static_size < 1:
            raise RnnkitError(f"model.static_size: expected >= 1, got {m.static_size}")
        both = set(d.static_categorical) & set(d.static_numeric)
        if both or len(set(d.static_categorical)) < len(d.static_categorical):
            twice = sorted(both) or d.static_categorical
            raise RnnkitError(f"data.static_categorical/static_numeric: a column twice: {twice}")
        name = builtin_ucr_name(d.source)
        anchor = {"source": LSTM_FCN, "accuracy": ANCHORS[name]} if name in ANCHORS else None
        self.anchor = anchor  # type: ignore[misc]  # the anchor of this archive
        self.classes: list[str] = []
        self.channels = 0
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.splits: dict[str, tuple[list[np.ndarray], np.ndarray]] = {}
        # static features: category lists (code = index + 1; 0 = unknown), numeric scaler,
        # and per split the codes (N, Kc) int64 and scaled numbers (N, Kn) float32
        self.static: StaticFeatures | None = None
        self.statics: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def has_static(self) -> bool:
        """Whether static columns are configured."""
        return bool(self.cfg.data.static_categorical or self.cfg.data.static_numeric)

    # ------------------------------------------------------------------ data
    def _load(self, source: str | None = None) -> tuple[LabelledSeries, LabelledSeries | None]:
        d: TSClassData = self.cfg.data
        return load_classification(
            source or d.source, d.label_column, d.static_categorical, d.static_numeric
        )

    def _split(
        self, train: LabelledSeries, test: LabelledSeries | None
    ) -> dict[str, tuple[LabelledSeries, np.ndarray, np.ndarray]]:
        """Per split: ``(the data it is taken from, row indices (n,), class ids (n,))``."""
        d: TSClassData = self.cfg.data
        y = np.asarray([self.classes.index(lab) for lab in train.labels])
        out: dict[str, tuple[LabelledSeries, np.ndarray, np.ndarray]] = {}
        if test is None:
            held, keep = stratified_split(y, [d.test_fraction], self.cfg.seed + 1)
            out["test"] = (train, held, y[held])
        else:
            self._check_channels(test)
            for lab in test.labels:
                if lab not in self.classes:
                    raise RnnkitError(f"test label {lab!r} does not occur in the training data")
            y_test = np.asarray([self.classes.index(v) for v in test.labels])
            out["test"] = (test, np.arange(len(test)), y_test)
            keep = np.arange(len(y))
        v2, k2 = stratified_split(y[keep], [d.val_fraction], self.cfg.seed)
        out["train"] = (train, keep[k2], y[keep[k2]])
        out["val"] = (train, keep[v2], y[keep[v2]])
        return out

    def _attach(self, parts: dict[str, tuple[LabelledSeries, np.ndarray, np.ndarray]]) -> None:
        """Normalise the splits' series (and code their static features)."""
        self.splits = {
            k: (self._normalise([data.series[i] for i in idx]), y)
            for k, (data, idx, y) in parts.items()
        }
        if self.has_static:
            self.statics = {
                k: self._encode_static(data, idx) for k, (data, idx, _) in parts.items()
            }

    def _fit_static(self, data: LabelledSeries, idx: np.ndarray) -> None:
        """Category lists and the numeric scaler from the training rows ``idx`` only."""
        d: TSClassData = self.cfg.data
        cat = {c: [data.static_cat[c][i] for i in idx] for c in d.static_categorical}
        num = None
        if d.static_numeric:
            num = np.stack([data.static_num[c][idx] for c in d.static_numeric], axis=1)
        self.static = StaticFeatures.fit(cat, num, d.static_numeric, scaling="standard")

    def _encode_static(
        self, data: LabelledSeries, idx: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``idx`` of ``data``'s static columns -> codes ``(n, Kc)`` int64 (0 = a
        category unseen in training) and scaled numbers ``(n, Kn)`` float32."""
        assert self.static is not None
        cat = {c: [data.static_cat[c][i] for i in idx] for c in self.static.categorical}
        num = None
        if self.static.numeric:
            num = np.stack([data.static_num[c][idx] for c in self.static.numeric], axis=1)
        return self.static.transform(cat, num, rows=len(idx))  # (n, Kc), (n, Kn)

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
        parts = self._split(train, test)
        if self.cfg.data.normalize == "train":
            _, tr_idx, _ = parts["train"]
            allx = np.concatenate([train.series[i] for i in tr_idx], axis=0)  # (sum T, D)
            self.mean, std = allx.mean(0), allx.std(0)
            self.std = np.where(std > 1e-8, std, 1.0)
        if self.has_static:
            self._fit_static(train, parts["train"][1])
        self._attach(parts)
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
        if self.static is not None:
            self.static.save(Path(run_dir) / "static.json")

    def restore(self, run_dir: Path) -> None:
        for f in ("labels.json", "scaler.json"):
            if not (Path(run_dir) / f).is_file():
                raise RnnkitError(f"run directory {run_dir}: {f} is missing (not a tsclass run?)")
        self.classes = json.loads((Path(run_dir) / "labels.json").read_text())["classes"]
        sc = json.loads((Path(run_dir) / "scaler.json").read_text())
        self.channels = int(sc["channels"])
        if sc["mean"] is not None:
            self.mean, self.std = np.asarray(sc["mean"]), np.asarray(sc["std"])
        if self.has_static:
            path = Path(run_dir) / "static.json"
            if not path.is_file():
                raise RnnkitError(f"run directory {run_dir}: static.json is missing")
            self.static = StaticFeatures.load(path)

    def _ensure_data(self) -> None:
        if not self.splits:  # after restore: read the data again with the saved statistics
            train, test = self._load()
            self._check_channels(train)
            self._attach(self._split(train, test))

    def set_data(self, source: str) -> None:
        """Evaluate on another file: all of it becomes the test split."""
        data, test = self._load(source)
        if test is not None:
            data = test
        self._check_channels(data)
        for lab in data.labels:
            if lab not in self.classes:
                raise RnnkitError(f"{source}: label {lab!r} is not one of {self.classes}")
        y = np.asarray([self.classes.index(v) for v in data.labels])
        empty: tuple[list[np.ndarray], np.ndarray] = ([], np.zeros(0, dtype=np.int64))
        self.splits = {"train": empty, "val": empty, "test": (self._normalise(data.series), y)}
        if self.has_static:
            none = np.zeros(0, dtype=np.int64)
            self.statics = {
                k: self._encode_static(data, np.arange(len(data)) if k == "test" else none)
                for k in ("train", "val", "test")
            }

    def describe_data(self) -> str:
        self._ensure_data()
        sizes = ", ".join(f"{k} {len(y)}" for k, (_, y) in self.splits.items())
        lens = [len(s) for s, _ in zip(*self.splits["train"])] or [0]
        d: TSClassData = self.cfg.data
        static = ""
        if self.has_static:
            static = (
                f"; static: {', '.join([*d.static_categorical, *d.static_numeric])} "
                f"(fusion={cast(StaticClassifierConfig, self.cfg.model).static_fusion})"
            )
        return (
            f"{d.source}: {len(self.classes)} classes, {self.channels} channel(s), "
            f"length {min(lens)}-{max(lens)}; {sizes}; normalize={d.normalize}{static}"
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
        bs = self.cfg.train.batch_size
        for order in batch_indices(len(y), bs, shuffle=shuffle, generator=generator):
            idx = order.tolist()
            x, lengths = self.encode([series[j] for j in idx])
            extras = {}
            if self.has_static:
                cat, num = self.statics[split]
                extras = {
                    "static_cat": torch.from_numpy(cat[idx]),  # (B, Kc) int64
                    "static_num": torch.from_numpy(num[idx]),  # (B, Kn) float32
                }
            yield Batch(x, lengths, torch.as_tensor(y[idx], dtype=torch.int64), extras)

    def split_size(self, split: str) -> int:
        self._ensure_data()
        return len(self.splits[split][1])

    # ------------------------------------------------------------------ model
    def build_model(self) -> nn.Module:
        d: TSClassData = self.cfg.data
        m = cast(StaticClassifierConfig, self.cfg.model)
        if self.has_static:
            return StaticSequenceClassifier.from_config(
                m,
                num_classes=len(self.classes),
                input_size=self.channels * d.patch,
                cardinalities=self.static.cardinalities() if self.static else [],
                num_numeric=len(d.static_numeric),
                fusion=m.static_fusion,
                size=m.static_size,
            )
        return SequenceClassifier.from_config(
            m,
            num_classes=len(self.classes),
            input_size=self.channels * d.patch,
        )

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        clf = _classifier(model)
        return clf.loss(clf(batch.inputs, batch.lengths, **batch.extras), batch.required_targets())

    def export_info(self) -> dict[str, Any]:
        """How a raw series ``(T, channels)`` becomes the exported graph's ``inputs``."""
        d: TSClassData = self.cfg.data
        info: dict[str, Any] = {
            "input": f"series (T, {self.channels}) -> normalize -> groups of {d.patch} steps "
            f"-> inputs (ceil(T / {d.patch}), {d.patch * self.channels}), lengths",
            "channels": self.channels,
            "normalize": d.normalize,  # series: per-series z-norm; train: scaler.json
            "patch": d.patch,  # the last group repeats the series' last value
            "classes": self.classes,
        }
        if self.has_static:
            info["static"] = "static.json: categorical codes = vocab index + 1 (0 unknown), "
            info["static"] += "numeric standardised by its scaler"
        return info

    @torch.no_grad()
    def explain_input(self, model: nn.Module, spec: str) -> ExplainInput:
        """IG of the predicted class's logit over the scaled features of ``split:INDEX``
        (its static features, if any, held fixed)."""
        return series_classifier_input(self, model, spec, self.classes)

    def predict_proba(
        self,
        model: nn.Module,
        series: list[np.ndarray],
        static: dict[str, list[str]] | None = None,
    ) -> np.ndarray:
        """Class probabilities ``(N, C)`` of raw series ``[(T_i, D)]`` (normalised here);
        with static columns, ``static`` maps every column to its N raw values (text)."""
        extras: dict[str, torch.Tensor] = {}
        if self.has_static:
            extras = self._static_inputs(static or {}, len(series))
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
            ex = {k: v[i : i + 256].to(device) for k, v in extras.items()}
            logits = model(x.to(device), lengths, **ex)
            out.append(_classifier(model).probabilities(logits).float().cpu().numpy())
        return np.concatenate(out, axis=0)

    def _static_inputs(self, static: dict[str, list[str]], n: int) -> dict[str, torch.Tensor]:
        """Raw static values (column -> N texts) -> the model's ``static_cat`` / ``static_num``."""
        d: TSClassData = self.cfg.data
        cat, num = {}, {}
        for c in [*d.static_categorical, *d.static_numeric]:
            values = static.get(c)
            if values is None or len(values) != n:
                raise RnnkitError(
                    f"static column {c!r}: expected one value per series (write "
                    f"'{c}=VALUE;' before the values)"
                )
            if c in d.static_categorical:
                cat[c] = [str(v).strip() for v in values]
                continue
            try:
                num[c] = np.asarray([float(v) for v in values])
            except ValueError:
                raise RnnkitError(f"static column {c!r}: expected numbers, got {values}") from None
        data = LabelledSeries([], [], static_cat=cat, static_num=num)
        codes, scaled = self._encode_static(data, np.arange(n))
        return {"static_cat": torch.from_numpy(codes), "static_num": torch.from_numpy(scaled)}

    def predict(self, model: nn.Module, inputs: list[str]) -> list[dict[str, Any]]:
        """Classify series given as text in the ``.ts`` data-line layout without the label:
        ``"v1,v2,..."`` (one channel) or ``"a1,a2,...:b1,b2,..."`` (channels split by ':').
        With static columns, each is given first as ``name=value;``, e.g.
        ``"site=north;age=61;0.1,0.4,0.9"``. Returns ``{"label": ..., "p": ...}`` per input."""
        from rnnkit.data.ucr import parse_values

        series = []
        static: dict[str, list[str]] = {}
        known = [*self.cfg.data.static_categorical, *self.cfg.data.static_numeric]
        for i, text in enumerate(inputs):
            where = Path(f"INPUT {i + 1}")
            if self.has_static:
                *fields, text = text.split(";")
                given = dict(f.partition("=")[::2] for f in fields)
                for name in given:
                    if name.strip() not in known:
                        raise RnnkitError(
                            f"INPUT {i + 1}: {name.strip()!r} is not a static column of this "
                            f"model ({', '.join(known)})"
                        )
                for c in known:
                    value = {k.strip(): v for k, v in given.items()}.get(c)
                    if value is None:
                        raise RnnkitError(
                            f"INPUT {i + 1}: static column {c!r} is missing (write "
                            f"'{c}=VALUE;' before the values)"
                        )
                    static.setdefault(c, []).append(value)
            chans = [parse_values(c, where, 1, d) for d, c in enumerate(text.split(":"))]
            if len({len(c) for c in chans}) != 1 or len(chans[0]) == 0:
                raise RnnkitError(
                    f"INPUT {text[:40]!r}: expected comma-separated numbers, channels split by "
                    "':' and of equal length"
                )
            series.append(np.stack(chans, axis=1))
        probs = self.predict_proba(model, series, static if self.has_static else None)
        return [{"label": self.classes[int(p.argmax())], "p": float(p.max())} for p in probs]

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        self._ensure_data()
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        losses, preds, targets = [], [], []
        for batch in self.batches(split):
            extras = {k: v.to(device) for k, v in batch.extras.items()}
            logits = model(batch.inputs.to(device), batch.lengths, **extras)
            truth = batch.required_targets()
            losses.append(float(_classifier(model).loss(logits, truth.to(device))) * len(batch))
            preds.append(_classifier(model).probabilities(logits).argmax(1).cpu().numpy())
            targets.append(truth.numpy())
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

    def search_space(self) -> list[Param]:
        """The stack's space, how the steps are pooled, and a second direction."""
        from rnnkit.tune.space import choice, stack_space

        return [*stack_space(self), choice("model.pooling", "last", "mean", "max"),
                choice("model.bidirectional", True, False)]  # fmt: skip

    def baselines(self) -> dict[str, dict[str, Any]]:
        """On the test split: the majority class of train, 1-NN Euclidean on the normalised
        series (equal lengths only), and 1-NN DTW (any lengths; the UCR archive's baseline:
        :func:`rnnkit.baselines.timeseries.nearest_neighbour_dtw`, with what it did)."""
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
        if len(tr_y) and len(te_y):
            pred, info = nearest_neighbour_dtw(tr_s, tr_y, te_s)
            if pred is not None:
                info = {
                    "accuracy": accuracy(te_y, pred),
                    "macro_f1": f1_score(te_y, pred, average="macro", num_classes=C),
                    **info,
                }
            out["1nn_dtw"] = info
        return out
