"""``rnnkit train selective_copy``: the selective copy task (see
:mod:`rnnkit.data.synthetic`), generated on the fly.

``data.n_tokens`` symbols from an alphabet of ``data.n_symbols`` are scattered at random
positions of ``data.length`` noise steps; then come ``n_tokens`` marker steps, during which
the model must reproduce the symbols in order. It is the long-range task of the modern
recurrent-model papers (Gu & Dao 2023; Feng et al. 2024): the model has to choose by
content what to remember, which a time-invariant recurrence cannot do.

Trained with the cross-entropy over the ``n_tokens`` recall steps. Reported:

- ``loss``: that cross-entropy per recalled symbol (guessing: ``ln V``);
- ``accuracy``: recalled symbols right, each counted (guessing: ``1 / V``);
- ``sequence_accuracy``: sequences recalled entirely right (guessing: ``V ** -k``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.config import option
from rnnkit.data.synthetic import selective_copy
from rnnkit.errors import RnnkitError
from rnnkit.models.regressor import SequenceModel
from rnnkit.tasks.adding import SyntheticTask
from rnnkit.tasks.base import GRADFLOW_RENAMED


@dataclass
class SelectiveCopyData:
    """``data`` section of ``rnnkit train selective_copy``."""

    length: int = option(200, "T: noise steps over which the symbols are scattered")
    n_tokens: int = option(10, "k: symbols to remember and reproduce in order")
    n_symbols: int = option(8, "V: alphabet of the symbols (ids 1..V; 0 noise, V+1 marker)")
    train_size: int = option(10000, "training sequences per epoch")
    val_size: int = option(1000, "validation sequences (fixed)")
    test_size: int = option(1000, "test sequences (fixed)")
    resample: bool = option(True, "draw fresh training sequences every epoch (unlimited data)")


class SelectiveCopyTask(SyntheticTask):
    """Selective copy: reproduce, in order, ``k`` symbols scattered among noise."""

    name = "selective_copy"
    DataConfig = SelectiveCopyData
    renamed_keys = GRADFLOW_RENAMED
    model_defaults = {"cell": "lstm", "hidden_size": 128, "num_layers": 2}
    train_defaults = {"batch_size": 64, "lr": 1e-3, "epochs": 20, "early_stopping": 0}
    monitor = "loss"
    monitor_mode = "min"
    anchor = {
        "source": "Gu & Dao 2023 (Mamba), Table 1: selective copying with T=4096, k=16, "
        "V=16, where time-invariant SSMs (S4) fail and the selective S6 layer solves it; "
        "Feng et al. 2024 (Were RNNs all we needed?), Table 1: minGRU / minLSTM solve it "
        "with 3 layers. Their settings are longer than this task's defaults; compare by "
        "setting data.length, data.n_tokens and data.n_symbols to theirs.",
    }

    def prepare(self, run_dir) -> None:  # noqa: ANN001 (the base's signature)
        d = self.cfg.data
        for key in ("n_tokens", "n_symbols"):
            if getattr(d, key) < 1:
                raise RnnkitError(f"data.{key}: expected >= 1, got {getattr(d, key)}")
        if d.length < d.n_tokens:
            raise RnnkitError(
                f"data.length: the {d.n_tokens} symbols (data.n_tokens) are scattered over "
                f"data.length steps, so it must be at least {d.n_tokens}; got {d.length}"
            )
        super().prepare(run_dir)

    @property
    def vocab(self) -> int:
        """Input and output ids: noise, the ``V`` symbols, the marker."""
        return self.cfg.data.n_symbols + 2

    def describe_data(self) -> str:
        d = self.cfg.data
        return (
            f"generated, T={d.length}, k={d.n_tokens} symbols of V={d.n_symbols}, "
            f"seed={self.cfg.seed}"
        )

    def draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.cfg.data
        return selective_copy(n, d.length, d.n_tokens, d.n_symbols, generator)

    def build_model(self) -> nn.Module:
        return SequenceModel.from_config(
            self.cfg.model,
            input_size=self.vocab,
            output_size=self.vocab,
            per_step=True,
            num_symbols=self.vocab,
        )

    def export_info(self) -> dict[str, Any]:
        return {"input": f"inputs (B, T) ids in 0..{self.vocab - 1} (0 noise, 1..V symbols, "
                "V+1 marker); outputs (B, T, vocab): logits per step"}  # fmt: skip

    def output_loss(
        self, model: nn.Module, outputs: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        k = self.cfg.data.n_tokens
        recall = outputs[:, -k:]  # (B, k, V + 2)
        return F.cross_entropy(recall.reshape(-1, recall.shape[-1]), targets[:, -k:].reshape(-1))

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        device = next(model.parameters()).device
        k = self.cfg.data.n_tokens
        loss_sum, correct, whole, symbols, sequences = 0.0, 0, 0, 0, 0
        for batch in self.batches(split):
            recall = model(batch.inputs.to(device))[:, -k:]  # (B, k, V + 2)
            target = batch.required_targets()[:, -k:].to(device)  # (B, k)
            loss_sum += float(
                F.cross_entropy(
                    recall.reshape(-1, recall.shape[-1]), target.reshape(-1), reduction="sum"
                )
            )
            right = recall.argmax(-1) == target  # (B, k)
            correct += int(right.sum())
            whole += int(right.all(dim=1).sum())
            symbols += target.numel()
            sequences += target.shape[0]
        return {
            "loss": loss_sum / symbols,
            "accuracy": correct / symbols,
            "sequence_accuracy": whole / sequences,
        }

    def baselines(self) -> dict[str, dict[str, float]]:
        d = self.cfg.data
        return {
            "guessing": {
                "loss": math.log(d.n_symbols),
                "accuracy": 1.0 / d.n_symbols,
                "sequence_accuracy": float(d.n_symbols) ** -d.n_tokens,
            }
        }
