"""The recurrent stack as ONNX: ``(x (T, B, I), lengths) -> (out (T, B, D*H), last (B, D*H))``.

Elman RNN, LSTM and GRU map onto ONNX's own ``RNN`` / ``LSTM`` / ``GRU`` operators, which
take ``sequence_lens`` and run the reverse direction from each sequence's own last real
step: exactly the packed semantics of ``rnnkit.LSTM(..., lengths=...)``. What differs from
torch is only the layout of the weights:

* gate order: torch stacks LSTM gates i, f, g, o and GRU gates r, z, n; ONNX wants LSTM
  i, o, f, c and GRU z, r, h, so the blocks are reordered;
* GRU reset gate: torch applies ``r`` after the recurrent matmul,
  ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, which is ONNX's
  ``linear_before_reset=1`` (the ONNX default 0 computes ``W_hn (r * h)``, a different
  model);
* biases: ONNX takes ``[b_ih, b_hh]`` concatenated, one row per direction.

Layers are chained one operator per layer (both directions inside it). Dropout between
layers is a training-time operation and is absent from the exported graph.

Under :func:`for_int8` (``rnnkit export --int8``) GRU and Elman stacks are written as
``Scan`` loops of MatMuls instead (:mod:`rnnkit.deploy.scan`): ONNX Runtime quantises the
weights of MatMul and of its LSTM operator, but has no int8 kernel for GRU or RNN, whose
weights would stay float32. The Scan graph computes the same function.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol, cast

import torch
from torch import nn

from rnnkit.deploy._graph import Graph
from rnnkit.errors import RnnkitError

# torch block -> position, per ONNX gate order
_GATE_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN_TANH": [0], "RNN_RELU": [0]}
_OP = {"LSTM": "LSTM", "GRU": "GRU", "RNN_TANH": "RNN", "RNN_RELU": "RNN"}
# eval-time options that change the cell's math (dropouts are training-only)
_EVAL_OPTIONS = ("layer_norm", "peephole", "zoneout")
# written as Scan loops of MatMuls for int8: ONNX Runtime has no int8 GRU or RNN kernel
_INT8_AS_SCAN = ("GRU", "RNN_TANH", "RNN_RELU")
_for_int8: ContextVar[bool] = ContextVar("rnnkit_onnx_for_int8", default=False)


@contextmanager
def for_int8() -> Iterator[None]:
    """Within this block, :func:`write_stack` writes GRU and Elman stacks as ``Scan`` loops
    whose MatMuls ONNX Runtime's dynamic quantisation turns into int8 (its ``GRU`` / ``RNN``
    operators have no int8 kernel and would keep float32 weights)."""
    token = _for_int8.set(True)
    try:
        yield
    finally:
        _for_int8.reset(token)


class StackLike(Protocol):
    """The hyper-parameters the writers read of a recurrent stack: rnnkit's layers and
    torch.nn's ``RNN`` / ``LSTM`` / ``GRU`` carry them under the same names."""

    hidden_size: int
    num_layers: int
    bidirectional: bool


def stack_view(stack: nn.Module) -> StackLike:
    """``stack`` typed as :class:`StackLike` (``nn.Module`` types its attributes as
    ``Tensor | Module``); nothing is checked or copied."""
    return cast(StackLike, stack)


def supported(stack: nn.Module) -> str | None:
    """None when :func:`write_stack` can export ``stack``, else why not (one line)."""
    mode = getattr(stack, "mode", None)
    if mode not in _OP or not hasattr(stack, "weight_ih_l0"):
        return f"{type(stack).__name__} has no ONNX writer yet (exported: RNN, LSTM, GRU)"
    if getattr(stack, "proj_size", 0):
        return "LSTM with proj_size > 0 is not exported yet (ONNX's LSTM has no projection)"
    on = [name for name in _EVAL_OPTIONS if getattr(stack, name, False)]
    if on:
        return f"{type(stack).__name__} with {', '.join(on)} is not exported yet"
    if not getattr(stack, "batch_first", True):
        return "the stack must be batch_first (as rnnkit's models build it)"
    return None


def _reorder(weight: torch.Tensor, mode: str, hidden: int) -> torch.Tensor:
    """Torch's stacked gate blocks ``(G*H, ...)`` in ONNX's gate order."""
    blocks = weight.detach().split(hidden, dim=0)
    return torch.cat([blocks[i] for i in _GATE_ORDER[mode]], dim=0)


def _layout(stack: nn.Module) -> tuple[str, int, int, int]:
    """``(mode, H, L, D)`` of a torch-layout stack: its mode (``"LSTM"`` ...), hidden size,
    layers and directions."""
    s = stack_view(stack)
    return getattr(stack, "mode", ""), s.hidden_size, s.num_layers, 2 if s.bidirectional else 1


def _layer_weights(stack: nn.Module, layer: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``W (D, G*H, I)``, ``R (D, G*H, H)``, ``B (D, 2*G*H)`` of one layer, ONNX layout."""
    mode, H, _, D = _layout(stack)
    Ws, Rs, Bs = [], [], []
    for direction in range(D):
        sfx = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        w_ih = getattr(stack, f"weight_ih{sfx}")  # (G*H, I)
        w_hh = getattr(stack, f"weight_hh{sfx}")  # (G*H, H)
        Ws.append(_reorder(w_ih, mode, H))
        Rs.append(_reorder(w_hh, mode, H))
        if getattr(stack, f"bias_ih{sfx}", None) is None:
            Bs.append(torch.zeros(2 * w_ih.shape[0], dtype=w_ih.dtype))
        else:
            b_ih, b_hh = getattr(stack, f"bias_ih{sfx}"), getattr(stack, f"bias_hh{sfx}")
            Bs.append(torch.cat([_reorder(b_ih, mode, H), _reorder(b_hh, mode, H)]))
    return torch.stack(Ws).float(), torch.stack(Rs).float(), torch.stack(Bs).float()


def time_mask(g: Graph, time_major: str, lengths: str) -> str:
    """``mask (T, B)`` bool, True at real steps, for a time-major value ``(T, B, ...)``."""
    T = g.op("Gather", g.op("Shape", time_major), g.ints("zero", [0]), hint="T")  # (1,)
    T = g.op("Squeeze", T, g.ints("axis0", [0]), hint="T")  # scalar
    one, zero = g.const("one_i64", 1), g.const("zero_i64", 0)
    steps = g.op("Range", zero, T, one, hint="steps")  # (T,)
    steps = g.op("Unsqueeze", steps, g.ints("axis1", [1]), hint="steps")  # (T, 1)
    lens = g.op("Unsqueeze", lengths, g.ints("axis0", [0]), hint="lens")  # (1, B)
    return g.op("Less", steps, lens, hint="mask")  # (T, B)


def slot(g: Graph, state: str, start: int, stop: int) -> str:
    """Rows ``start:stop`` of a stacked state ``(L*D, B, H)``."""
    return g.op("Slice", state, g.ints("start", [start]), g.ints("stop", [stop]),
                g.ints("axis0", [0]), hint="slot")  # fmt: skip


def write_stack(
    g: Graph, stack: nn.Module, x: str, lengths: str, initial: list[str] | None = None
) -> tuple[str, str, list[str]]:
    """Append the recurrent ``stack`` (rnnkit's or torch.nn's layers) to ``g``.

    RNN / LSTM / GRU without eval-time options become ONNX's own operators; the other
    families and options become ``Scan`` loops (:mod:`rnnkit.deploy.scan`), and so do GRU
    and RNN stacks inside :func:`for_int8`.

    Args:
        g: the graph under construction.
        stack: the recurrent module, in eval mode semantics (no dropout).
        x: the name of a time-major input ``(T, B, I)`` float32.
        lengths: the name of the real lengths ``(B,)`` int64, in ``[1, T]``.
        initial: the initial states in torch's layout, ``[h_0]`` or ``[h_0, c_0]`` (LSTM),
            each ``(L*D, B, size)``; None for zeros.

    Returns:
        ``out`` ``(T, B, D*H)`` (zero at padded steps) and ``last`` ``(B, D*H)``: the
        forward direction's state at each sequence's last real step, and the reverse
        direction's at step 0 (as ``h_n`` of the top layer, directions side by side);
        and the final states in torch's layout, ``[h_n]`` or ``[h_n, c_n]``.
    """
    as_scan = _for_int8.get() and getattr(stack, "mode", None) in _INT8_AS_SCAN
    if as_scan or supported(stack) is not None:
        from rnnkit.deploy.scan import scan_supported, write_scan_stack

        reason = scan_supported(stack)
        if reason:
            raise RnnkitError(reason)
        mask = g.op("Cast", time_mask(g, x, lengths), to=g.onnx.TensorProto.FLOAT)
        mask = g.op("Unsqueeze", mask, g.ints("axis2", [2]), hint="mask_f")  # (T, B, 1)
        return write_scan_stack(g, stack, x, lengths, mask, initial)
    lengths32 = g.op("Cast", lengths, to=g.onnx.TensorProto.INT32, hint="lengths32")
    mode, H, num_layers, D = _layout(stack)
    attrs: dict = {"hidden_size": H, "direction": "bidirectional" if D == 2 else "forward"}
    if mode == "GRU":
        attrs["linear_before_reset"] = 1  # torch's reset gate (see the module docstring)
    if mode in ("RNN_TANH", "RNN_RELU"):
        attrs["activations"] = ["Tanh" if mode == "RNN_TANH" else "Relu"] * D
    flat = g.ints("flat_shape", [0, 0, -1])
    n_states = 2 if mode == "LSTM" else 1
    finals: list[list[str]] = [[] for _ in range(n_states)]  # per state, per layer (D, B, H)
    for layer in range(num_layers):
        W, R, B = _layer_weights(stack, layer)
        hint = f"{_OP[mode].lower()}_l{layer}"
        init = [slot(g, s, layer * D, (layer + 1) * D) for s in initial] if initial else []
        y, *states = g.op(
            _OP[mode],
            x,
            g.const(f"{hint}.W", W),
            g.const(f"{hint}.R", R),
            g.const(f"{hint}.B", B),
            lengths32,
            *init,
            outputs=1 + n_states,
            hint=hint,
            **attrs,
        )  # y (T, D, B, H), h_n (D, B, H) [, c_n (D, B, H)]
        for j, state in enumerate(states):
            finals[j].append(state)
        y = g.op("Transpose", y, perm=[0, 2, 1, 3], hint=f"{hint}.y")  # (T, B, D, H)
        x = g.op("Reshape", y, flat, hint=f"{hint}.out")  # (T, B, D*H)
    last = g.op("Transpose", finals[0][-1], perm=[1, 0, 2], hint="top_state")  # (B, D, H)
    last = g.op("Reshape", last, g.ints("last_shape", [0, -1]), hint="last")  # (B, D*H)
    stacked = [f[0] if len(f) == 1 else g.op("Concat", *f, axis=0, hint="state") for f in finals]
    return x, last, stacked
