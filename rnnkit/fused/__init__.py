"""rnnkit's fused CPU kernels: a whole sequence of an LSTM, GRU or Elman layer in one op.

Each function runs one direction of one layer over a right-padded batch, with the same
arguments and results as its twin in :mod:`rnnkit.cells` (``lstm_sequence`` etc. with
``mode="reference"``/``"bptt"``), and is differentiable through a hand-written backward in
C++. The kernels are torch custom ops (``torch.ops.rnnkit_fused.*``), built ahead of time
by ``python3 -m rnnkit.fused.build`` (``scripts/setup.sh`` runs it); see ``docs/fused.md``.

Example:
    >>> import torch
    >>> from rnnkit import fused
    >>> if fused.available():
    ...     x = torch.randn(2, 5, 3)
    ...     lengths = torch.tensor([5, 2])
    ...     h0, c0 = torch.zeros(2, 4), torch.zeros(2, 4)
    ...     w_ih, w_hh, b = torch.randn(16, 3), torch.randn(16, 4), torch.zeros(16)
    ...     out, h_n, c_n = fused.lstm_sequence(x, lengths, h0, c0, w_ih, w_hh, b, b)
    ...     assert out.shape == (2, 5, 4) and bool((out[1, 2:] == 0).all())
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor

from rnnkit.fused._ops import (
    DISABLE_ENV,
    FusedUnavailableError,
    available,
    ensure_available,
    unavailable_reason,
)

__all__ = [
    "DISABLE_ENV",
    "FusedUnavailableError",
    "available",
    "elman_sequence",
    "ensure_available",
    "gru_sequence",
    "lstm_sequence",
    "unavailable_reason",
]


def _prepare(name: str, x: Tensor, lengths: Tensor, tensors: tuple[Tensor | None, ...]):  # noqa: ANN202
    """Checks shared by the wrappers; returns (lengths on the CPU as int64, tensors, save,
    autocast) where tensors are cast to float32 under autocast."""
    ensure_available()
    for t in (x, *tensors):
        if t is not None and t.device.type != "cpu":
            raise ValueError(
                f"rnnkit.fused.{name}: the fused kernels run on the CPU, got a tensor on "
                f"{t.device} (use backend='native' for GPU tensors)"
            )
    lengths = lengths.to(device="cpu", dtype=torch.int64).contiguous()
    autocast = torch.is_autocast_enabled("cpu")
    if autocast:  # computed in float32, as the bptt functions do under autocast
        x = x.float()
        tensors = tuple(t.float() if t is not None else None for t in tensors)
    save = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, *tensors)
    )
    return x, lengths, tensors, save, autocast


def lstm_sequence(
    x: Tensor,
    lengths: Tensor,
    h0: Tensor,
    c0: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    w_hr: Tensor | None = None,
    rec_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """The LSTM cell over right-padded sequences, fused (as :func:`rnnkit.cells.lstm_sequence`).

    Args:
        x: ``(B, T, I)`` inputs, batch first, float32 or float64, on the CPU.
        lengths: ``(B,)`` integers in ``[1, T]``; step ``t`` of sequence ``b`` is real when
            ``t < lengths[b]``, and padded steps hold the state.
        h0: ``(B, H_out)``; c0: ``(B, H)`` initial states.
        w_ih, w_hh, b_ih, b_hh, w_hr: torch.nn.LSTM's parameters of one layer and direction:
            ``(4H, I)``, ``(4H, H_out)``, ``(4H,)`` or None, ``(4H,)`` or None, ``(H_out, H)``
            or None (``H_out = H`` without projection).
        rec_mask: ``(B, H_out)`` or None: recurrent (variational) dropout, ``h_{t-1} * rec_mask``
            feeds ``W_hh`` at every step (as ``rnnkit.cells.extended``); not differentiated.

    Returns:
        ``out (B, T, H_out)`` zero at padded steps, ``h_n (B, H_out)``, ``c_n (B, H)``.

    Raises:
        FusedUnavailableError: the library is not built (or was built for another torch).
        ValueError: a tensor is not on the CPU.
    """
    x, lengths, ts, save, autocast = _prepare(
        "lstm_sequence", x, lengths, (h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, rec_mask)
    )
    with torch.autocast("cpu", enabled=False) if autocast else contextlib.nullcontext():
        out, h_n, c_n, *_ = torch.ops.rnnkit_fused.lstm_forward(x, lengths, *ts, save)
    return out, h_n, c_n


def gru_sequence(
    x: Tensor,
    lengths: Tensor,
    h0: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """The GRU cell over right-padded sequences, fused (as :func:`rnnkit.cells.gru_sequence`).

    torch.nn.GRU's reset semantics: ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``.

    Args:
        x: ``(B, T, I)``; lengths: ``(B,)`` in ``[1, T]``; h0: ``(B, H)``.
        w_ih, w_hh, b_ih, b_hh: ``(3H, I)``, ``(3H, H)``, ``(3H,)`` or None each.

    Returns:
        ``out (B, T, H)`` zero at padded steps, and ``h_n (B, H)``.
    """
    x, lengths, ts, save, autocast = _prepare(
        "gru_sequence", x, lengths, (h0, w_ih, w_hh, b_ih, b_hh)
    )
    with torch.autocast("cpu", enabled=False) if autocast else contextlib.nullcontext():
        out, h_n, *_ = torch.ops.rnnkit_fused.gru_forward(x, lengths, *ts, save)
    return out, h_n


def elman_sequence(
    x: Tensor,
    lengths: Tensor,
    h0: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    nonlinearity: str = "tanh",
    rec_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The Elman cell over right-padded sequences, fused (as :func:`rnnkit.cells.elman_sequence`).

    Args:
        x: ``(B, T, I)``; lengths: ``(B,)`` in ``[1, T]``; h0: ``(B, H)``.
        w_ih, w_hh, b_ih, b_hh: ``(H, I)``, ``(H, H)``, ``(H,)`` or None each.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        rec_mask: ``(B, H)`` or None: recurrent dropout, as for :func:`lstm_sequence`.

    Returns:
        ``out (B, T, H)`` zero at padded steps, and ``h_n (B, H)``.
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    x, lengths, ts, save, autocast = _prepare(
        "elman_sequence", x, lengths, (h0, w_ih, w_hh, b_ih, b_hh, rec_mask)
    )
    relu = nonlinearity == "relu"
    with torch.autocast("cpu", enabled=False) if autocast else contextlib.nullcontext():
        out, h_n, _ = torch.ops.rnnkit_fused.elman_forward(x, lengths, *ts, relu, save)
    return out, h_n

