"""``LanguageModel``: next-symbol prediction with a state carried across calls.

::

    ids (B, T) ─► embedding ─► dropout ─► recurrent stack (state in, state out)
               ─► dropout ─► linear ─► logits (B, T, V)

:meth:`LanguageModel.forward` reads a chunk and returns the final state, so truncated BPTT
carries it to the next chunk and generation feeds the prime once, then one symbol at a
time (:meth:`LanguageModel.step`) without re-reading the prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.config import ModelConfig, option
from rnnkit.data.streams import IGNORE_INDEX
from rnnkit.errors import RnnkitError
from rnnkit.models.stack import make_recurrent, output_size
from rnnkit.models.state import State, run_with_resets


@dataclass
class LanguageModelConfig(ModelConfig):
    """``model`` section of a language model: the stack and its symbol embedding."""

    embedding_dim: int = option(128, "size of the symbol embedding (the stack's input)")


class LanguageModel(nn.Module):
    """A recurrent language model over a vocabulary of ``V`` symbols.

    Args:
        recurrent: a batch-first, unidirectional stack called as ``recurrent(x, hx) ->
            (output (B, T, R), state)`` (see :func:`rnnkit.models.stack.make_recurrent`).
        recurrent_size: R, features per step of the stack output.
        vocab_size: V.
        embedding_dim: E, the stack's input size.
        dropout: dropout on the embeddings and on the stack output.

    Inputs: ``ids, state=None, reset=None``
        - ids: ``(B, T)`` int64 symbol ids.
        - state: the state carried from the previous chunk (None = zeros).
        - reset: ``(B, T)`` bool, True where a stream starts a new document (its state is
          zeroed before that step).

    Outputs: ``logits (B, T, V), state``.
    """

    def __init__(
        self,
        recurrent: nn.Module,
        recurrent_size: int,
        vocab_size: int,
        *,
        embedding_dim: int = 128,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.dropout = nn.Dropout(dropout)
        self.recurrent = recurrent
        self.head = nn.Linear(recurrent_size, vocab_size)

    @classmethod
    def from_config(cls, cfg: LanguageModelConfig, vocab_size: int) -> LanguageModel:
        """The model a :class:`LanguageModelConfig` describes (``model.dropout`` applies to the
        embeddings and the stack output as well as between stacked layers)."""
        if cfg.bidirectional:
            raise RnnkitError(
                "model.bidirectional=true: a language model predicts the next symbol from the "
                "past only; set model.bidirectional=false"
            )
        if not 0.0 <= cfg.dropout < 1.0:
            raise RnnkitError(f"model.dropout: expected a value in [0, 1), got {cfg.dropout}")
        if cfg.embedding_dim < 1:
            raise RnnkitError(f"model.embedding_dim: expected >= 1, got {cfg.embedding_dim}")
        return cls(
            make_recurrent(cfg, cfg.embedding_dim),
            output_size(cfg),
            vocab_size,
            embedding_dim=cfg.embedding_dim,
            dropout=cfg.dropout,
        )

    def _run(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        return self.recurrent(x, state)

    def forward(
        self, ids: torch.Tensor, state: State = None, reset: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        """Logits ``(B, T, V)`` of the symbol after each of ``ids`` ``(B, T)``, and the state."""
        x = self.dropout(self.embedding(ids))  # (B, T, E)
        out, state = run_with_resets(self._run, x, state, reset)  # (B, T, R)
        return self.head(self.dropout(out)), state  # (B, T, V)

    def step(self, ids: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """One step: logits ``(B, V)`` after reading ``ids`` ``(B,)``, and the new state."""
        logits, state = self.forward(ids[:, None], state)
        return logits[:, 0], state

    @staticmethod
    def loss(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """Cross-entropy in nats of ``targets`` ``(B, T)`` (``IGNORE_INDEX`` not scored)."""
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            targets.reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction=reduction,
        )


@torch.no_grad()
def generate_ids(
    model: LanguageModel,
    prime: torch.Tensor,
    length: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    banned: list[int] | None = None,
) -> torch.Tensor:
    """Continue ``prime`` ``(P,)`` ids by ``length`` sampled ids ``(length,)``.

    The prime is read once (one call over all of it); then each sampled id is fed back one
    step at a time with the carried state, so the prefix is never read again.

    Args:
        banned: ids never to sample (e.g. the unknown-character id).
    """
    from rnnkit.sampling import check_sampling_args, sample_next

    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    if prime.dim() != 1 or prime.numel() < 1:
        raise ValueError(f"prime must be a non-empty (P,) tensor of ids, got {tuple(prime.shape)}")
    check_sampling_args(temperature, top_k, top_p)
    device = next(model.parameters()).device
    logits, state = model(prime.to(device)[None], None)  # read the prime once
    logits = logits[:, -1]  # (1, V)
    out = []
    for _ in range(length):
        if banned:
            logits[:, banned] = float("-inf")
        nxt = sample_next(
            logits.cpu(), temperature=temperature, top_k=top_k, top_p=top_p, generator=generator
        )  # (1,)
        out.append(int(nxt))
        logits, state = model.step(nxt.to(device), state)  # one new step, state carried
    return torch.tensor(out, dtype=torch.int64)


__all__ = ["LanguageModel", "LanguageModelConfig", "generate_ids"]
