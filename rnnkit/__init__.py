"""rnnkit: recurrent neural networks done well.

The public surface is re-exported here by name; the modules behind it are private.
"""

from __future__ import annotations

from rnnkit.layers import GRU, LSTM, RNN, trace

__version__ = "0.1.0"

__all__ = ["__version__", "GRU", "LSTM", "RNN", "trace"]
