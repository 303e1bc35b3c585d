"""Per-step hidden states, cell states and gates of one input, from :func:`rnnkit.trace`.

:func:`traced_states` runs a model once on a single sequence inside ``rnnkit.trace`` and
returns, for every rnnkit recurrent layer, layer index and direction, the traced
quantities cut to the sequence's real length, as ``(T, H)`` tensors ready to plot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

DIRECTIONS = ("forward", "reverse")


@dataclass
class StateView:
    """The traced values of one layer and direction for one sequence.

    Attributes:
        module: the qualified name of the recurrent module in the model (e.g. ``recurrent``).
        layer: the layer index inside that module, from 0.
        direction: 0 forward, 1 reverse.
        states: name -> ``(T, H)``: ``h``, ``c`` (LSTM), then the gates (``i f g o`` for
            LSTM, ``r z n`` for GRU, ``pre`` for Elman), in that order.
    """

    module: str
    layer: int
    direction: int
    states: dict[str, torch.Tensor]

    @property
    def title(self) -> str:
        """e.g. ``recurrent: layer 0, forward``."""
        where = f"{self.module}: " if self.module else ""
        return f"{where}layer {self.layer}, {DIRECTIONS[self.direction]}"

    @property
    def slug(self) -> str:
        """A file-name-safe name, e.g. ``recurrent_layer0_forward``."""
        base = self.module.replace(".", "_") or "rnn"
        return f"{base}_layer{self.layer}_{DIRECTIONS[self.direction]}"


def traced_states(model: nn.Module, run: Callable[[], object], length: int) -> list[StateView]:
    """Run ``run()`` (one forward pass of ``model`` on one sequence) inside ``rnnkit.trace``.

    Args:
        model: the model whose rnnkit recurrent layers are traced.
        run: calls the model on a batch of ONE sequence (batch index 0 is read).
        length: the sequence's real length T; traced values are cut to ``[:T]``.

    Returns:
        One :class:`StateView` per traced (module, layer, direction), in model order; empty
        when the model has no rnnkit recurrent layer (e.g. plain ``torch.nn.LSTM``).
    """
    from rnnkit.layers.trace import trace

    views: list[StateView] = []
    with torch.no_grad(), trace(model) as tr:
        run()
    for name in tr:
        call = tr[name]
        for (layer, direction), rec in sorted(call.layers.items()):
            states = {"h": rec.h[0, :length].float().cpu()}  # (T, H_out)
            if rec.c is not None:
                states["c"] = rec.c[0, :length].float().cpu()  # (T, H)
            for gate, value in rec.gates.items():
                states[gate] = value[0, :length].float().cpu()  # (T, H)
            views.append(StateView(name, layer, direction, states))
    return views
