"""Recurrent layers, drop-in compatible with torch.nn: ``RNN``, ``LSTM``, ``GRU``.

The submodule :mod:`rnnkit.layers.trace` records their per-step states and gates
(``rnnkit.trace(model)``) and holds the hook other layer families call
(``rnnkit.layers.trace.record``).
"""

from rnnkit.layers import trace
from rnnkit.layers.gru import GRU
from rnnkit.layers.lstm import LSTM
from rnnkit.layers.rnn import RNN

__all__ = ["GRU", "LSTM", "RNN", "trace"]
