"""``rnnkit train adding``: the adding problem, generated on the fly (see
:mod:`rnnkit.data.synthetic`). The model reads ``(value, marker)`` pairs for ``data.length``
steps and answers the sum of the two marked values; the loss is the MSE, and answering 1
whatever the input scores 1/6 ~ 0.167.

Also home of :class:`SyntheticTask`, the shared data plumbing of the generated tasks: a
fixed validation and test set drawn from seeds derived from ``seed``, and a fresh training
set every epoch (``data.resample``, seeded from the loop's shuffling generator) or the
same one, shuffled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.config import option
from rnnkit.data.batch import Batch
from rnnkit.data.batching import FixedLengthBatches
from rnnkit.data.synthetic import adding_baseline_mse, adding_problem
from rnnkit.errors import RnnkitError
from rnnkit.models.regressor import SequenceModel
from rnnkit.tasks.base import GRADFLOW_RENAMED, Task

if TYPE_CHECKING:
    from rnnkit.tune.space import Param

_SPLIT_SEED = {"val": 1, "test": 2, "train": 100}


@dataclass
class AddingData:
    """``data`` section of ``rnnkit train adding``."""

    length: int = option(100, "T, steps per sequence (one marker in each half)")
    train_size: int = option(10000, "training sequences per epoch")
    val_size: int = option(1000, "validation sequences (fixed)")
    test_size: int = option(1000, "test sequences (fixed)")
    resample: bool = option(True, "draw fresh training sequences every epoch (unlimited data)")


class SyntheticTask(Task):
    """Generated data: ``generate(n, length, generator) -> (inputs, targets)`` per split."""

    capabilities = frozenset({"evaluate", "export"})

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.fixed: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.run_dir: Path | None = None

    def draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def _min_length(self) -> int:
        return 1

    def prepare(self, run_dir: Path) -> None:
        d = self.cfg.data
        if d.length < self._min_length():
            raise RnnkitError(
                f"data.length: expected at least {self._min_length()} steps, got {d.length}"
            )
        for key in ("train_size", "val_size", "test_size"):
            if getattr(d, key) < 1:
                raise RnnkitError(f"data.{key}: expected >= 1, got {getattr(d, key)}")
        self.run_dir = Path(run_dir)

    def restore(self, run_dir: Path) -> None:
        self.prepare(run_dir)

    def describe_data(self) -> str:
        d = self.cfg.data
        return f"generated, T={d.length}, seed={self.cfg.seed}"

    def _data(
        self, split: str, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The sequences of ``split``: fixed for val and test (and for train without
        ``data.resample``); with ``resample``, each training epoch draws its seed from the
        loop's shuffling ``generator``, whose state the checkpoint keeps (a resumed run sees
        the same data as an uninterrupted one)."""
        if split not in _SPLIT_SEED:
            raise RnnkitError(f"split {split!r}: expected train, val or test")
        n = getattr(self.cfg.data, f"{split}_size")
        if split == "train" and self.cfg.data.resample and generator is not None:
            seed = int(torch.randint(0, 2**62, (1,), generator=generator))
            return self.draw(n, torch.Generator().manual_seed(seed))
        if split not in self.fixed:
            seed = self.cfg.seed * 1_000_003 + _SPLIT_SEED[split]
            self.fixed[split] = self.draw(n, torch.Generator().manual_seed(seed))
        return self.fixed[split]

    def batches(
        self, split: str, *, shuffle: bool = False, generator: torch.Generator | None = None
    ) -> Iterable[Batch]:
        inputs, targets = self._data(split, generator if shuffle else None)
        if shuffle and not self.cfg.data.resample:
            order = torch.randperm(len(targets), generator=generator)
            inputs, targets = inputs[order], targets[order]
        return FixedLengthBatches(inputs, targets, self.cfg.train.batch_size)

    def split_size(self, split: str) -> int:
        return int(getattr(self.cfg.data, f"{split}_size"))

    def search_space(self) -> list[Param]:
        """The stack's space over the cells built for long memory too (IndRNN, MinGRU,
        MinLSTM)."""
        from rnnkit.tune.space import stack_space

        return stack_space(self, cells=("lstm", "gru", "indrnn", "mingru", "minlstm"))

    def gradflow_probe(self, model: nn.Module, batch: Batch) -> tuple[Any, ...]:
        """The stack, its input features and the task loss of its output."""
        seq, targets = cast(SequenceModel, model), batch.required_targets()
        loss_fn = lambda out: self.output_loss(seq, seq.read_out(out), targets)  # noqa: E731
        return seq.recurrent, seq.features(batch.inputs), loss_fn, None

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return self.output_loss(model, model(batch.inputs), batch.required_targets())

    def output_loss(
        self, model: nn.Module, outputs: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        raise NotImplementedError


class AddingTask(SyntheticTask):
    """The adding problem: regress the sum of two marked values; MSE."""

    name = "adding"
    DataConfig = AddingData
    renamed_keys = GRADFLOW_RENAMED
    model_defaults = {"cell": "lstm", "hidden_size": 128, "num_layers": 1}
    train_defaults = {"batch_size": 50, "lr": 1e-3, "epochs": 20, "early_stopping": 0}
    monitor = "mse"
    monitor_mode = "min"
    anchor = {
        "source": "predicting 1 gives 0.167; LSTM solves T~100-500 and fails at T=1000 (TCN "
        "paper, Bai et al. 2018: LSTM 0.164 at T=600); IndRNN solves T=5000 (Li et al. 2018)",
        "solved_below_mse": 0.01,
        "lstm_mse_T600": 0.164,
    }

    def draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return adding_problem(n, self.cfg.data.length, generator)

    def _min_length(self) -> int:
        return 2

    def build_model(self) -> nn.Module:
        return SequenceModel.from_config(self.cfg.model, input_size=2, output_size=1)

    def export_info(self) -> dict[str, Any]:
        return {"input": "inputs (B, T, 2): (value in [0, 1], marker 0/1) per step; "
                "outputs (B, 1): the sum of the two marked values"}  # fmt: skip

    def output_loss(
        self, model: nn.Module, outputs: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        return F.mse_loss(outputs[:, 0], targets)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        device = next(model.parameters()).device
        total, count = 0.0, 0
        for batch in self.batches(split):
            pred = model(batch.inputs.to(device))[:, 0]
            total += float(((pred - batch.required_targets().to(device)) ** 2).sum())
            count += len(batch)
        mse = total / count
        return {"loss": mse, "mse": mse}

    def baselines(self) -> dict[str, dict[str, float]]:
        _, targets = self._data("test")
        return {
            "predict_one": {"mse": float(((targets - 1.0) ** 2).mean())},
            "predict_one_expected": {"mse": adding_baseline_mse()},
        }
