"""rnnkit: recurrent neural networks done well.

The public surface is re-exported here by name; the modules behind it are private.
"""

from __future__ import annotations

from typing import Any

from rnnkit.api import Run, load, train
from rnnkit.config import RunConfig
from rnnkit.fused import backend as _fused_backend  # noqa: F401 (registers backend='fused')
from rnnkit.layers import GRU, LSTM, RNN
from rnnkit.layers.convlstm import ConvLSTM1d, ConvLSTM2d
from rnnkit.layers.indrnn import IndRNN
from rnnkit.layers.minrnn import MinGRU, MinLSTM
from rnnkit.layers.recurrent import Recurrent
from rnnkit.layers.trace import trace

__version__ = "0.1.0"

__all__ = ["__version__", "GRU", "LSTM", "RNN", "trace"]
__all__ += ["ConvLSTM1d", "ConvLSTM2d", "IndRNN", "MinGRU", "MinLSTM", "Recurrent"]
__all__ += ["Run", "RunConfig", "load", "train"]
__all__ += ["fit"]


def __getattr__(name: str) -> Any:
    """``rnnkit.fit`` (:func:`rnnkit.estimators.module_fit.fit`), imported when first used:
    the estimators bring in scikit-learn, which ``import rnnkit`` does not need."""
    if name == "fit":
        from rnnkit.estimators.module_fit import fit

        return fit
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")
