"""``StaticSequenceClassifier``: a :class:`SequenceClassifier` that also reads static features.

::

    static_cat (B, Kc), static_num (B, Kn) ──StaticFusion.encode──► s (B, E_s)
    concat: inputs (B, T, F) ─► [inputs, s] (B, T, F + E_s) ─► SequenceClassifier ─► logits
    init:   h_0 (and c_0) = f(s) ─► the classifier's recurrent stack starts there

The fusion is :class:`rnnkit.models.static.StaticFusion` (the one forecasting uses);
the classifier keeps its own API and is used as is (for ``concat`` it is built with
``input_size = F + E_s``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnkit.config import option
from rnnkit.errors import RnnkitError
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.models.static import StaticFusion


@dataclass
class StaticClassifierConfig(ClassifierConfig):
    """``model`` section of a classifier of series with static features (the two fields
    below were ``data.*`` keys before; the old names are still read, with a note)."""

    static_fusion: str = option(
        "concat", "how static features enter: concat (every step) | init (initial state)"
    )
    static_size: int = option(8, "size of the encoded static feature vector")


class StaticSequenceClassifier(nn.Module):
    """Classify sequences ``(B, T, F)`` together with per-sequence static features.

    Args:
        classifier: the sequence classifier (for ``concat`` its input size is ``F + E_s``).
        static: the :class:`StaticFusion` (``concat`` or ``init``).

    Inputs: ``inputs, lengths, static_cat, static_num``
        - inputs ``(B, T, F)`` float, lengths ``(B,)`` int64 (or None).
        - static_cat ``(B, Kc)`` int64 codes (0 = unknown), static_num ``(B, Kn)`` scaled.

    Outputs: ``logits (B, K)`` as :class:`SequenceClassifier`; ``loss`` and
    ``probabilities`` are the classifier's.
    """

    def __init__(self, classifier: SequenceClassifier, static: StaticFusion) -> None:
        super().__init__()
        self.classifier = classifier
        self.static = static
        self.num_classes = classifier.num_classes

    @classmethod
    def from_config(
        cls,
        cfg: ClassifierConfig,
        *,
        num_classes: int,
        input_size: int,
        cardinalities: list[int],
        num_numeric: int,
        fusion: str = "concat",
        size: int = 8,
    ) -> StaticSequenceClassifier:
        """The model a :class:`ClassifierConfig` and the static columns describe."""
        try:
            static = StaticFusion(
                fusion,
                list(cardinalities),
                num_numeric,
                size,
                cell=cfg.cell,
                hidden_size=cfg.hidden_size,
                num_layers=cfg.num_layers,
                num_directions=2 if cfg.bidirectional else 1,
            )
        except ValueError as e:
            raise RnnkitError(f"model.static_fusion: {e}") from None
        clf = SequenceClassifier.from_config(
            cfg, num_classes=num_classes, input_size=input_size + static.extra_inputs
        )
        return cls(clf, static)

    def forward(
        self,
        inputs: torch.Tensor,
        lengths: torch.Tensor | None = None,
        static_cat: torch.Tensor | None = None,
        static_num: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits ``(B, K)`` of ``inputs`` ``(B, T, F)`` and the static features."""
        if static_cat is None and static_num is None:
            raise ValueError("StaticSequenceClassifier needs static_cat and/or static_num")
        s = self.static.encode(static_cat, static_num)  # (B, E_s)
        x = self.static.inputs(inputs, s)  # (B, T, F [+ E_s])
        hx = self.static.initial_state(s)
        if hx is None:
            return self.classifier(x, lengths)
        clf = self.classifier
        B, T = x.shape[0], x.shape[1]
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.int64)
        emb = clf.input_dropout(clf.embed(x))  # (B, T, E)
        out, _ = clf.recurrent(emb, hx, lengths=lengths)  # (B, T, R)
        return clf.head(clf.head_dropout(clf.pool(out, lengths)))  # (B, K)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The classifier's loss of ``logits`` ``(B, K)`` against ``targets`` ``(B,)``."""
        return self.classifier.loss(logits, targets)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``(B, C)``."""
        return self.classifier.probabilities(logits)
