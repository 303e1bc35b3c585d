"""Argument checks of the recurrent layers, in one place.

Every check raises ``ValueError`` (wrong value) or ``TypeError`` (wrong kind of object) with
one message that names the argument, the value it got and what was expected, before any
matrix product can fail with a stack trace from deep inside.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

NONLINEARITIES = ("tanh", "relu")


# ----------------------------------------------------------------------------- constructor


def check_int(name: str, value: object, *, minimum: int) -> int:
    """``value`` as an int ``>= minimum``; bools and floats are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_bool(name: str, value: object) -> bool:
    """``value`` as a bool (Python or numpy bool, or the ints 0 and 1 as torch.nn allows)."""
    if isinstance(value, bool | numbers.Integral) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{name} must be a bool, got {value!r} ({type(value).__name__})")


def check_probability(name: str, value: object) -> float:
    """``value`` as a float in [0, 1) (``dropout`` and the cell options' probabilities)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float in [0, 1), got {value!r}")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be a float in [0, 1), got {value}")
    return float(value)


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        expected = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {expected}, got {value!r}")
    return value


def check_proj_size(proj_size: object, hidden_size: int) -> int:
    """``proj_size`` as an int in [0, hidden_size)."""
    proj_size = check_int("proj_size", proj_size, minimum=0)
    if proj_size >= hidden_size:
        raise ValueError(
            f"proj_size must be smaller than hidden_size ({hidden_size}), got {proj_size}"
        )
    return proj_size


# ----------------------------------------------------------------------------- forward


def check_input(
    name: str, x: object, input_size: int, weight: Tensor, *, packed: bool = False
) -> Tensor:
    """The layer input: a floating tensor ``(T, I)`` or ``(B, T, I)`` / ``(T, B, I)``, or
    with ``packed`` the data ``(N, I)`` of a PackedSequence.

    ``weight`` is any parameter of the layer; the input must share its dtype and device.
    """
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{name}: input must be a torch.Tensor or a PackedSequence, got {type(x).__name__}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{name}: input must be a floating-point tensor, got dtype {x.dtype}")
    if packed and x.dim() != 2:
        raise ValueError(
            f"{name}: a PackedSequence's data must be 2-D (N, input_size), got {x.dim()}-D"
        )
    if x.dim() not in (2, 3):
        raise ValueError(
            f"{name}: input must be 2-D (T, input_size) or 3-D (batch and time, input_size), "
            f"got {x.dim()}-D with shape {tuple(x.shape)}"
        )
    if x.shape[-1] != input_size:
        raise ValueError(
            f"{name}: input.size(-1) must equal input_size={input_size}, "
            f"got {x.shape[-1]} (input shape {tuple(x.shape)})"
        )
    check_like_weight(name, "input", x, weight)
    return x


def check_like_weight(name: str, arg: str, x: Tensor, weight: Tensor) -> None:
    """``x`` must have the dtype and device of the layer's parameters (any float dtype
    under autocast, which casts them)."""
    if x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):
        raise TypeError(
            f"{name}: {arg} has dtype {x.dtype} but the layer's parameters are {weight.dtype}; "
            f"cast one of them (e.g. layer.to({x.dtype}))"
        )
    if x.device != weight.device:
        raise ValueError(
            f"{name}: {arg} is on {x.device} but the layer's parameters are on {weight.device}"
        )


def check_lengths(
    name: str, lengths: object, batch: int, steps: int, device: torch.device | None = None
) -> tuple[Tensor, int, int]:
    """``lengths``: ``(B,)`` values in ``[1, T]``, given as a tensor of any integer dtype or
    a list / tuple / numpy array of ints (as ``pack_padded_sequence`` takes them); the same
    forms, rule and message for every layer family.

    Returns:
        ``(lengths, min, max)``: ``lengths`` as an int64 tensor, moved to ``device`` if
        given; the bounds are read once (one device sync) and reused. Under
        ``torch.export`` and ``torch.compile`` the values are symbolic: the program checks
        them when it runs (an assertion in its graph, no graph break), and the bounds
        returned are ``(1, T)``, what the check guarantees (the caller keeps ``lengths``
        then, see :func:`symbolic`).
    """
    expected = f"a tensor or a list of {batch} ints, shape ({batch},)"
    if not isinstance(lengths, Tensor):
        lengths = _lengths_tensor(name, lengths, expected)
    if lengths.dtype == torch.bool or lengths.is_floating_point() or lengths.is_complex():
        raise TypeError(
            f"{name}: lengths must hold integers ({expected}), got dtype {lengths.dtype}"
        )
    if tuple(lengths.shape) != (batch,):
        raise ValueError(
            f"{name}: lengths must have shape ({batch},), one length per sequence of the batch, "
            f"got {tuple(lengths.shape)}"
        )
    if lengths.dtype != torch.int64:
        lengths = lengths.to(torch.int64)
    if device is not None:
        lengths = lengths.to(device)
    if batch == 0:
        return lengths, steps, steps
    if symbolic():
        inside = ((lengths >= 1) & (lengths <= steps)).all()
        torch._assert_async(inside, f"{name}: every length must lie in [1, T]")
        return lengths, 1, steps
    lo, hi = (int(v) for v in torch.aminmax(lengths))
    if lo < 1:
        raise ValueError(
            f"{name}: every length must be >= 1, got a length of {lo} (lengths lie in [1, {steps}])"
        )
    if hi > steps:
        raise ValueError(
            f"{name}: lengths must not exceed the sequence length T={steps}, got a length of "
            f"{hi} (lengths lie in [1, {steps}])"
        )
    return lengths, lo, hi


def _lengths_tensor(name: str, lengths: object, expected: str) -> Tensor:
    """A list, tuple or numpy array of ints as an int64 tensor; anything else refused."""
    if isinstance(lengths, list | tuple):
        bad = [v for v in lengths if isinstance(v, bool) or not isinstance(v, numbers.Integral)]
        if bad:
            raise TypeError(f"{name}: lengths must hold ints ({expected}), got {bad[0]!r} in it")
        return torch.tensor([int(v) for v in lengths], dtype=torch.int64).reshape(len(lengths))
    if isinstance(lengths, np.ndarray):
        if lengths.dtype.kind not in ("i", "u"):
            raise TypeError(
                f"{name}: lengths must hold integers ({expected}), got a numpy array of "
                f"dtype {lengths.dtype}"
            )
        return torch.as_tensor(lengths).to(torch.int64)
    raise TypeError(f"{name}: lengths must be {expected}, got {type(lengths).__name__}")


def padded_lengths(
    name: str, lengths: object, batch: int, steps: int, device: torch.device
) -> Tensor | None:
    """:func:`check_lengths` for a layer's forward: ``lengths`` on ``device``, or None when
    it is None or pads nothing (every length equals ``T``)."""
    if lengths is None:
        return None
    lengths, shortest, _ = check_lengths(name, lengths, batch, steps, device)
    return None if not symbolic() and shortest == steps else lengths


def exporting() -> bool:
    """Whether ``torch.export`` is tracing the call."""
    return bool(torch.compiler.is_exporting())


def symbolic() -> bool:
    """Whether ``torch.export`` or ``torch.compile`` is tracing the call: ``lengths`` are
    then kept even where they might pad nothing (their values are not known while
    tracing, and reading them would break the graph: ``fullgraph=True`` refuses that)."""
    return bool(torch.compiler.is_exporting() or torch.compiler.is_compiling())


def check_state(
    name: str, arg: str, state: object, expected: tuple[int, ...], weight: Tensor
) -> Tensor:
    """One initial state tensor of exactly shape ``expected``."""
    if not isinstance(state, Tensor):
        raise TypeError(f"{name}: {arg} must be a torch.Tensor, got {type(state).__name__}")
    if tuple(state.shape) != expected:
        raise ValueError(f"{name}: {arg} must have shape {expected}, got {tuple(state.shape)}")
    check_like_weight(name, arg, state, weight)
    return state


def check_rank(name: str, x: object, rank: int, layout: str) -> Tensor:
    """A floating-point tensor of exactly ``rank`` dimensions (``layout`` names them)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} expects a tensor input, got {type(x).__name__}")
    if x.dim() != rank:
        raise ValueError(f"{name} expects a {rank}-D input {layout}, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} expects a floating-point input, got dtype {x.dtype}")
    return x


def check_hx(name: str, hx: object, shape: tuple[int, ...], like: Tensor) -> Tensor:
    """``hx`` of exactly ``shape`` in the dtype of ``like`` (zeros like ``like`` when None)."""
    if hx is None:
        return like.new_zeros(shape)
    if not isinstance(hx, Tensor) or tuple(hx.shape) != tuple(shape):
        got = tuple(hx.shape) if isinstance(hx, Tensor) else type(hx).__name__
        raise ValueError(f"{name} expects hx of shape {tuple(shape)}, got {got}")
    return hx.to(like.dtype)
