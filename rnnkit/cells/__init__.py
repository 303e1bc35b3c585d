"""The math of one time step of each cell family, and its hand-derived backward through time.

Each family has a reference step function (its equations in the docstring), a sequence
function over right-padded batches (``mode="reference"``: autograd over a Python loop of the
step; ``mode="bptt"``: the explicit backward through time), and the autograd Function
behind ``mode="bptt"``. Loops over layers and directions, argument validation and backends
live in :mod:`rnnkit.layers`.
"""

from rnnkit.cells.elman import ElmanBPTT, elman_sequence, elman_step
from rnnkit.cells.gru import GRUBPTT, gru_sequence, gru_step
from rnnkit.cells.lstm import LSTMBPTT, lstm_sequence, lstm_step

__all__ = [
    "ElmanBPTT",
    "GRUBPTT",
    "LSTMBPTT",
    "elman_sequence",
    "elman_step",
    "gru_sequence",
    "gru_step",
    "lstm_sequence",
    "lstm_step",
]
