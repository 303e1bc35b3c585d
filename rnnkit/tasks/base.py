"""The task protocol: what the training loop and the commands need from a task.

A task owns its data (loading, splitting, preprocessing fitted on the training split),
its model (encoder -> recurrent stack -> head), its loss, metrics, baselines and the
published anchor. The loop in :mod:`rnnkit.training` owns everything else, and every
command after training (evaluate, predict, generate, forecast, explain) reads only the
run directory: ``Task.restore(run_dir)`` brings back what ``Task.prepare`` saved.

Adding a task: subclass :class:`Task` in ``rnnkit/tasks/<name>.py`` and add it to
``TASKS`` in ``rnnkit/tasks/__init__.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from rnnkit.config import RunConfig, data_key
from rnnkit.data.batch import Batch
from rnnkit.errors import RnnkitError


class Task(ABC):
    """One kind of job rnnkit trains: ``sentiment``, ``forecast``, ``charlm`` ...

    Class attributes:
        name: the name used on the command line (``rnnkit train NAME``).
        DataConfig: the dataclass of this task's ``data`` config section.
        model_defaults / train_defaults: this task's defaults for the shared sections,
            as overrides of :class:`rnnkit.config.ModelConfig` / ``TrainConfig``.
        monitor: the validation metric that picks the best epoch, and its ``mode``.
        anchor: the published figure for this task (``{"source": ..., <metric>: ...}``).
    """

    name: ClassVar[str]
    DataConfig: ClassVar[type]
    model_defaults: ClassVar[dict[str, Any]] = {}
    train_defaults: ClassVar[dict[str, Any]] = {}
    monitor: ClassVar[str] = "loss"
    monitor_mode: ClassVar[str] = "min"  # "min" or "max"
    anchor: ClassVar[dict[str, Any] | None] = None

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg

    # --------------------------------------------------------------- data
    @abstractmethod
    def prepare(self, run_dir: Path) -> None:
        """Load the data, split it, fit preprocessing on the training split only, and save
        what later commands need (tokenizer, scaler, vocabulary ...) into ``run_dir``."""

    @abstractmethod
    def restore(self, run_dir: Path) -> None:
        """Bring back what :meth:`prepare` saved, without reading the training data."""

    @abstractmethod
    def batches(
        self, split: str, *, shuffle: bool = False, generator: torch.Generator | None = None
    ) -> Iterable[Batch]:
        """The batches of ``split`` ("train", "val" or "test"), re-iterable each epoch."""

    def split_size(self, split: str) -> int:
        """Number of sequences (or streams x chunks) in ``split``, for progress and reports."""
        return sum(len(b) for b in self.batches(split))

    # -------------------------------------------------------------- model
    @abstractmethod
    def build_model(self) -> nn.Module:
        """A freshly initialised model for this config (after prepare or restore)."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """The scalar training loss of ``model`` on ``batch``."""

    def training_step(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """The loss to backpropagate for one training batch. Tasks that carry state across
        batches (truncated BPTT) override this and :meth:`on_epoch_start`."""
        return self.loss(model, batch)

    def on_epoch_start(self, model: nn.Module, split: str) -> None:  # noqa: B027
        """Called before iterating ``split`` (train or evaluation); resets carried state."""

    @abstractmethod
    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        """The task's metrics on ``split`` (must include ``loss`` and ``self.monitor``)."""

    def baselines(self) -> dict[str, dict[str, float]]:
        """The simple methods a user would try first, on the same test split."""
        return {}

    # ------------------------------------------------- after training (commands, report)
    def describe_data(self) -> str:
        """One line about the data for ``report.json`` ("data"): by default the value of the
        data section's ``name`` / ``source`` / ``path`` field."""
        return str(getattr(self.cfg.data, data_key(self.cfg.data)))

    def set_data(self, source: str) -> None:
        """Evaluate on another data source in the same format (``rnnkit evaluate --data``).
        The saved preprocessing (tokenizer, scaler) is kept, never refitted."""
        raise RnnkitError(f"task {self.name!r} does not support evaluating on other data (--data)")

    def predict(self, model: nn.Module, inputs: list[str]) -> list[dict[str, Any]]:
        """One prediction per raw input (``rnnkit predict``), e.g. ``{"label": ..., "p": ...}``.
        ``model`` is in eval mode; called after :meth:`restore`."""
        raise RnnkitError(f"task {self.name!r} does not support predict")

    def format_prediction(self, input: str, prediction: dict[str, Any]) -> str:
        """The line ``rnnkit predict`` prints for one input (default: ``key=value`` pairs)."""
        fields = "  ".join(
            f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in prediction.items()
        )
        return f"{fields}  {input!r}"
