"""``PooledRegressor``: features -> recurrent stack -> pooling -> K real values per sequence.

::

    inputs (B, T, F) ─► linear ─► (B, T, E) ─► recurrent (lengths) ─► (B, T, R)
         ─► pool over the real steps (last | mean | max | attention) ─► (B, R)
         ─► dropout ─► linear ─► (B, K)

The encoder, stack and pooling are those of
:class:`rnnkit.models.classifier.SequenceClassifier` (the same config,
:class:`~rnnkit.models.classifier.ClassifierConfig`); only the head and the loss (mean
squared error) differ. It serves the in-memory regression task
(:mod:`rnnkit.tasks.arrays`), whose targets are whole-sequence values rather than the
future of the series (that is :class:`rnnkit.models.forecaster.Forecaster`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier


class PooledRegressor(SequenceClassifier):
    """Regress ``K`` values of each whole sequence ``(B, T, F)`` -> ``(B, K)``.

    Args:
        recurrent: a batch-first stack ``recurrent(x, lengths=lengths) -> (out (B, T, R), state)``.
        recurrent_size: R.
        num_outputs: K >= 1, values per sequence.
        input_size: F, features per step.
        vocab_size: must be None (the regressor reads features, not token ids).
        **options: ``embedding_dim``, ``pooling``, ``bidirectional``, ``input_dropout``,
            ``head_dropout``, as in :class:`~rnnkit.models.classifier.SequenceClassifier`.

    Inputs: ``inputs (B, T, F)`` float, ``lengths (B,)`` int64 (or None: all T).

    Outputs: ``(B, K)``.

    Example::

        model = PooledRegressor.from_config(ClassifierConfig(hidden_size=8), num_outputs=1,
                                            input_size=3)
        pred = model(torch.randn(4, 10, 3), torch.tensor([10, 7, 3, 1]))   # (4, 1)
    """

    def __init__(
        self,
        recurrent: nn.Module,
        recurrent_size: int,
        num_outputs: int,
        *,
        input_size: int | None = None,
        vocab_size: None = None,
        **options: Any,
    ) -> None:
        if num_outputs < 1:
            raise ValueError(f"num_outputs must be >= 1, got {num_outputs}")
        if vocab_size is not None or input_size is None:
            raise ValueError("PooledRegressor reads features: give input_size, not vocab_size")
        # the classifier's encoder, stack and pooling; its two-class head is replaced below
        super().__init__(recurrent, recurrent_size, 2, input_size=input_size, **options)
        self.num_outputs = num_outputs
        self.head = nn.Linear(recurrent_size, num_outputs)

    @classmethod
    def from_config(  # type: ignore[override]
        cls, cfg: ClassifierConfig, *, num_outputs: int, input_size: int
    ) -> PooledRegressor:
        """The regressor a :class:`ClassifierConfig` describes (checked as the classifier's)."""
        model = super().from_config(cfg, num_classes=num_outputs, input_size=input_size)
        assert isinstance(model, PooledRegressor)
        return model

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean squared error of ``outputs`` ``(B, K)`` against ``targets`` ``(B, K)``."""
        return F.mse_loss(outputs, targets.to(outputs.dtype))

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Not defined for a regressor."""
        raise TypeError("PooledRegressor predicts values, not class probabilities")


__all__ = ["PooledRegressor"]
