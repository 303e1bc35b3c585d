"""Record what the recurrent layers of a model compute, step by step, for interpretability.

Usage::

    with rnnkit.trace(model) as tr:
        model(x)
    rec = tr["encoder.rnn"]                 # the latest call of that layer
    rec.layers[(0, 0)].gates["f"]           # (B, T, H) forget gate, layer 0, forward
    rec.layers[(1, 1)].h                    # (B, T, H_out) layer 1, reverse direction

While the context is active, every traceable layer inside ``model`` (rnnkit's ``RNN``,
``LSTM``, ``GRU``, and any module with ``_rnnkit_traceable = True`` that calls
:func:`record`) stores, per layer and direction, the hidden states ``h``, the cell states
``c`` (LSTM) and the gate activations, all ``(B, T, ...)`` batch first, zero at padded
steps, detached. Results are unchanged: the layer runs on the backend it would have chosen,
one layer at a time so that each layer's outputs are visible, and the gates are recomputed
after the fact from the layer's inputs and hidden states (exact, vectorised over time).

A layer family that wants to be traced sets ``_rnnkit_traceable = True`` and, when
:func:`is_traced` says so, calls :func:`record` once per layer and direction of each call.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from torch import Tensor, nn

__all__ = ["DirectionTrace", "CallTrace", "Trace", "trace", "record", "is_traced"]

_ACTIVE: list[Trace] = []  # the traces whose context is open, innermost last


@dataclass
class DirectionTrace:
    """One direction of one layer in one call. Every tensor is ``(B, T, ...)``, zero at padding.

    Attributes:
        h: ``(B, T, H_out)`` hidden state after each step (the layer's output for this direction).
        c: ``(B, T, H)`` cell state after each step (LSTM), else None.
        gates: name -> ``(B, T, H)``: LSTM ``i, f, g, o``; GRU ``r, z, n``; Elman ``pre`` (the
            pre-activation ``W_ih x_t + b_ih + W_hh h_{t-1} + b_hh``).
        lengths: ``(B,)`` int64, or None when every sequence is full.
    """

    h: Tensor
    c: Tensor | None = None
    gates: dict[str, Tensor] = field(default_factory=dict)
    lengths: Tensor | None = None


@dataclass
class CallTrace:
    """One forward call of one traced module.

    Attributes:
        module: the traced module.
        layers: ``(layer, direction) -> DirectionTrace``; direction 0 is forward, 1 reverse.
    """

    module: nn.Module
    layers: dict[tuple[int, int], DirectionTrace] = field(default_factory=dict)


class Trace:
    """Context manager collecting :class:`CallTrace` records of the layers inside a module.

    Index it by the submodule's qualified name (as in ``model.named_modules()``; ``""`` is
    ``module`` itself) or by the submodule object: ``tr["encoder.rnn"]`` is the latest call,
    ``tr.calls("encoder.rnn")`` every call in order.
    """

    def __init__(self, module: nn.Module) -> None:
        if not isinstance(module, nn.Module):
            raise TypeError(f"trace(module): module must be a torch.nn.Module, got {module!r}")
        self._names: dict[nn.Module, str] = {
            sub: name
            for name, sub in module.named_modules()
            if getattr(sub, "_rnnkit_traceable", False)
        }
        self._calls: dict[nn.Module, list[CallTrace]] = {sub: [] for sub in self._names}

    def __enter__(self) -> Trace:
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.remove(self)

    def names(self) -> list[str]:
        """Qualified names of the traceable layers inside the module."""
        return list(self._names.values())

    def calls(self, key: str | nn.Module) -> list[CallTrace]:
        """Every recorded call of one layer, oldest first."""
        return self._calls[self._module(key)]

    def __getitem__(self, key: str | nn.Module) -> CallTrace:
        calls = self.calls(key)
        if not calls:
            raise KeyError(f"layer {self._names[self._module(key)]!r} was not called in the trace")
        return calls[-1]

    def __contains__(self, key: object) -> bool:
        try:
            return bool(self.calls(key))  # type: ignore[arg-type]
        except KeyError:
            return False

    def __iter__(self) -> Iterator[str]:
        return (self._names[m] for m, calls in self._calls.items() if calls)

    def _module(self, key: str | nn.Module) -> nn.Module:
        if isinstance(key, nn.Module):
            if key not in self._names:
                raise KeyError(f"{type(key).__name__} is not a traceable layer of this module")
            return key
        for module, name in self._names.items():
            if name == key:
                return module
        raise KeyError(f"no traceable layer named {key!r}; the traced layers are {self.names()}")

    def _record(self, module: nn.Module, key: tuple[int, int], entry: DirectionTrace) -> None:
        calls = self._calls[module]
        if not calls or key in calls[-1].layers:  # a (layer, direction) seen again: a new call
            calls.append(CallTrace(module))
        calls[-1].layers[key] = entry


def trace(module: nn.Module) -> Trace:
    """Trace the recurrent layers inside ``module`` while the returned context is open.

    Example::

        >>> lstm = rnnkit.LSTM(8, 16, num_layers=2)
        >>> with rnnkit.trace(lstm) as tr:
        ...     out, (h_n, c_n) = lstm(torch.randn(5, 3, 8))
        >>> tr[""].layers[(1, 0)].gates["f"].shape   # batch first
        torch.Size([3, 5, 16])
    """
    return Trace(module)


def is_traced(module: nn.Module) -> bool:
    """Whether an open :class:`Trace` wants records from ``module``."""
    return any(module in t._names for t in _ACTIVE)


def record(
    module: nn.Module,
    layer: int,
    direction: int,
    *,
    h: Tensor,
    c: Tensor | None = None,
    gates: dict[str, Tensor] | None = None,
    lengths: Tensor | None = None,
) -> None:
    """Hand one layer-direction's per-step values to every open trace that covers ``module``.

    Args:
        module: the recurrent layer (the module the user sees, e.g. an ``rnnkit.LSTM``).
        layer: layer index, from 0.
        direction: 0 forward, 1 reverse.
        h: ``(B, T, H_out)`` hidden states, batch first, zero at padded steps.
        c: ``(B, T, H)`` cell states, if the family has them.
        gates: name -> ``(B, T, H)`` gate activations.
        lengths: ``(B,)`` int64, or None when no sequence is padded.

    Tensors are stored detached. Recording the same ``(layer, direction)`` twice starts a new
    call in the trace.
    """
    entry = DirectionTrace(
        h=h.detach(),
        c=None if c is None else c.detach(),
        gates={k: v.detach() for k, v in (gates or {}).items()},
        lengths=lengths,
    )
    for t in _ACTIVE:
        if module in t._names:
            t._record(module, (layer, direction), entry)
