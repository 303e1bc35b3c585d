"""``train.precision``: fp32, or mixed precision with ``torch.autocast``.

=========  ===========================================  ======================
value      what runs in lower precision                 devices
=========  ===========================================  ======================
``fp32``   nothing (the default)                        cpu, cuda
``bf16``   autocast's ops (matmuls, linear layers) in   cpu, cuda
           bfloat16; weights, gradients, optimizer
           state and the loss stay float32
``fp16``   the same in float16, with a gradient         cuda only
           scaler (float16 gradients underflow)
=========  ===========================================  ======================

Only the training step runs under autocast; its backward follows the forward's dtypes,
and evaluation stays in float32 so that metrics are comparable across runs. Within
:func:`mixed_precision` (the loop's training epochs):

- the recurrent layers (``torch.nn`` RNNs and cells, and every rnnkit layer family) run
  with autocast off, on float32 inputs and states: the state carried from step to step,
  and every kernel of every backend, accumulate in float32 (oneDNN's LSTM has no bfloat16
  primitive on many CPUs, and a bfloat16 state loses the small updates a long sequence
  adds up). What runs in lower precision is the rest: encoders, heads, attention;
- the model's outputs are cast back to float32, so the task's loss (log-softmax, means
  over tokens) is computed in float32.

Gradients reach the float32 parameters in float32 (autocast casts copies of them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from rnnkit.errors import RnnkitError

DTYPES: dict[str, torch.dtype | None] = {
    "fp32": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}
_LOW = (torch.bfloat16, torch.float16)


@dataclass
class Precision:
    """The training step's precision on one device.

    Attributes:
        name: ``fp32``, ``bf16`` or ``fp16``.
        device_type: ``cpu`` or ``cuda``.
        scaler: the gradient scaler (``fp16`` only), else None.
    """

    name: str = "fp32"
    device_type: str = "cpu"
    scaler: Any = None  # torch.amp.GradScaler

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The context of the training step (a no-op for fp32)."""
        dtype = DTYPES[self.name]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=dtype)


def make_precision(name: str, device: torch.device) -> Precision:
    """``train.precision`` on ``device``, refusing unknown values and fp16 without CUDA."""
    if name not in DTYPES:
        raise RnnkitError(f"train.precision: expected one of {', '.join(DTYPES)}, got {name!r}")
    if name == "fp16" and device.type != "cuda":
        raise RnnkitError(
            f"train.precision=fp16 needs a CUDA device (float16 autocast with a gradient "
            f"scaler); on {device.type} use train.precision=bf16 or fp32"
        )
    scaler = torch.amp.GradScaler("cuda") if name == "fp16" else None
    return Precision(name, device.type, scaler)


def to_fp32(value: Any) -> Any:
    """``value`` with every bfloat16 / float16 tensor in it cast to float32 (tuples,
    named tuples such as ``PackedSequence``, lists and dicts followed; other dtypes,
    float64 included, unchanged)."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.dtype in _LOW else value
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # PackedSequence, ...
        fields = {f: to_fp32(getattr(value, f)) for f in value._fields}
        return value._replace(**fields)  # type: ignore[attr-defined]
    if isinstance(value, (tuple, list)):
        return type(value)(to_fp32(v) for v in value)
    if isinstance(value, dict):
        return {k: to_fp32(v) for k, v in value.items()}
    return value


def recurrent_types() -> tuple[type[nn.Module], ...]:
    """The module classes that carry a recurrence (kept in float32 under autocast)."""
    from rnnkit.layers.base import RecurrentBase
    from rnnkit.layers.convlstm import ConvLSTM1d, ConvLSTM2d
    from rnnkit.layers.indrnn import IndRNN
    from rnnkit.layers.minrnn import MinGRU, MinLSTM
    from rnnkit.layers.recurrent import Recurrent

    families = (IndRNN, MinGRU, MinLSTM, ConvLSTM1d, ConvLSTM2d, Recurrent)
    return (nn.RNNBase, nn.RNNCellBase, RecurrentBase, *families)


def _is_recurrent(m: nn.Module, kinds: tuple[type[nn.Module], ...]) -> bool:
    return isinstance(m, kinds) or hasattr(m, "last_backend")


def _patch(m: nn.Module, wrap: Any, patched: list[tuple[nn.Module, Any]]) -> None:
    """Replace ``m.forward`` on the instance by ``wrap(forward)``, remembering the old."""
    patched.append((m, m.__dict__.get("forward")))
    m.forward = wrap(m.forward)


def _fp32_recurrence(forward: Any, device_type: str) -> Any:
    def run(*args: Any, **kwargs: Any) -> Any:
        if not torch.is_autocast_enabled(device_type):  # evaluation: unchanged
            return forward(*args, **kwargs)
        with torch.autocast(device_type, enabled=False):
            return forward(*to_fp32(args), **to_fp32(kwargs))

    return run


def _fp32_outputs(forward: Any) -> Any:
    def run(*args: Any, **kwargs: Any) -> Any:
        return to_fp32(forward(*args, **kwargs))

    return run


@contextlib.contextmanager
def mixed_precision(model: nn.Module, precision: Precision) -> Iterator[int]:
    """Within: ``model``'s recurrent layers (the outermost of each nest) run in float32
    with autocast off whenever autocast is on, and ``model``'s outputs are float32. Yields
    the number of recurrent layers kept in float32; on exit the model is as it was (its
    ``forward`` methods restored). A no-op for fp32."""
    if precision.name == "fp32":
        yield 0
        return
    kinds = recurrent_types()
    patched: list[tuple[nn.Module, Any]] = []
    inside: set[int] = set()  # modules under an already kept layer
    for m in model.modules():
        if id(m) in inside or not _is_recurrent(m, kinds):
            continue
        _patch(m, lambda f: _fp32_recurrence(f, precision.device_type), patched)
        inside.update(id(sub) for sub in m.modules())
    layers = len(patched)
    _patch(model, _fp32_outputs, patched)
    try:
        yield layers
    finally:
        for m, old in reversed(patched):
            if old is None:
                del m.__dict__["forward"]
            else:
                m.__dict__["forward"] = old


__all__ = ["DTYPES", "Precision", "make_precision", "mixed_precision", "to_fp32"]
