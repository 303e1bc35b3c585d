"""``SequenceModel``: features -> recurrent stack -> a linear head, for the memory tasks.

::

    inputs (B, T, F) floats, or (B, T) ids one-hot encoded to F = num_symbols
        ─► recurrent stack ─► output (B, T, R)
        ─► linear on the last step (B, K)       (adding: K = 1, sequential MNIST: K = 10)
           or on every step       (B, T, K)     (copy memory: K = 10 symbols)

No encoder sits between the inputs and the stack, as in the papers that set these tasks:
the recurrent layer reads the raw features, so the memory must come from the recurrence.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.config import ModelConfig
from rnnkit.errors import RnnkitError
from rnnkit.models.stack import make_recurrent
from rnnkit.models.stack import output_size as stack_output_size


class SequenceModel(nn.Module):
    """A recurrent stack with a linear read-out on the last step or on every step.

    Args:
        recurrent: a batch-first stack ``recurrent(x, hx) -> (output (B, T, R), state)``.
        recurrent_size: R.
        input_size: F, features per step (``num_symbols`` for one-hot encoded ids).
        output_size: K, outputs per read-out.
        per_step: read out every step ``(B, T, K)`` instead of the last ``(B, K)``.
        num_symbols: when set, ``inputs`` are ``(B, T)`` ids one-hot encoded to this size.

    Inputs: ``inputs`` ``(B, T, F)`` float or ``(B, T)`` int64 ids (all sequences full length).

    Outputs: ``(B, K)`` or ``(B, T, K)``.
    """

    def __init__(
        self,
        recurrent: nn.Module,
        recurrent_size: int,
        input_size: int,
        output_size: int,
        *,
        per_step: bool = False,
        num_symbols: int | None = None,
    ) -> None:
        super().__init__()
        self.input_size, self.per_step, self.num_symbols = input_size, per_step, num_symbols
        self.recurrent = recurrent
        self.head = nn.Linear(recurrent_size, output_size)

    @classmethod
    def from_config(
        cls,
        cfg: ModelConfig,
        *,
        input_size: int,
        output_size: int,
        per_step: bool = False,
        num_symbols: int | None = None,
    ) -> SequenceModel:
        """The model a :class:`ModelConfig` describes (causal: no bidirectional stack)."""
        if cfg.bidirectional:
            raise RnnkitError(
                "model.bidirectional=true is not supported by the memory tasks (the answer "
                "must come from memory of the past); set model.bidirectional=false"
            )
        return cls(
            make_recurrent(cfg, input_size),
            stack_output_size(cfg),
            input_size,
            output_size,
            per_step=per_step,
            num_symbols=num_symbols,
        )

    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        """The stack input ``(B, T, F)`` of ``inputs`` (one-hot encoding ids if needed)."""
        if self.num_symbols is not None:
            return F.one_hot(inputs, self.num_symbols).to(self.head.weight.dtype)
        return inputs

    def read_out(self, out: torch.Tensor) -> torch.Tensor:
        """The head applied to the stack output ``out`` ``(B, T, R)``."""
        return self.head(out if self.per_step else out[:, -1])

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(B, K)`` (last step) or ``(B, T, K)`` (every step) outputs."""
        out, _ = self.recurrent(self.features(inputs))  # (B, T, R)
        return self.read_out(out)


__all__ = ["SequenceModel"]
