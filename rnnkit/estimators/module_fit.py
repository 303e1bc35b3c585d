"""``rnnkit.fit(module, X, y, ...)``: a Keras-style one-liner for a user's own model.

The module is trained in place by :func:`rnnkit.training.fit`, the loop of ``rnnkit
train`` (seeding, clipping, schedules, early stopping, the best epoch's weights), through
a small task that holds the arrays (:class:`ModuleTask`). Example::

    >>> import numpy as np
    >>> from torch import nn
    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.lstm = rnnkit.LSTM(1, 16, batch_first=True)
    ...         self.head = nn.Linear(16, 1)
    ...
    ...     def forward(self, x, lengths):          # (B, T, 1), (B,) -> (B,)
    ...         out, _ = self.lstm(x, lengths=lengths)
    ...         return self.head(out[torch.arange(len(x)), lengths - 1])[:, 0]
    >>> X = np.random.default_rng(0).normal(size=(64, 10))   # 64 series of 10 steps
    >>> y = X.sum(axis=1)
    >>> history = rnnkit.fit(Net(), X, y, loss="mse", epochs=2, batch_size=16,
    ...                      validation_split=0.25, verbose=False)
    >>> len(history.history["val_loss"])        # one value per epoch
    2

Inputs: ``X`` as for the estimators (a list of ``(T_i, F)`` arrays, a padded ``(N, T, F)``
array with ``lengths``, a 2-D ``(N, T)`` array of univariate series), or **integer** arrays
of token ids (a 2-D ``(N, T)`` int array or a list of 1-D int arrays), which reach the
module as ``(B, T)`` int64, padded with 0. The module is called as ``module(x, lengths)``
when its ``forward`` takes two arguments or more, else as ``module(x)``.
"""

from __future__ import annotations

import inspect
import math
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.config import ModelConfig, RunConfig, TrainConfig, option, update_dataclass
from rnnkit.data import arrays
from rnnkit.data.batch import Batch
from rnnkit.errors import RnnkitError
from rnnkit.tasks.base import Task

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _bce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(out.reshape(y.shape), y.to(out.dtype))


def _mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(out.reshape(y.shape), y.to(out.dtype))


LOSSES: dict[str, LossFn] = {
    "mse": _mse,
    "cross_entropy": F.cross_entropy,  # logits (B, C), labels (B,) int
    "bce": _bce,  # one logit per example, labels 0/1
}


def _accuracy(out: torch.Tensor, y: torch.Tensor, loss: str) -> float:
    if loss == "cross_entropy":
        return float((out.argmax(1) == y).double().mean())
    return float(((out.reshape(y.shape) > 0).long() == y.long()).double().mean())


@dataclass
class ModuleData:
    """The ``data`` section of a :func:`fit` run (the arrays themselves are in memory)."""

    validation_split: float = option(
        0.0, "the last fraction of the examples, held out for validation (as in Keras)"
    )


@dataclass
class History:
    """What :func:`fit` returns, as Keras's ``History``.

    Attributes:
        history: metric name -> one value per epoch: ``loss`` (training), ``val_loss``
            and ``val_accuracy`` (classification losses) when there is a validation split.
        epoch: the epoch numbers, 1-based.
        rows: the loop's full ``metrics.jsonl`` rows (gradient norms, learning rate ...).
        best_epoch: the epoch whose weights the module ends with.
    """

    history: dict[str, list[float]] = field(default_factory=dict)
    epoch: list[int] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None


class ModuleTask(Task):
    """A user's module on arrays held in memory (not registered: used by :func:`fit`)."""

    name: ClassVar[str] = "module"
    DataConfig: ClassVar[type] = ModuleData

    def __init__(
        self,
        cfg: RunConfig,
        module: nn.Module,
        inputs: list[np.ndarray],
        targets: np.ndarray,
        loss: str | LossFn,
    ) -> None:
        super().__init__(cfg)
        self.module, self.inputs, self.targets = module, inputs, targets
        self.loss_name = loss if isinstance(loss, str) else ""
        self.loss_fn: LossFn = LOSSES[loss] if isinstance(loss, str) else loss
        params = [
            p for p in inspect.signature(module.forward).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]  # fmt: skip
        self.pass_lengths = len(params) >= 2
        n = len(inputs)
        n_val = int(math.floor(n * cfg.data.validation_split))
        self.has_val = n_val > 0
        cut = n - n_val
        self.index = {
            "train": np.arange(cut),
            "val": np.arange(cut, n) if n_val else np.arange(cut),
        }
        self.index["test"] = self.index["val"]

    def prepare(self, run_dir: Path) -> None:
        if len(self.index["train"]) == 0:
            raise RnnkitError("validation_split leaves no example to train on")

    def restore(self, run_dir: Path) -> None:
        raise RnnkitError("a run of rnnkit.fit holds a user's module: load it with your own code")

    def batches(
        self, split: str, *, shuffle: bool = False, generator: torch.Generator | None = None
    ) -> Iterator[Batch]:
        idx = self.index[split]
        order = idx[torch.randperm(len(idx), generator=generator).numpy()] if shuffle else idx
        bs = self.cfg.train.batch_size
        for i in range(0, len(order), bs):
            rows = order[i : i + bs]
            x, lengths = arrays.pad([self.inputs[j] for j in rows])
            inputs = torch.from_numpy(x)
            if self.inputs[0].dtype.kind in "iu":  # token ids (B, T)
                inputs = inputs[..., 0].long()
            yield Batch(inputs, torch.from_numpy(lengths), torch.from_numpy(self.targets[rows]))

    def split_size(self, split: str) -> int:
        return len(self.index[split])

    def describe_data(self) -> str:
        n_val = len(self.index["val"]) if self.has_val else 0
        return (
            f"arrays in memory: {len(self.inputs)} examples, train {len(self.index['train'])}, "
            f"val {n_val}" + ("" if self.has_val else " (no validation split: val = train)")
        )

    def build_model(self) -> nn.Module:
        return self.module

    def forward(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """The module's output for ``batch`` (with its lengths when forward takes them)."""
        if self.pass_lengths:
            return model(batch.inputs, batch.lengths)
        return model(batch.inputs)

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        assert batch.targets is not None
        return self.loss_fn(self.forward(model, batch), batch.targets)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        device = next(model.parameters()).device
        total, correct, count = 0.0, 0.0, 0
        for batch in self.batches(split):
            batch = batch.to(device)
            assert batch.targets is not None
            out = self.forward(model, batch)
            total += float(self.loss_fn(out, batch.targets)) * len(batch)
            if self.loss_name in ("cross_entropy", "bce"):
                correct += _accuracy(out, batch.targets, self.loss_name) * len(batch)
            count += len(batch)
        metrics = {"loss": total / count}
        if self.loss_name in ("cross_entropy", "bce"):
            metrics["accuracy"] = correct / count
        return metrics


def _inputs(X: Any, lengths: Any) -> list[np.ndarray]:
    """Token ids (integer arrays) as ``[(T_i, 1)]`` int64, anything else as the estimators
    read it (float32 ``[(T_i, F)]``)."""
    items = X if isinstance(X, list | tuple) else None
    if isinstance(X, np.ndarray) and X.dtype.kind in "iu" and X.ndim == 2:
        lens = np.full(len(X), X.shape[1]) if lengths is None else np.asarray(lengths)
        return [X[i, : int(lens[i]), None].astype(np.int64) for i in range(len(X))]
    if items and all(isinstance(x, np.ndarray) and x.dtype.kind in "iu" for x in items):
        if any(x.ndim != 1 or len(x) == 0 for x in items):
            raise RnnkitError("token ids: expected a non-empty 1-D integer array per example")
        return [x[:, None].astype(np.int64) for x in items]
    return arrays.as_sequences(X, lengths)


def fit(
    module: nn.Module,
    X: Any,
    y: Any,
    *,
    loss: str | LossFn = "mse",
    epochs: int = 10,
    batch_size: int = 32,
    validation_split: float = 0.0,
    lengths: Any = None,
    optimizer: str = "adam",
    lr: float = 1e-3,
    clip_norm: float = 1.0,
    early_stopping: int = 0,
    seed: int = 0,
    device: str = "cpu",
    verbose: bool = True,
    run_dir: str | Path | None = None,
) -> History:
    """Train ``module`` on ``X``, ``y`` in place with rnnkit's training loop (Keras-style).

    Args:
        module: an ``nn.Module`` (e.g. built from rnnkit layers), called as
            ``module(x, lengths)`` or ``module(x)`` (module docs).
        X: the inputs (module docs); lengths: for a padded ``X``.
        y: ``(N,)`` or ``(N, K)`` targets: values for ``mse``, int labels for
            ``cross_entropy``, 0/1 for ``bce``.
        loss: ``mse`` | ``cross_entropy`` (logits ``(B, C)``) | ``bce`` (one logit per
            example) | a function ``(output, targets) -> scalar``.
        epochs, batch_size, optimizer, lr, clip_norm, early_stopping, seed, device: the
            ``train.*`` config keys (``early_stopping`` counts epochs without a better
            validation loss; 0 = off, as in Keras).
        validation_split: the last fraction of the examples, held out (as in Keras).
        verbose: print one line per epoch.
        run_dir: keep the loop's files (metrics, weights, checkpoint) there; default a
            temporary directory.

    Returns:
        The :class:`History`. The module ends with the weights of its best epoch (lowest
        validation loss; without a validation split, lowest training-split loss measured
        at the end of the epoch).
    """
    from rnnkit.training import fit as train_loop

    if not isinstance(module, nn.Module):
        raise RnnkitError(f"module: expected a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(loss, str) and not callable(loss):
        raise RnnkitError("loss: expected a name or a function (output, targets) -> loss")
    if isinstance(loss, str) and loss not in LOSSES:
        raise RnnkitError(f"loss: {loss!r} is not one of {', '.join(LOSSES)} (or a function)")
    if not 0.0 <= validation_split < 1.0:
        raise RnnkitError(f"validation_split: expected a value in [0, 1), got {validation_split}")
    inputs = _inputs(X, lengths)
    arrays.require_targets(y, "rnnkit.fit", "example")
    targets = np.asarray(y)
    arrays.check_target_count(len(targets), len(inputs), "example")
    if loss == "cross_entropy":
        targets = targets.astype(np.int64)
    elif targets.dtype.kind not in "biuf":
        raise RnnkitError(f"y: expected numbers, got {targets.dtype}")
    else:
        targets = targets.astype(np.float32)
    if not np.isfinite(targets.astype(np.float64)).all():
        raise RnnkitError("y holds NaN or infinity")
    train = update_dataclass(TrainConfig(), {
        "epochs": epochs, "batch_size": batch_size, "optimizer": optimizer, "lr": lr,
        "clip_norm": clip_norm, "early_stopping": early_stopping, "progress": bool(verbose),
        "tensorboard": False,
    }, prefix="train.")  # fmt: skip
    data = update_dataclass(ModuleData(), {"validation_split": validation_split}, "data.")
    cfg = RunConfig("module", data, ModelConfig(), train, seed=seed, device=device)
    task = ModuleTask(cfg, module, inputs, targets, loss)
    if run_dir is None:
        with tempfile.TemporaryDirectory(prefix="rnnkit-fit-") as tmp:
            report = train_loop(task, tmp, verbose=verbose, final_test=False)
            rows = _rows(Path(tmp))
    else:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        report = train_loop(task, run_dir, verbose=verbose, final_test=False)
        rows = _rows(Path(run_dir))
    return _history(rows, task.has_val, report.get("best_epoch"))


def _rows(run_dir: Path) -> list[dict[str, Any]]:
    from rnnkit.runs import read_metrics

    return read_metrics(run_dir)


def _history(rows: list[dict[str, Any]], has_val: bool, best: Any) -> History:
    out = History(rows=rows, epoch=[int(r["epoch"]) for r in rows])
    out.history["loss"] = [float(r["train.loss"]) for r in rows]
    if has_val:
        for key in ("loss", "accuracy"):
            if rows and f"val.{key}" in rows[0]:
                out.history[f"val_{key}"] = [float(r[f"val.{key}"]) for r in rows]
    out.best_epoch = int(best) if isinstance(best, int) else None
    return out


__all__ = ["History", "LOSSES", "ModuleTask", "fit"]
