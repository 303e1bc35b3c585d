"""``rnnkit train copy``: the copy memory problem, generated on the fly (see
:mod:`rnnkit.data.synthetic`). The model reads ten symbols, waits ``data.length`` steps, and
must reproduce them after the delimiter.

Trained with the cross-entropy over the last ten outputs (the recall). Reported:

- ``loss``: that cross-entropy per recalled symbol (guessing: ln 8 = 2.079);
- ``accuracy``: recalled symbols right (guessing: 1/8);
- ``loss_per_step``: ``loss * 10 / (T + 20)``, the cross-entropy over all ``T + 20``
  outputs with the blank outputs counted as free (a memoryless model predicts them
  perfectly): the figure of the TCN paper, where guessing scores ``10 ln 8 / (T + 20)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.config import option
from rnnkit.data.synthetic import COPY_VOCAB, N_COPY, N_SYMBOLS, copy_baseline_loss, copy_memory
from rnnkit.models.regressor import SequenceModel
from rnnkit.tasks.adding import SyntheticTask
from rnnkit.tasks.base import GRADFLOW_RENAMED


@dataclass
class CopyData:
    """``data`` section of ``rnnkit train copy``."""

    length: int = option(100, "T: blanks to wait through (the sequence is T + 20 steps)")
    train_size: int = option(10000, "training sequences per epoch")
    val_size: int = option(1000, "validation sequences (fixed)")
    test_size: int = option(1000, "test sequences (fixed)")
    resample: bool = option(True, "draw fresh training sequences every epoch (unlimited data)")


class CopyTask(SyntheticTask):
    """Copy memory: recall ten symbols after ``T`` blanks; cross-entropy and accuracy."""

    name = "copy"
    DataConfig = CopyData
    renamed_keys = GRADFLOW_RENAMED
    model_defaults = {"cell": "lstm", "hidden_size": 128, "num_layers": 1}
    train_defaults = {"batch_size": 50, "lr": 1e-3, "epochs": 20, "early_stopping": 0}
    monitor = "loss"
    monitor_mode = "min"
    anchor = {
        "source": "guessing gives 10 ln8/(T+20) per step (0.0204 at T=1000); LSTM/GRU are "
        "about guessing at T=1000 (TCN paper, Bai et al. 2018)",
        "guessing_loss_per_step_T1000": round(copy_baseline_loss(1000), 4),
    }

    def draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return copy_memory(n, self.cfg.data.length, generator)

    def build_model(self) -> nn.Module:
        return SequenceModel.from_config(
            self.cfg.model,
            input_size=COPY_VOCAB,
            output_size=COPY_VOCAB,
            per_step=True,
            num_symbols=COPY_VOCAB,
        )

    def export_info(self) -> dict[str, Any]:
        return {"input": f"inputs (B, T) ids in 0..{COPY_VOCAB - 1} (rnnkit.data.synthetic."
                "copy_memory's layout); outputs (B, T, V): logits per step"}  # fmt: skip

    def output_loss(
        self, model: nn.Module, outputs: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        recall = outputs[:, -N_COPY:]  # (B, 10, V)
        return F.cross_entropy(
            recall.reshape(-1, recall.shape[-1]), targets[:, -N_COPY:].reshape(-1)
        )

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        device = next(model.parameters()).device
        loss_sum, correct, count = 0.0, 0, 0
        for batch in self.batches(split):
            recall = model(batch.inputs.to(device))[:, -N_COPY:]  # (B, 10, V)
            target = batch.required_targets()[:, -N_COPY:].to(device)  # (B, 10)
            loss_sum += float(
                F.cross_entropy(
                    recall.reshape(-1, recall.shape[-1]), target.reshape(-1), reduction="sum"
                )
            )
            correct += int((recall.argmax(-1) == target).sum())
            count += target.numel()
        loss = loss_sum / count
        return {
            "loss": loss,
            "accuracy": correct / count,
            "loss_per_step": loss * N_COPY / (self.cfg.data.length + 2 * N_COPY),
        }

    def baselines(self) -> dict[str, dict[str, float]]:
        return {
            "guessing": {
                "loss": math.log(N_SYMBOLS),
                "accuracy": 1.0 / N_SYMBOLS,
                "loss_per_step": copy_baseline_loss(self.cfg.data.length),
            }
        }
