"""rnnkit.fit: a user's own module trained in place by the training loop, Keras-style."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import rnnkit
from rnnkit.errors import RnnkitError


class LastStep(nn.Module):
    """rnnkit.LSTM -> the state at each sequence's last real step -> one value."""

    def __init__(self, features: int = 1, hidden: int = 8) -> None:
        super().__init__()
        self.lstm = rnnkit.LSTM(features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x, lengths=lengths)  # (B, T, H)
        return self.head(out[torch.arange(len(x)), lengths - 1])[:, 0]  # (B,)


class TokenClassifier(nn.Module):
    """Embedding -> rnnkit.GRU -> logits of 2 classes; forward takes the ids only."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(30, 8)
        self.gru = rnnkit.GRU(8, 8, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(self.emb(ids))
        return self.head(out[:, -1])


def test_regression_on_a_2d_array_returns_a_keras_history():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6)).astype(np.float32)
    y = X.sum(1)
    model = LastStep()
    before = [p.detach().clone() for p in model.parameters()]
    history = rnnkit.fit(model, X, y, loss="mse", epochs=4, batch_size=16, lr=0.02,
                         validation_split=0.25, verbose=False)  # fmt: skip
    assert set(history.history) == {"loss", "val_loss"} and history.epoch == [1, 2, 3, 4]
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    # the module ends with the weights of the best validation epoch
    best = int(np.argmin(history.history["val_loss"])) + 1
    assert history.best_epoch == best


def test_variable_length_sequences_reach_forward_with_their_lengths():
    seen = []

    class Spy(LastStep):
        def forward(self, x, lengths):
            seen.append(lengths.clone())
            return super().forward(x, lengths)

    X = [np.ones((n, 2), np.float32) for n in (3, 5, 2, 7)]
    rnnkit.fit(Spy(features=2), X, [1.0, 2.0, 3.0, 4.0], epochs=1, batch_size=4, verbose=False)
    assert sorted(seen[0].tolist()) == [2, 3, 5, 7]


def test_token_ids_with_cross_entropy_and_the_last_fraction_held_out():
    rng = np.random.default_rng(1)
    ids = rng.integers(1, 30, size=(50, 9))
    labels = (ids[:, -1] > 15).astype(int)
    history = rnnkit.fit(TokenClassifier(), ids, labels, loss="cross_entropy", epochs=2,
                         validation_split=0.2, verbose=False)  # fmt: skip
    assert set(history.history) == {"loss", "val_loss", "val_accuracy"}
    assert all(0.0 <= a <= 1.0 for a in history.history["val_accuracy"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loss": "hinge"}, "loss: 'hinge' is not one of mse, cross_entropy, bce"),
        ({"validation_split": 1.0}, r"validation_split: expected a value in \[0, 1\)"),
        ({"y": [1.0, 2.0]}, "y has 2 targets but X has 4 examples; expected one each"),
        ({"y": None}, "rnnkit.fit requires y to be passed, .* expected one target per example"),
        ({"module": "lstm"}, "module: expected a torch.nn.Module, got str"),
        ({"epochs": 0}, "train.epochs: expected at least 1"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    args = {"module": LastStep(), "X": np.zeros((4, 3)), "y": np.zeros(4), "verbose": False}
    args.update(kwargs)
    module, X, y = args.pop("module"), args.pop("X"), args.pop("y")
    with pytest.raises(RnnkitError, match=message):
        rnnkit.fit(module, X, y, **args)
