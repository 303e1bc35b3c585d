"""The IMDB-style stacked LSTM on raw texts, two ways: ``TextClassifier`` (scikit-learn
style, the sentiment pipeline) and ``rnnkit.fit`` on a module of your own (Keras style).

    python3 examples/text_classifier.py            # the built-in Rotten Tomatoes snippets
    python3 examples/text_classifier.py --smoke    # toy reviews, tiny model (seconds)

The Keras original reads ``Embedding -> LSTM -> LSTM -> Dense`` and
``model.fit(x_train, y_train, epochs=..., batch_size=128)``; here the texts stay strings
for ``TextClassifier``, and become token ids (the estimator's own tokenizer) for the module.
"""

from __future__ import annotations

import argparse
import random

import numpy as np
import torch
from torch import nn

import rnnkit
from rnnkit.estimators import TextClassifier


def toy_reviews(n: int = 200, seed: int = 0) -> tuple[list[str], list[str]]:
    """Short 'reviews' whose label follows their words (a stand-in for IMDB)."""
    rng = random.Random(seed)
    good, bad = ["great", "moving", "funny", "sharp"], ["dull", "boring", "flat", "tedious"]
    filler = ["the", "film", "story", "was", "and", "a", "cast", "plot"]
    texts, labels = [], []
    for _ in range(n):
        label = rng.choice(["pos", "neg"])
        words = rng.sample(filler, 4) + rng.sample(good if label == "pos" else bad, 2)
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


class StackedLSTM(nn.Module):
    """Embedding -> two rnnkit.LSTM layers -> the last real step -> one logit."""

    def __init__(self, vocab_size: int, dim: int, hidden: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.lstm = rnnkit.LSTM(dim, hidden, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embedding(ids), lengths=lengths)  # (B, T, H)
        return self.head(out[torch.arange(len(ids)), lengths - 1])[:, 0]  # (B,)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="toy data, tiny model")
    args = parser.parse_args()
    if args.smoke:
        texts, labels = toy_reviews()
        size = {"hidden_size": 16, "embedding_dim": 16, "num_layers": 1, "epochs": 4, "lr": 0.01}
    else:
        from rnnkit.data.text import load_text_dataset

        ds = load_text_dataset("rotten_tomatoes")
        texts = (ds.train.texts or []) + (ds.val.texts or [])
        labels = [ds.label_names[i] for i in np.concatenate([ds.train.labels, ds.val.labels])]
        size = {}

    # 1. scikit-learn style: raw strings in, labels out
    split = int(0.8 * len(texts))
    clf = TextClassifier(**size, verbose=not args.smoke).fit(texts[:split], labels[:split])
    print(
        f"TextClassifier accuracy on held-out texts: {clf.score(texts[split:], labels[split:]):.3f}"
    )
    print(clf.predict(["a sharp and moving film", "dull, boring plot"]))

    # 2. Keras style: your own module, rnnkit.fit(model, x, y, epochs=, batch_size=)
    tokenizer = clf.task_.tokenizer  # the estimator's tokenizer, fitted on the training texts
    ids = [np.asarray(seq or [1], dtype=np.int64) for seq in tokenizer.encode(texts)]
    y = np.asarray([lab == clf.classes_[1] for lab in labels], dtype=np.float32)
    model = StackedLSTM(tokenizer.vocab_size, 16 if args.smoke else 128, 16 if args.smoke else 128)
    history = rnnkit.fit(model, ids, y, loss="bce", epochs=4 if args.smoke else 3,
                         batch_size=128, validation_split=0.2, lr=0.01 if args.smoke else 1e-3,
                         verbose=not args.smoke)  # fmt: skip
    print(f"rnnkit.fit val_accuracy per epoch: {np.round(history.history['val_accuracy'], 3)}")


if __name__ == "__main__":
    main()
