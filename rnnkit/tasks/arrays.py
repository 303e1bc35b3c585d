"""``array_classification`` / ``array_regression``: sequences already in memory.

The tasks behind :mod:`rnnkit.estimators`: their data is not a file format but arrays,
handed over by name (``data.source = memory:KEY``, see :mod:`rnnkit.data.arrays`) or read
from an ``.npz`` file (``rnnkit train array_classification --data seqs.npz``). Every
sequence is ``(T_i, F)`` floats of its own length; targets are one label per sequence
(classification) or ``K >= 1`` values per sequence (regression).

* **Splits.** ``data.val_fraction`` of the sequences is held out for early stopping and
  the best epoch (stratified by class for classification), ``data.test_fraction`` for the
  final test (0, the default for in-memory data: no test split; ``rnnkit evaluate`` then
  takes ``--split val`` or ``--data FILE.npz``). With too few sequences to hold any out,
  validation uses the training split, and the data line of ``report.json`` says so.
* **Scaling.** ``data.normalize = train`` standardises every feature with the mean and
  standard deviation of the training split; regression targets are standardised the same
  way (``data.scale_targets``) and predictions mapped back. Both are saved in the run
  directory (``arrays_task.json``), with the classes (``labels.json``) and, unless
  ``data.keep_arrays`` is off, the data itself (``arrays.npz``), so that ``rnnkit
  evaluate`` and ``rnnkit predict`` work on a model fitted in memory.
* **Model.** classification: :class:`rnnkit.models.classifier.SequenceClassifier` with a
  linear encoder; regression: :class:`rnnkit.models.pooled_regressor.PooledRegressor`.
  Both read the padded batch with its lengths, so no step of padding is computed on.

``rnnkit predict RUN_DIR "1,2,3" "0.5,0.1:1,2"`` takes each sequence as text: the steps of
a feature comma-separated, the features split by ``:``; ``rnnkit serve`` takes the same
text or JSON arrays (one list per feature). ``rnnkit explain RUN_DIR val:INDEX``
attributes a sequence of a split (in-memory runs hold no test split), ``rnnkit export``
writes the model as ONNX (the metadata's ``preprocessing`` gives the per-feature mean and
std, and for regression the targets' scale, that a client applies).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np
import torch
from torch import nn

from rnnkit.config import RunConfig, option
from rnnkit.data.arrays import (
    MEMORY_PREFIX,
    SequenceArrays,
    TextArrays,
    load_npz,
    lookup,
    lookup_texts,
    pad,
    parse_series,
    save_npz,
)
from rnnkit.data.batch import Batch
from rnnkit.data.batching import batch_indices
from rnnkit.data.splits import stratified_split
from rnnkit.data.text import TextDataset, TextSplit
from rnnkit.errors import RnnkitError
from rnnkit.io import write_json, write_text
from rnnkit.metrics.classification import accuracy, f1_score
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.models.pooled_regressor import PooledRegressor
from rnnkit.tasks.base import Task
from rnnkit.tasks.explaining import (
    ExplainInput,
    series_classifier_input,
    series_regressor_input,
)
from rnnkit.tasks.sentiment import SentimentData, SentimentTask

STATE_FILE = "arrays_task.json"
LABELS_FILE = "labels.json"  # the classes (array tasks), the label names (array_text)
ARRAYS_FILE = "arrays.npz"
TEXTS_FILE = "texts.jsonl"  # array_text: the texts and their class codes
TEXT_CLASSES_FILE = "classes.json"  # array_text: the classes as given (their dtype kept)
PREDICT_BATCH = 256  # sequences per forward pass when predicting


@dataclass
class ArrayData:
    """The ``data`` section of the array tasks."""

    source: str = option(
        "",
        "an .npz file (padded x with lengths, or x_0..x_{N-1}; and y), or memory:KEY for "
        "arrays handed over in memory (rnnkit.estimators)",
    )
    normalize: str = option("train", "train (per-feature mean/std of the training split) | none")
    val_fraction: float = option(0.1, "held out for early stopping and the best epoch")
    test_fraction: float = option(0.0, "held out for the final test; 0 = no test split")
    keep_arrays: bool = option(
        True, "save the data in RUN_DIR/arrays.npz, so that rnnkit evaluate can read it again"
    )


@dataclass
class ArrayRegressionData(ArrayData):
    """The ``data`` section of ``array_regression``."""

    scale_targets: bool = option(
        True, "standardise the targets with the training split (predictions mapped back)"
    )


class ArrayTask(Task):
    """Shared data plumbing of the two array tasks (see the module docs)."""

    ModelConfig: ClassVar[type] = ClassifierConfig
    model_defaults: ClassVar[dict[str, Any]] = {
        "cell": "lstm",
        "hidden_size": 64,
        "num_layers": 1,
        "embedding_dim": 32,
        "pooling": "last",
    }
    train_defaults: ClassVar[dict[str, Any]] = {
        "epochs": 20,
        "batch_size": 32,
        "lr": 3e-3,
        "early_stopping": 5,
    }
    monitor: ClassVar[str] = "loss"
    monitor_mode: ClassVar[str] = "min"
    capabilities: ClassVar[frozenset[str]] = frozenset({"evaluate", "predict"})
    serve_input: ClassVar[str] = "series"  # rnnkit serve takes JSON arrays too

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__(cfg)
        d: ArrayData = self.cfg.data
        if d.normalize not in ("train", "none"):
            raise RnnkitError(f"data.normalize: expected train or none, got {d.normalize!r}")
        for key in ("val_fraction", "test_fraction"):
            if not 0.0 <= getattr(d, key) < 1.0:
                raise RnnkitError(f"data.{key}: expected a value in [0, 1), got {getattr(d, key)}")
        if d.val_fraction + d.test_fraction >= 1.0:
            raise RnnkitError(
                f"data.val_fraction + data.test_fraction must be below 1 (the rest trains), got "
                f"{d.val_fraction} + {d.test_fraction}"
            )
        self.run_dir: Path | None = None
        self.num_features = 0
        self.mean: np.ndarray | None = None  # (F,) of the training split
        self.std: np.ndarray | None = None
        self.splits: dict[str, tuple[list[np.ndarray], np.ndarray]] = {}
        self.val_is_train = False
        self.described = ""

    # ------------------------------------------------------------- subclass hooks
    def fit_targets(self, y: np.ndarray) -> None:
        """Learn the target encoding (classes, scale) from all targets ``y``."""
        raise NotImplementedError

    def encode_targets(self, y: np.ndarray, where: str) -> np.ndarray:
        """Raw targets -> what the model trains on (class codes, scaled values)."""
        raise NotImplementedError

    def target_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def set_target_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def split_labels(self, y: np.ndarray) -> np.ndarray:
        """What the split is stratified by (class codes; one group for regression)."""
        return np.zeros(len(y), dtype=np.int64)

    # --------------------------------------------------------------------- data
    def _read(self) -> tuple[SequenceArrays, bool]:
        """The data, and whether its targets are already encoded (the run's own copy)."""
        if self.run_dir is not None and (self.run_dir / ARRAYS_FILE).is_file():
            return load_npz(self.run_dir / ARRAYS_FILE), True
        if not self.cfg.data.source:
            raise RnnkitError(
                f"{self.run_dir}: the data of this run was not kept (data.keep_arrays=false) "
                "and it came from memory; evaluate with --data FILE.npz"
            )
        return lookup(self.cfg.data.source), False

    def prepare(self, run_dir: Path) -> None:
        d: ArrayData = self.cfg.data
        self.run_dir = Path(run_dir)
        arrays = lookup(d.source)
        if len(arrays) < 2:
            raise RnnkitError(
                f"{self.name}: needs at least 2 sequences to train and validate, got "
                f"{len(arrays)} sample"
            )
        self.num_features = arrays.num_features
        self.fit_targets(arrays.targets)
        encoded = SequenceArrays(arrays.sequences, self.encode_targets(arrays.targets, "y"))
        parts = self._split(encoded)
        if d.normalize == "train":
            steps = np.concatenate(parts["train"][0], axis=0)  # (sum T, F)
            std = steps.std(0)
            self.mean, self.std = steps.mean(0), np.where(std > 1e-8, std, 1.0)
        self._attach(parts)
        state = {"num_features": self.num_features, "val_is_train": self.val_is_train,
                 "mean": None if self.mean is None else self.mean.tolist(),
                 "std": None if self.std is None else self.std.tolist(),
                 **self.target_state()}  # fmt: skip
        write_json(self.run_dir / STATE_FILE, state)
        if d.keep_arrays:
            save_npz(self.run_dir / ARRAYS_FILE, encoded)
        self.described = self._describe(d.source)
        if d.source.startswith(MEMORY_PREFIX):
            d.source = ""  # the name means nothing after this process: the run keeps a copy

    def restore(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        path = self.run_dir / STATE_FILE
        if not path.is_file():
            raise RnnkitError(f"run directory {run_dir}: {STATE_FILE} is missing")
        state = json.loads(path.read_text(encoding="utf-8"))
        self.num_features = int(state["num_features"])
        self.val_is_train = bool(state["val_is_train"])
        if state["mean"] is not None:
            self.mean = np.asarray(state["mean"], dtype=np.float32)
            self.std = np.asarray(state["std"], dtype=np.float32)
        self.set_target_state(state)

    def _split(self, data: SequenceArrays) -> dict[str, tuple[list[np.ndarray], np.ndarray]]:
        d: ArrayData = self.cfg.data
        test, val, train = stratified_split(
            self.split_labels(data.targets), [d.test_fraction, d.val_fraction], seed=self.cfg.seed
        )
        self.val_is_train = len(val) == 0
        if self.val_is_train:
            val = train

        def part(idx: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
            return [data.sequences[i] for i in idx], data.targets[idx]

        return {"train": part(train), "val": part(val), "test": part(test)}

    def _normalise(self, sequences: list[np.ndarray]) -> list[np.ndarray]:
        if self.mean is None or self.std is None:
            return sequences
        mean, std = self.mean.astype(np.float32), self.std.astype(np.float32)
        return [(s - mean) / std for s in sequences]

    def _attach(self, parts: dict[str, tuple[list[np.ndarray], np.ndarray]]) -> None:
        self.splits = {k: (self._normalise(s), y) for k, (s, y) in parts.items()}

    def _ensure_data(self) -> None:
        if self.splits:
            return
        data, encoded = self._read()
        self._check_features(data, "the run's data")
        if not encoded:
            data = SequenceArrays(data.sequences, self.encode_targets(data.targets, "y"))
        self._attach(self._split(data))

    def _check_features(self, data: SequenceArrays, where: str) -> None:
        if data.num_features != self.num_features:
            raise RnnkitError(
                f"{where}: sequences of {data.num_features} features per step; the model "
                f"was trained on {self.num_features}"
            )

    def set_data(self, source: str) -> None:
        """Evaluate on an ``.npz`` file of sequences: all of it is the test split."""
        data = load_npz(source)
        self._check_features(data, source)
        y = self.encode_targets(data.targets, source)
        empty: tuple[list[np.ndarray], np.ndarray] = ([], y[:0])
        self.splits = {"train": empty, "val": empty,
                       "test": (self._normalise(data.sequences), y)}  # fmt: skip

    def _describe(self, source: str) -> str:
        sizes = ", ".join(f"{k} {len(y)}" for k, (_, y) in self.splits.items())
        lens = [len(s) for s in self.splits["train"][0]] or [0]
        where = "arrays in memory" if source.startswith(MEMORY_PREFIX) else source
        note = " (val = train: too few sequences to hold any out)" if self.val_is_train else ""
        return (
            f"{where}: {self.num_features} feature(s) per step, length {min(lens)}-{max(lens)}; "
            f"{sizes}{note}; normalize={self.cfg.data.normalize}"
        )

    def describe_data(self) -> str:
        if not self.described:
            self._ensure_data()
            self.described = self._describe(self.cfg.data.source or str(self.run_dir))
        return self.described

    def batches(
        self, split: str, *, shuffle: bool = False, generator: torch.Generator | None = None
    ) -> Iterator[Batch]:
        self._ensure_data()
        sequences, y = self.splits[split]
        bs = self.cfg.train.batch_size
        for order in batch_indices(len(y), bs, shuffle=shuffle, generator=generator):
            idx = order.tolist()
            x, lengths = pad([sequences[j] for j in idx])
            yield Batch(torch.from_numpy(x), torch.from_numpy(lengths), torch.from_numpy(y[idx]))

    def _targets_of(self, split: str) -> np.ndarray:
        """The (encoded) targets of ``split``, refusing an empty split in one line."""
        self._ensure_data()
        y = self.splits[split][1]
        if len(y) == 0:
            raise RnnkitError(
                f"the {split} split is empty (data.test_fraction={self.cfg.data.test_fraction});"
                " evaluate --split val, or --data FILE.npz"
            )
        return y

    def split_size(self, split: str) -> int:
        self._ensure_data()
        return len(self.splits[split][1])

    def release_data(self) -> None:
        """Drop the splits held in memory (a fitted estimator keeps only what predicts)."""
        self.splits = {}

    # ------------------------------------------------------------------ model
    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        m: Any = model  # a SequenceClassifier or PooledRegressor
        return m.loss(m(batch.inputs, batch.lengths), batch.targets)

    @torch.no_grad()
    def outputs(self, model: nn.Module, sequences: list[np.ndarray]) -> np.ndarray:
        """The model's raw outputs ``(N, K)`` for raw sequences ``[(T_i, F)]``, in order
        (normalised here, run ``PREDICT_BATCH`` at a time)."""
        for i, s in enumerate(sequences):
            if s.ndim != 2 or s.shape[1] != self.num_features:
                raise RnnkitError(
                    f"X[{i}]: expected {self.num_features} features per step (as in fit), got "
                    f"shape {tuple(s.shape)}"
                )
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        norm = self._normalise(list(sequences))
        out = []
        for i in range(0, len(norm), PREDICT_BATCH):
            x, lengths = pad(norm[i : i + PREDICT_BATCH])
            y = model(torch.from_numpy(x).to(device), torch.from_numpy(lengths))
            out.append(self.read_outputs(model, y).double().cpu().numpy())
        model.train(was_training)
        return np.concatenate(out, axis=0)

    def read_outputs(self, model: nn.Module, y: torch.Tensor) -> torch.Tensor:
        """The model's output ``(B, K)`` as predictions: probabilities, or values."""
        return y

    def parse_inputs(self, inputs: list[str]) -> list[np.ndarray]:
        """``rnnkit predict``'s INPUTs as sequences ``(T, F)`` (module docs)."""
        return [parse_series(text, f"INPUT {i + 1}") for i, text in enumerate(inputs)]

    def export_info(self) -> dict[str, Any]:
        """How a raw sequence ``(T, F)`` becomes the exported graph's ``inputs``."""
        normalised = self.mean is not None and self.std is not None
        steps = "(x - mean) / std per feature -> " if normalised else ""
        return {
            "input": f"sequences (T, {self.num_features}) -> {steps}inputs (B, T, "
            f"{self.num_features}) zero-padded, lengths (B,)",
            "features": self.num_features,
            "normalize": self.cfg.data.normalize,
            "mean": None if self.mean is None else [float(v) for v in self.mean],
            "std": None if self.std is None else [float(v) for v in self.std],
        }


# ----------------------------------------------------------------------------- classification


class ArrayClassificationTask(ArrayTask):
    """One label per sequence; cross entropy (BCE for two classes); accuracy, macro-F1."""

    name: ClassVar[str] = "array_classification"
    DataConfig: ClassVar[type] = ArrayData
    capabilities: ClassVar[frozenset[str]] = frozenset({"evaluate", "predict", "explain", "export"})
    explain_help: ClassVar[str] = "val:INDEX (or train:INDEX, test:INDEX): that sequence"
    explain_reads_splits: ClassVar[bool] = True

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__(cfg)
        self.classes: np.ndarray = np.zeros(0)

    def fit_targets(self, y: np.ndarray) -> None:
        y = np.asarray(y)
        if y.ndim != 1:
            raise RnnkitError(f"y: expected one label per sequence (N,), got shape {y.shape}")
        self.classes = np.unique(y)
        if len(self.classes) < 2:
            raise RnnkitError(
                f"{self.name}: needs at least 2 classes in y, found 1 class "
                f"({self.classes.tolist()})"
            )

    def encode_targets(self, y: np.ndarray, where: str) -> np.ndarray:
        y = np.asarray(y)
        codes = np.searchsorted(self.classes, y)
        codes = np.clip(codes, 0, len(self.classes) - 1)
        unknown = self.classes[codes] != y
        if unknown.any():
            raise RnnkitError(
                f"{where}: label {y[unknown][0]!r} is not one of the classes the model was "
                f"trained on ({', '.join(map(str, self.classes.tolist()))})"
            )
        return codes.astype(np.int64)

    def target_state(self) -> dict[str, Any]:
        write_json(Path(str(self.run_dir)) / LABELS_FILE, {"classes": self.classes.tolist()})
        return {"classes_dtype": self.classes.dtype.str}

    def set_target_state(self, state: dict[str, Any]) -> None:
        path = Path(str(self.run_dir)) / LABELS_FILE
        if not path.is_file():
            raise RnnkitError(f"run directory {self.run_dir}: {LABELS_FILE} is missing")
        classes = json.loads(path.read_text(encoding="utf-8"))["classes"]
        self.classes = np.asarray(classes, dtype=np.dtype(state["classes_dtype"]))

    def split_labels(self, y: np.ndarray) -> np.ndarray:
        return y

    def build_model(self) -> nn.Module:
        return SequenceClassifier.from_config(
            cast(ClassifierConfig, self.cfg.model),
            num_classes=len(self.classes),
            input_size=self.num_features,
        )

    def read_outputs(self, model: nn.Module, y: torch.Tensor) -> torch.Tensor:
        m: Any = model
        return m.probabilities(y)

    @property
    def label_names(self) -> list[Any]:
        """The classes as Python values (what ``rnnkit export`` and ``serve`` list)."""
        return self.classes.tolist()

    def explain_input(self, model: nn.Module, spec: str) -> ExplainInput:
        """IG of the predicted class's logit over the normalised features of the sequence
        ``split:INDEX`` (in-memory runs hold no test split: ``val:INDEX``)."""
        return series_classifier_input(self, model, spec, self.classes.tolist())

    def export_info(self) -> dict[str, Any]:
        """:meth:`ArrayTask.export_info` and the classes (the graph's probability columns)."""
        return {**super().export_info(), "classes": self.classes.tolist()}

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        y = self._targets_of(split)
        m: Any = model
        device = next(model.parameters()).device
        total = 0.0
        preds = []
        for batch in self.batches(split):
            logits = model(batch.inputs.to(device), batch.lengths)
            assert batch.targets is not None
            total += float(m.loss(logits, batch.targets.to(device))) * len(batch)
            preds.append(m.probabilities(logits).argmax(1).cpu().numpy())
        p = np.concatenate(preds)
        C = len(self.classes)
        return {"loss": total / len(y), "accuracy": accuracy(y, p),
                "macro_f1": f1_score(y, p, average="macro", num_classes=C)}  # fmt: skip

    def baselines(self) -> dict[str, dict[str, float]]:
        """The training split's majority class, on the test split."""
        self._ensure_data()
        train, test = self.splits["train"][1], self.splits["test"][1]
        if len(test) == 0 or len(train) == 0:
            return {}
        major = np.bincount(train, minlength=len(self.classes)).argmax()
        return {"majority": {"accuracy": accuracy(test, np.full_like(test, major))}}

    def predict(self, model: nn.Module, inputs: list[str]) -> list[dict[str, Any]]:
        """``{"label": class, "p": its probability}`` for each sequence given as text."""
        probs = self.outputs(model, self.parse_inputs(inputs))
        return [{"label": self.classes[int(p.argmax())].item(), "p": float(p.max())}
                for p in probs]  # fmt: skip


# ----------------------------------------------------------------------------- regression


class ArrayRegressionTask(ArrayTask):
    """K >= 1 values per sequence; mean squared error; RMSE, MAE and R^2 in the targets'
    units."""

    name: ClassVar[str] = "array_regression"
    DataConfig: ClassVar[type] = ArrayRegressionData
    capabilities: ClassVar[frozenset[str]] = frozenset({"evaluate", "predict", "explain", "export"})
    explain_help: ClassVar[str] = "val:INDEX (or train:INDEX, test:INDEX): that sequence"
    explain_reads_splits: ClassVar[bool] = True

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__(cfg)
        self.num_outputs = 1
        self.squeeze = True  # y was (N,): predictions are (N,)
        self.y_mean = np.zeros(1)
        self.y_std = np.ones(1)

    def fit_targets(self, y: np.ndarray) -> None:
        y = np.asarray(y, dtype=np.float64)
        if y.ndim not in (1, 2):
            raise RnnkitError(f"y: expected (N,) or (N, K) values, got shape {y.shape}")
        self.squeeze = y.ndim == 1
        y2 = y.reshape(len(y), -1)
        self.num_outputs = y2.shape[1]
        if self.cfg.data.scale_targets:
            std = y2.std(0)
            self.y_mean, self.y_std = y2.mean(0), np.where(std > 1e-12, std, 1.0)
        else:
            self.y_mean, self.y_std = np.zeros(self.num_outputs), np.ones(self.num_outputs)

    def encode_targets(self, y: np.ndarray, where: str) -> np.ndarray:
        try:
            y2 = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        except (TypeError, ValueError):
            raise RnnkitError(f"{where}: expected numbers as regression targets") from None
        if y2.shape[1] != self.num_outputs:
            raise RnnkitError(
                f"{where}: {y2.shape[1]} target value(s) per sequence; the model predicts "
                f"{self.num_outputs}"
            )
        if not np.isfinite(y2).all():
            raise RnnkitError(f"{where}: the targets hold NaN or infinity")
        return ((y2 - self.y_mean) / self.y_std).astype(np.float32)

    def decode(self, scaled: np.ndarray) -> np.ndarray:
        """Scaled model outputs ``(N, K)`` -> values in the targets' units."""
        return scaled * self.y_std + self.y_mean

    def target_state(self) -> dict[str, Any]:
        return {"num_outputs": self.num_outputs, "squeeze": self.squeeze,
                "y_mean": self.y_mean.tolist(), "y_std": self.y_std.tolist()}  # fmt: skip

    def set_target_state(self, state: dict[str, Any]) -> None:
        self.num_outputs, self.squeeze = int(state["num_outputs"]), bool(state["squeeze"])
        self.y_mean, self.y_std = np.asarray(state["y_mean"]), np.asarray(state["y_std"])

    def build_model(self) -> nn.Module:
        return PooledRegressor.from_config(
            cast(ClassifierConfig, self.cfg.model),
            num_outputs=self.num_outputs,
            input_size=self.num_features,
        )

    def explain_input(self, model: nn.Module, spec: str) -> ExplainInput:
        """IG of the first predicted value (scaled) over the normalised features of the
        sequence ``split:INDEX``; the report shows the prediction in the targets' units."""
        return series_regressor_input(self, model, spec, self.decode)

    def export_info(self) -> dict[str, Any]:
        """:meth:`ArrayTask.export_info` and how the graph's ``outputs`` become values."""
        return {
            **super().export_info(),
            "outputs": "values = outputs * y_std + y_mean (per output)",
            "y_mean": [float(v) for v in self.y_mean],
            "y_std": [float(v) for v in self.y_std],
        }

    def predict_values(self, model: nn.Module, sequences: list[np.ndarray]) -> np.ndarray:
        """Predictions in the targets' units: ``(N,)`` if fitted on ``(N,)`` targets, else
        ``(N, K)``."""
        values = self.decode(self.outputs(model, sequences))
        return values[:, 0] if self.squeeze else values

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        y = self._targets_of(split)
        device = next(model.parameters()).device
        scaled = []
        for batch in self.batches(split):
            scaled.append(model(batch.inputs.to(device), batch.lengths).double().cpu().numpy())
        pred = np.concatenate(scaled)  # (N, K) scaled
        loss = float(((pred - y) ** 2).mean())
        actual, fc = self.decode(y.astype(np.float64)), self.decode(pred)
        err = fc - actual
        total = ((actual - actual.mean(0)) ** 2).sum()
        r2 = 1.0 - float((err**2).sum() / total) if total > 0 else float("nan")
        return {"loss": loss, "rmse": float(np.sqrt((err**2).mean())),
                "mae": float(np.abs(err).mean()), "r2": r2}  # fmt: skip

    def baselines(self) -> dict[str, dict[str, float]]:
        """The training split's mean, on the test split."""
        self._ensure_data()
        train, test = self.splits["train"][1], self.splits["test"][1]
        if len(test) == 0 or len(train) == 0:
            return {}
        err = self.decode(test.astype(np.float64)) - self.decode(train.astype(np.float64)).mean(0)
        return {"train_mean": {"rmse": float(np.sqrt((err**2).mean())),
                               "mae": float(np.abs(err).mean())}}  # fmt: skip

    def predict(self, model: nn.Module, inputs: list[str]) -> list[dict[str, Any]]:
        """``{"value": v}`` (one target) or ``{"values": [...]}`` per sequence given as text."""
        values = self.decode(self.outputs(model, self.parse_inputs(inputs)))
        if self.num_outputs == 1:
            return [{"value": float(v[0])} for v in values]
        return [{"values": [float(x) for x in v]} for v in values]


# ----------------------------------------------------------------------------- texts


@dataclass
class ArrayTextData(SentimentData):
    """The ``data`` section of ``array_text``: the sentiment task's, read from memory."""

    name: str = option(
        "",
        "memory:KEY for texts handed over in memory (rnnkit.estimators.TextClassifier), or "
        "a .csv / .jsonl path",
    )
    test_fraction: float = option(0.0, "held out for the final test; 0 = no test split")
    keep_texts: bool = option(
        True, "save the texts in RUN_DIR/texts.jsonl, so that rnnkit evaluate can read them"
    )


class ArrayTextTask(SentimentTask):
    """Classify raw texts held in memory: the ``sentiment`` pipeline (tokenizer fitted on
    the training split, naive-Bayes initialised embeddings, length-bucketed batches) on data
    handed over by name; the texts are saved in the run directory (``texts.jsonl``)."""

    name = "array_text"
    DataConfig = ArrayTextData
    # no anchor: the sentiment task's __init__ sets self.anchor = None for any data but its
    # built-in set. explain and export are the sentiment task's.

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.run_dir: Path | None = None
        self.classes: np.ndarray | None = None

    def _load(self) -> TextDataset:
        if self._dataset is not None:
            return self._dataset
        d: ArrayTextData = self.cfg.data
        kept = None if self.run_dir is None else self.run_dir / TEXTS_FILE
        if d.name.startswith(MEMORY_PREFIX):
            data = lookup_texts(d.name)
        elif kept is not None and kept.is_file():
            data = _read_texts(kept)
        elif d.name:
            return super()._load()
        else:
            raise RnnkitError(
                f"{self.run_dir}: the texts of this run were not kept (data.keep_texts=false); "
                "evaluate with --data FILE"
            )
        test, val, train = stratified_split(
            data.targets, [d.test_fraction, d.val_fraction], seed=self.cfg.seed
        )
        note = f"stratified split with seed {self.cfg.seed} of {len(data)} texts"
        if len(val) == 0:
            val, note = train, note + " (val = train: too few texts to hold any out)"
        full = TextSplit(texts=data.texts, token_ids=None, labels=data.targets)
        self._dataset = TextDataset(
            full.subset(train), full.subset(val), full.subset(test),
            data.label_names, "texts in memory", note,
        )  # fmt: skip
        if data.classes is not None:
            self.classes = data.classes
        return self._dataset

    def prepare(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        d: ArrayTextData = self.cfg.data
        super().prepare(run_dir)
        if d.name.startswith(MEMORY_PREFIX):
            data = lookup_texts(d.name)
            if d.keep_texts:
                lines = [json.dumps({"text": t, "label": int(c)}, ensure_ascii=False)
                         for t, c in zip(data.texts, data.targets)]  # fmt: skip
                write_text(self.run_dir / TEXTS_FILE, "\n".join(lines) + "\n")
                write_json(self.run_dir / TEXT_CLASSES_FILE, _classes_json(data))
            d.name = ""  # the name means nothing after this process: the run keeps a copy

    def restore(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        super().restore(run_dir)
        path = self.run_dir / TEXT_CLASSES_FILE
        if path.is_file():
            info = json.loads(path.read_text(encoding="utf-8"))
            self.classes = np.asarray(info["classes"], dtype=np.dtype(info["dtype"]))

    def describe_data(self) -> str:
        ds = self._load()
        sizes = ", ".join(f"{s} {len(ds.split(s))}" for s in ("train", "val", "test"))
        return f"{ds.source}: {len(ds.label_names)} classes; {sizes}; {ds.split_note}"

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, Any]:
        if len(self._load().split(split)) == 0:
            raise RnnkitError(
                f"the {split} split is empty (data.test_fraction={self.cfg.data.test_fraction});"
                " evaluate --split val, or --data FILE"
            )
        return super().evaluate(model, split)

    def baselines(self) -> dict[str, dict[str, float]]:
        if len(self._load().test) == 0:
            return {}
        return super().baselines()

    def release_data(self) -> None:
        """Drop the texts held in memory (a fitted estimator keeps only what predicts)."""
        self._dataset, self._encoded = None, {}


def _classes_json(data: TextArrays) -> dict[str, Any]:
    """The classes as given (their dtype kept), for the estimator read back."""
    classes = np.asarray(data.label_names if data.classes is None else data.classes)
    return {"classes": classes.tolist(), "dtype": classes.dtype.str}


def _read_texts(path: Path) -> TextArrays:
    """``texts.jsonl`` as written by :meth:`ArrayTextTask.prepare` (labels are codes)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    labels = json.loads((path.parent / LABELS_FILE).read_text(encoding="utf-8"))["label_names"]
    return TextArrays([r["text"] for r in rows],
                      np.asarray([r["label"] for r in rows], dtype=np.int64), labels)  # fmt: skip


__all__ = [
    "ArrayClassificationTask",
    "ArrayData",
    "ArrayRegressionData",
    "ArrayRegressionTask",
    "ArrayTextData",
    "ArrayTextTask",
]
