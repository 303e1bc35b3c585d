"""``SequenceClassifier``: encoder -> recurrent stack -> pooling -> head, one label per sequence.

::

    inputs (B, T) ids  ──embedding──┐
    inputs (B, T, F)   ──linear─────┴─► emb (B, T, E) ─► recurrent (lengths) ─► (B, T, R)
         ─► pool over the real steps (last | mean | max | attention) ─► (B, R)
         ─► dropout ─► linear ─► logits (B, K)      K = 1 for two classes, else C

Two classes use one logit and ``BCEWithLogits``; C > 2 classes use C logits and cross
entropy. ``lengths`` go to the recurrent stack, so nothing is computed on padding, and
every pooling ignores the padded steps. The model is split at the embeddings
(:meth:`SequenceClassifier.embed` and :meth:`SequenceClassifier.forward_from_embeddings`)
for attribution methods that interpolate in embedding space (Integrated Gradients).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.cells.padded import last_step, step_mask
from rnnkit.config import ModelConfig, option
from rnnkit.errors import RnnkitError
from rnnkit.models.stack import make_recurrent, output_size


@dataclass
class ClassifierConfig(ModelConfig):
    """``model`` section of a sequence classifier: the stack, its encoder and its head."""

    embedding_dim: int = option(
        128,
        "size of the encoder's output: the token embedding, or the linear encoder of "
        "real-valued inputs",
    )
    pooling: str = option("last", "how the steps become one vector: last | mean | max | attention")
    head_dropout: float = option(0.0, "dropout on the pooled vector before the head")


POOLINGS = ("last", "mean", "max", "attention")


class SequenceClassifier(nn.Module):
    """Classify whole sequences: token ids ``(B, T)`` or features ``(B, T, F)`` -> logits.

    Args:
        recurrent: a batch-first stack called as ``recurrent(x, lengths=lengths) ->
            (output (B, T, R), state)`` (see :func:`rnnkit.models.stack.make_recurrent`).
        recurrent_size: R, the features per step of the stack's output.
        num_classes: C >= 2.
        vocab_size: encode token ids with an embedding of this many rows (id
            ``padding_idx`` is padding); or None to encode features with a linear layer.
        input_size: F, the features per step, for the linear encoder.
        embedding_dim: E, the encoder's output size (the stack's input size).
        pooling: ``last`` (state at each sequence's last real step; for a bidirectional
            stack, the backward half at step 0), ``mean``, ``max`` or ``attention``
            (a learned softmax over the real steps).
        bidirectional: True when the stack's output is ``[forward, backward]`` halves.
        input_dropout: dropout on the encoder output ``(B, T, E)``.
        head_dropout: dropout on the pooled vector before the head.
        padding_idx: the padding id of the embedding.

    Inputs: ``inputs, lengths``
        - inputs: ``(B, T)`` int64 ids, or ``(B, T, F)`` float features.
        - lengths: ``(B,)`` int64 real lengths in ``[1, T]``, or None (all length T).

    Outputs: ``logits (B, K)``, K = 1 when C = 2 (the logit of class 1), else K = C.

    Example::

        model = SequenceClassifier.from_config(ClassifierConfig(), num_classes=2, vocab_size=10_000)
        logits = model(batch.inputs, batch.lengths)       # (B, 1)
        loss = model.loss(logits, batch.targets)
        probs = model.probabilities(logits)               # (B, 2)
    """

    def __init__(
        self,
        recurrent: nn.Module,
        recurrent_size: int,
        num_classes: int,
        *,
        vocab_size: int | None = None,
        input_size: int | None = None,
        embedding_dim: int = 128,
        pooling: str = "last",
        bidirectional: bool = False,
        input_dropout: float = 0.0,
        head_dropout: float = 0.0,
        padding_idx: int = 0,
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        if (vocab_size is None) == (input_size is None):
            raise ValueError("give exactly one of vocab_size (token ids) or input_size (features)")
        self.num_classes = num_classes
        self.pooling = pooling
        self.bidirectional = bidirectional
        if vocab_size is not None:
            self.encoder: nn.Module = nn.Embedding(vocab_size, embedding_dim, padding_idx)
        else:
            self.encoder = nn.Linear(int(input_size), embedding_dim)  # type: ignore[arg-type]
        self.input_dropout = nn.Dropout(input_dropout)
        self.recurrent = recurrent
        if pooling == "attention":
            self.attention = nn.Sequential(
                nn.Linear(recurrent_size, recurrent_size), nn.Tanh(), nn.Linear(recurrent_size, 1)
            )
        self.head_dropout = nn.Dropout(head_dropout)
        self.head = nn.Linear(recurrent_size, 1 if num_classes == 2 else num_classes)

    @classmethod
    def from_config(
        cls,
        cfg: ClassifierConfig,
        *,
        num_classes: int,
        vocab_size: int | None = None,
        input_size: int | None = None,
    ) -> SequenceClassifier:
        """The classifier a :class:`ClassifierConfig` describes (``model.dropout`` applies to the
        embeddings as well as between stacked layers)."""
        if cfg.pooling not in POOLINGS:
            raise RnnkitError(f"model.pooling: {cfg.pooling!r} is not one of {', '.join(POOLINGS)}")
        for key in ("dropout", "head_dropout"):
            if not 0.0 <= getattr(cfg, key) < 1.0:
                raise RnnkitError(
                    f"model.{key}: expected a value in [0, 1), got {getattr(cfg, key)}"
                )
        if cfg.embedding_dim < 1:
            raise RnnkitError(f"model.embedding_dim: expected >= 1, got {cfg.embedding_dim}")
        return cls(
            make_recurrent(cfg, cfg.embedding_dim),
            output_size(cfg),
            num_classes,
            vocab_size=vocab_size,
            input_size=input_size,
            embedding_dim=cfg.embedding_dim,
            pooling=cfg.pooling,
            bidirectional=cfg.bidirectional,
            input_dropout=cfg.dropout,
            head_dropout=cfg.head_dropout,
        )

    # ------------------------------------------------------------------ forward
    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        """Encoder output ``(B, T, E)`` of ids ``(B, T)`` or features ``(B, T, F)``."""
        return self.encoder(inputs)

    def forward_from_embeddings(
        self, emb: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits ``(B, K)`` from encoder outputs ``emb`` ``(B, T, E)``."""
        B, T = emb.shape[0], emb.shape[1]
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.int64)
        x = self.input_dropout(emb)  # (B, T, E)
        out, _ = self.recurrent(x, lengths=lengths)  # (B, T, R)
        pooled = self.pool(out, lengths)  # (B, R)
        return self.head(self.head_dropout(pooled))  # (B, K)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(B, K)`` of ``inputs`` ``(B, T)`` / ``(B, T, F)`` with ``lengths`` ``(B,)``."""
        return self.forward_from_embeddings(self.embed(inputs), lengths)

    def pool(self, out: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """One vector ``(B, R)`` per sequence from the stack output ``out`` ``(B, T, R)``."""
        B, T, R = out.shape
        lengths = lengths.to(out.device)
        mask = step_mask(lengths, T, out.device)  # (B, T)
        if self.pooling == "last":
            last = last_step(out, lengths)  # (B, R)
            if not self.bidirectional:
                return last
            half = R // 2  # forward half ends at the last real step, backward half at step 0
            return torch.cat([last[:, :half], out[:, 0, half:]], dim=1)
        if self.pooling == "mean":
            summed = (out * mask[..., None]).sum(1)  # (B, R)
            return summed / lengths[:, None].to(out.dtype)
        if self.pooling == "max":
            return out.masked_fill(~mask[..., None], float("-inf")).amax(1)  # (B, R)
        scores = self.attention(out).squeeze(-1)  # (B, T)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)  # (B, T)
        return torch.einsum("bt,btr->br", weights, out)  # (B, R)

    # ------------------------------------------------------------------ outputs
    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean BCE-with-logits (two classes) or cross entropy of ``targets`` ``(B,)``."""
        if self.num_classes == 2:
            return F.binary_cross_entropy_with_logits(logits[:, 0], targets.to(logits.dtype))
        return F.cross_entropy(logits, targets)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``(B, C)`` from logits ``(B, K)``."""
        if self.num_classes == 2:
            p1 = torch.sigmoid(logits[:, 0])  # (B,)
            return torch.stack([1 - p1, p1], dim=1)
        return torch.softmax(logits, dim=1)
