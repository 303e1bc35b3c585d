"""The one batch format of rnnkit (DESIGN.md, invariant 1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class Batch:
    """A padded batch of sequences.

    Attributes:
        inputs: ``(B, T, ...)`` right-padded inputs: token ids ``(B, T)`` int64 for text,
            features ``(B, T, F)`` float for series.
        lengths: ``(B,)`` int64, the real length of each sequence (1 <= lengths <= T).
            Masks come from lengths; no code computes on padding.
        targets: the task's targets, e.g. ``(B,)`` labels or ``(B, H, C)`` future values.
        extras: optional named tensors a task needs beside the sequence (static features,
            known-future covariates, ...), each with batch dimension first.
    """

    inputs: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor | None = None
    extras: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.lengths.dtype != torch.int64 or self.lengths.dim() != 1:
            raise ValueError(
                f"Batch.lengths must be a 1-D int64 tensor, got dtype {self.lengths.dtype} "
                f"and shape {tuple(self.lengths.shape)}"
            )
        if self.lengths.shape[0] != self.inputs.shape[0]:
            raise ValueError(
                f"Batch.lengths has {self.lengths.shape[0]} entries but inputs has batch size "
                f"{self.inputs.shape[0]}"
            )

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def required_targets(self) -> torch.Tensor:
        """``targets``, for a loss or a metric; a batch built for prediction has none.

        >>> Batch(torch.zeros(2, 3), torch.tensor([3, 1])).required_targets()
        Traceback (most recent call last):
        ...
        ValueError: this batch has no targets (built for prediction); a loss or a metric needs them
        """
        if self.targets is None:
            raise ValueError(
                "this batch has no targets (built for prediction); a loss or a metric needs them"
            )
        return self.targets

    def to(self, device: torch.device | str) -> Batch:
        """Move every tensor to ``device`` (lengths stay where the layers want them: CPU)."""
        move: Any = lambda t: t.to(device) if isinstance(t, torch.Tensor) else t  # noqa: E731
        return Batch(
            inputs=move(self.inputs),
            lengths=self.lengths,
            targets=move(self.targets),
            extras={k: move(v) for k, v in self.extras.items()},
        )

    def mask(self) -> torch.Tensor:
        """``(B, T)`` bool mask, True at real steps."""
        steps = torch.arange(self.inputs.shape[1], device=self.lengths.device)
        return (steps[None, :] < self.lengths[:, None]).to(self.inputs.device)
