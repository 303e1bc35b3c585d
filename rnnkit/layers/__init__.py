"""Recurrent layers, drop-in compatible with torch.nn: ``RNN``, ``LSTM``, ``GRU``; and
:func:`trace`, which records their per-step states and gates."""

from rnnkit.layers.gru import GRU
from rnnkit.layers.lstm import LSTM
from rnnkit.layers.rnn import RNN
from rnnkit.layers.trace import trace

__all__ = ["GRU", "LSTM", "RNN", "trace"]
