"""The ``fused`` backend: rnnkit's C++ kernels registered in the layers' backend registry.

Imported by ``rnnkit`` itself, so ``backend="fused"`` works on ``rnnkit.LSTM``, ``GRU`` and
``RNN`` (several layers and both directions through the layers' runner), and ``auto`` takes
it where a row of :data:`rnnkit.layers.backends.AUTO_TABLE` lists it. Registering does not
load the library: the first call's ``check`` does, and when the library cannot be loaded
the check refuses with the reason (``auto`` then runs elsewhere and logs that once).
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from rnnkit.cells.padded import full_lengths
from rnnkit.fused import _ops, elman_sequence, gru_sequence, lstm_sequence
from rnnkit.layers import backends
from rnnkit.layers.backends import Backend, Request, StepOptions

States = tuple[Tensor, ...]
_log = logging.getLogger("rnnkit")
_told = False  # whether the one-line note that the kernels are unavailable was logged


def check(request: Request) -> str | None:
    """Why the fused kernels cannot run ``request`` (None when they can)."""
    global _told
    reason = _ops.unavailable_reason()
    if reason is not None:
        if not _told:
            _told = True
            _log.warning("rnnkit: the fused kernels are not available (%s); using bptt", reason)
        return f"rnnkit's fused kernels are not available: {reason}"
    if request.device != "cpu":
        return f"the fused kernels run on the CPU only (the input is on {request.device})"
    if request.options:
        return f"no fused kernel for {', '.join(sorted(request.options))} yet"
    if request.dtype not in (torch.float32, torch.float64) and not torch.is_autocast_enabled(
        "cpu"
    ):
        return f"the fused kernels take float32 or float64, got {request.dtype}"
    return None


def _run_lstm(
    x: Tensor, lengths: Tensor | None, state: States, weights: tuple, options: StepOptions
) -> tuple[Tensor, States]:
    out, h, c = lstm_sequence(x, full_lengths(x, lengths), state[0], state[1], *weights)
    return out, (h, c)


def _run_gru(
    x: Tensor, lengths: Tensor | None, state: States, weights: tuple, options: StepOptions
) -> tuple[Tensor, States]:
    w_ih, w_hh, b_ih, b_hh, _ = weights
    out, h = gru_sequence(x, full_lengths(x, lengths), state[0], w_ih, w_hh, b_ih, b_hh)
    return out, (h,)


def _elman(nonlinearity: str) -> backends.RunFn:
    def run(
        x: Tensor, lengths: Tensor | None, state: States, weights: tuple, options: StepOptions
    ) -> tuple[Tensor, States]:
        w_ih, w_hh, b_ih, b_hh, _ = weights
        full = full_lengths(x, lengths)
        out, h = elman_sequence(x, full, state[0], w_ih, w_hh, b_ih, b_hh, nonlinearity)
        return out, (h,)

    return run


BACKEND = backends.register(
    Backend(
        name="fused",
        runs={
            "lstm": _run_lstm,
            "gru": _run_gru,
            "rnn_tanh": _elman("tanh"),
            "rnn_relu": _elman("relu"),
        },
        check=check,
        description="rnnkit's C++ kernels (rnnkit.fused): the time loop, gates and BPTT in C++",
    )
)
