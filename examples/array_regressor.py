"""An LSTM regressor fitted on a NumPy array: predict the next value of a noisy sine wave
from the 20 values before it, with ``SequenceRegressor`` (scikit-learn style, in a
pipeline) and with ``rnnkit.fit`` on a module of your own (Keras style).

    python3 examples/array_regressor.py            # 2000 windows, the estimator's defaults
    python3 examples/array_regressor.py --smoke    # 300 windows, tiny model (seconds)
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

import rnnkit
from rnnkit.estimators import SequenceRegressor


def windows(n: int, width: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``X (n, width)``: windows of a noisy sine wave; ``y (n,)``: the value after each."""
    rng = np.random.default_rng(seed)
    t = np.arange(n + width) * 0.2
    wave = np.sin(t) + 0.1 * rng.normal(size=t.shape)
    X = np.stack([wave[i : i + width] for i in range(n)])
    return X.astype(np.float32), wave[width : width + n].astype(np.float32)


class LSTMRegressor(nn.Module):
    """rnnkit.LSTM over the window, a linear read-out of its last state."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.lstm = rnnkit.LSTM(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, 1) -> (B,)
        out, _ = self.lstm(x)
        return self.head(out[:, -1])[:, 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="fewer windows, tiny model")
    args = parser.parse_args()
    X, y = windows(300 if args.smoke else 2000)
    split = int(0.8 * len(X))
    size = {"hidden_size": 16, "embedding_dim": 8, "epochs": 8, "lr": 0.01} if args.smoke else {}

    # 1. scikit-learn style: a 2-D array of univariate series, in a pipeline
    reg = make_pipeline(StandardScaler(), SequenceRegressor(**size))
    reg.fit(X[:split], y[:split])
    print(f"SequenceRegressor R^2 on held-out windows: {reg.score(X[split:], y[split:]):.3f}")

    # 2. Keras style: model.fit(x, y, epochs=, batch_size=, validation_split=)
    model = LSTMRegressor(16 if args.smoke else 32)
    history = rnnkit.fit(model, X[:split], y[:split], loss="mse", epochs=8 if args.smoke else 30,
                         batch_size=32, validation_split=0.2, lr=0.01,
                         verbose=not args.smoke)  # fmt: skip
    with torch.no_grad():
        pred = model(torch.from_numpy(X[split:, :, None])).numpy()
    rmse = float(np.sqrt(np.mean((pred - y[split:]) ** 2)))
    print(f"rnnkit.fit: val_loss {history.history['val_loss'][-1]:.4f}, held-out RMSE {rmse:.3f}")


if __name__ == "__main__":
    main()
