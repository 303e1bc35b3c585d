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
# The cell options each family's kernel applies. weight_drop needs nothing of the kernel
# (the layer hands it the DropConnect-masked W_hh); recurrent_dropout is the rec_mask input.
SUPPORTED_OPTIONS = {
    "lstm": frozenset({"weight_drop", "recurrent_dropout"}),
    "gru": frozenset({"weight_drop"}),
    "rnn_tanh": frozenset({"weight_drop", "recurrent_dropout"}),
    "rnn_relu": frozenset({"weight_drop", "recurrent_dropout"}),
}


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
    missing = request.options - SUPPORTED_OPTIONS[request.family]
    if missing:
        return f"no fused kernel for {', '.join(sorted(missing))} yet"
    if request.dtype not in (torch.float32, torch.float64) and not torch.is_autocast_enabled(
        "cpu"
    ):
        return f"the fused kernels take float32 or float64, got {request.dtype}"
    return None


def _rec_mask(options: StepOptions, family: str) -> Tensor | None:
    """The recurrent dropout mask; refuse option tensors the kernel does not apply."""
    rest = StepOptions(**{**options.as_kwargs(), "rec_mask": None})
    if rest.any or (options.rec_mask is not None and "recurrent_dropout" not in
                    SUPPORTED_OPTIONS[family]):  # fmt: skip
        raise ValueError(f"the fused {family} kernel cannot apply these options: {options}")
    return options.rec_mask


def _run_lstm(
    x: Tensor, lengths: Tensor | None, state: States, weights: tuple, options: StepOptions
) -> tuple[Tensor, States]:
    full = full_lengths(x, lengths)
    rec_mask = _rec_mask(options, "lstm")
    w_ih, w_hh, b_ih, b_hh, w_hr = weights  # the lstm layout of rnnkit.layers.backends
    out, h, c = lstm_sequence(
        x, full, state[0], state[1], w_ih, w_hh, b_ih, b_hh, w_hr, rec_mask=rec_mask
    )
    return out, (h, c)


def _run_gru(
    x: Tensor, lengths: Tensor | None, state: States, weights: tuple, options: StepOptions
) -> tuple[Tensor, States]:
    w_ih, w_hh, b_ih, b_hh, _ = weights
    _rec_mask(options, "gru")
    out, h = gru_sequence(x, full_lengths(x, lengths), state[0], w_ih, w_hh, b_ih, b_hh)
    return out, (h,)


def _elman(nonlinearity: str) -> backends.RunFn:
    def run(
        x: Tensor, lengths: Tensor | None, state: States, weights: tuple, options: StepOptions
    ) -> tuple[Tensor, States]:
        w_ih, w_hh, b_ih, b_hh, _ = weights
        full = full_lengths(x, lengths)
        rec_mask = _rec_mask(options, f"rnn_{nonlinearity}")
        out, h = elman_sequence(
            x, full, state[0], w_ih, w_hh, b_ih, b_hh, nonlinearity, rec_mask=rec_mask
        )
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
