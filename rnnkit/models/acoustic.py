"""The acoustic model of ``rnnkit train speech``: feature frames -> per-frame label
posteriors, trained with CTC (Graves et al. 2006).

::

    frames (B, T, F)
      -> [convolutional front-end: log2(subsample) x (Conv1d k=3 stride 2, ReLU)]  (B, T', K)
      -> recurrent stack (any rnnkit cell family, bidirectional by default)       (B, T', D*H)
      -> dropout -> linear                                                        (B, T', C)
      -> log_softmax over the labels, label 0 the CTC blank

The front-end halves the frame rate at each layer (``T' = ceil(T / subsample)``): fewer
steps for the recurrence, and CTC needs no more than one frame per label and blank.
Padded frames are zeroed before each convolution, so an utterance's output does not
depend on the batch it is in.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.config import ModelConfig, option
from rnnkit.errors import RnnkitError
from rnnkit.models.stack import make_recurrent, output_size

SUBSAMPLING = (1, 2, 4, 8)


@dataclass
class AcousticConfig(ModelConfig):
    """``model`` section of the CTC acoustic model: the recurrent stack and its front-end."""

    subsample: int = option(2, "frames merged by the convolutional front-end: 1 (none), 2, 4, 8")
    conv_channels: int = option(64, "channels of each front-end convolution")
    head_dropout: float = option(0.1, "dropout before the output layer")


def _mask(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``x (B, T, K)`` with the steps at and after each row's length zeroed."""
    steps = torch.arange(x.shape[1], device=x.device)[None, :]  # (1, T)
    return x * (steps < lengths.to(x.device)[:, None]).unsqueeze(-1).to(x.dtype)


class CTCAcousticModel(nn.Module):
    """Frames -> log-probabilities of ``num_labels`` labels (0 = blank) at a reduced rate.

    Args:
        input_size: F, features per frame.
        num_labels: C, the labels with the blank (index 0).
        recurrent: the stack ``(x (B, T', K), lengths=) -> (out (B, T', R), state)``.
        recurrent_size: R, its output features per step.
        subsample: the front-end's total stride (1: no front-end, K = F).
        conv_channels: K, channels of the front-end's convolutions.
        dropout: before the output layer.

    Inputs: ``frames (B, T, F)``, ``lengths (B,)`` int64.
    Outputs: ``log_probs (B, T', C)``, ``out_lengths (B,)`` with ``T' = ceil(T / subsample)``.
    """

    def __init__(
        self,
        input_size: int,
        num_labels: int,
        recurrent: nn.Module,
        recurrent_size: int,
        *,
        subsample: int = 2,
        conv_channels: int = 64,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if subsample not in SUBSAMPLING:
            raise RnnkitError(f"model.subsample: expected one of {SUBSAMPLING}, got {subsample}")
        if conv_channels < 1:
            raise RnnkitError(f"model.conv_channels: expected >= 1, got {conv_channels}")
        if not 0.0 <= dropout < 1.0:
            raise RnnkitError(f"model.head_dropout: expected a value in [0, 1), got {dropout}")
        layers, channels = [], input_size
        for _ in range(subsample.bit_length() - 1):  # log2(subsample) stride-2 layers
            layers.append(nn.Conv1d(channels, conv_channels, kernel_size=3, stride=2, padding=1))
            channels = conv_channels
        self.convs = nn.ModuleList(layers)
        self.recurrent = recurrent
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(recurrent_size, num_labels)
        self.subsample = subsample

    @classmethod
    def from_config(cls, cfg: AcousticConfig, input_size: int, num_labels: int) -> CTCAcousticModel:
        """The model ``cfg`` describes, reading ``input_size`` features per frame."""
        if cfg.subsample not in SUBSAMPLING:
            raise RnnkitError(
                f"model.subsample: expected one of {SUBSAMPLING}, got {cfg.subsample}"
            )
        channels = cfg.conv_channels if cfg.subsample > 1 else input_size
        return cls(
            input_size,
            num_labels,
            make_recurrent(cfg, channels),
            output_size(cfg),
            subsample=cfg.subsample,
            conv_channels=cfg.conv_channels,
            dropout=cfg.head_dropout,
        )

    def out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Frames after the front-end: ``ceil(lengths / 2)`` per layer."""
        for _ in self.convs:
            lengths = (lengths + 1) // 2
        return lengths

    def forward(
        self, frames: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x, n = frames, lengths.cpu()
        for conv in self.convs:
            x = _mask(x, n)  # no padding leaks into a real frame's window
            x = F.relu(conv(x.transpose(1, 2))).transpose(1, 2)  # (B, ceil(T/2), K)
            n = (n + 1) // 2
        out, _ = self.recurrent(x, lengths=n)  # (B, T', R)
        logits = self.head(self.dropout(out))  # (B, T', C)
        return F.log_softmax(logits.float(), dim=-1), n

    @staticmethod
    def loss(
        log_probs: torch.Tensor,
        out_lengths: torch.Tensor,
        targets: torch.Tensor,
        target_lengths: torch.Tensor,
        reduction: str = "mean",
    ) -> torch.Tensor:
        """CTC loss of ``log_probs (B, T', C)`` against padded ``targets (B, S)`` (labels
        >= 1) of ``target_lengths (B,)``: ``mean`` divides each utterance's loss by its
        target length, then averages; ``sum`` adds the per-utterance losses."""
        return F.ctc_loss(
            log_probs.transpose(0, 1),  # (T', B, C)
            targets,
            out_lengths.cpu(),
            target_lengths.cpu(),
            blank=0,
            reduction=reduction,
            zero_infinity=True,  # an utterance too short for its labels adds nothing
        )


__all__ = ["AcousticConfig", "CTCAcousticModel", "SUBSAMPLING"]
