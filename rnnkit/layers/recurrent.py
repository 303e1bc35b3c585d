"""``Recurrent(cell)``: any one-step module becomes a sequence layer.

A cell is a module called as ``cell(x_t, state) -> (y_t, state)``: ``x_t`` is ``(B, ...)``,
``state`` a tensor or a tuple of tensors with batch first, ``y_t`` a tensor ``(B, ...)``.
:class:`Recurrent` hands time, direction, ``lengths`` and layers to the runner
(:mod:`rnnkit.layers.runner`, as Flax's ``nn.RNN`` owns them):
at padded steps the state is held and the output is zero, a reversed direction reads each
sequence backwards *within its own length*, and layers are stacked by calling a factory.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from rnnkit.cells.padded import full_lengths, hold, map_state, step_mask
from rnnkit.layers import _checks, runner

State = Any  # a tensor, or a tuple/list of tensors, batch first

__all__ = ["Recurrent"]


def _batch_size(state: State) -> int:
    leaf = state
    while not isinstance(leaf, torch.Tensor):
        leaf = leaf[0]
    return int(leaf.shape[0])


class Recurrent(nn.Module):
    r"""Turn a one-step cell into a sequence layer with lengths, directions and layers.

    The cell is any module ``cell(x_t, state) -> (y_t, state)``. For every step ``t``::

        y_t, s_t = cell(x_t, s_{t-1})      where t < length  (a real step)
        y_t, s_t = 0, s_{t-1}              where t >= length (padding: state held)

    A reverse direction reads each sequence from its last real step to its first; a
    bidirectional layer concatenates the two directions' outputs on the last dimension.

    Args:
        cell: a cell module (one layer, one direction) or a factory ``factory(layer) ->
            cell`` called once per layer and direction (needed for ``num_layers > 1`` or
            ``bidirectional``: each one is a separate instance with its own weights).
        num_layers: stacked layers; layer ``l > 0`` reads the outputs of layer ``l - 1``.
        bidirectional: run a second cell instance over the reversed sequences.
        batch_first: input and output are ``(B, T, ...)`` (else ``(T, B, ...)``).
        reverse: run a single direction right to left (within lengths).

    Inputs: ``input, hx=None, lengths=None``
        input: ``(B, T, *F)`` if batch_first else ``(T, B, *F)``.
        hx: the initial state: a cell's state when there is one cell, else a list with one
            state per layer and direction (index ``layer * num_directions + direction``).
            Default: ``cell.initial_state(batch, device, dtype)`` for each cell.
        lengths: ``(B,)`` int64 real lengths in [1, T]; default: all ``T``.

    Outputs: ``output, h_n``
        output: ``(B, T, *Y)`` (``*Y`` doubled on its last dim if bidirectional) with zeros
            at padding; ``h_n`` the final state(s) in the layout of ``hx``.

    Example::

        >>> class Cell(nn.Module):
        ...     def __init__(self): super().__init__(); self.lin = nn.Linear(8 + 16, 16)
        ...     def initial_state(self, batch, device, dtype):
        ...         return torch.zeros(batch, 16, device=device, dtype=dtype)
        ...     def forward(self, x, h):
        ...         h = torch.tanh(self.lin(torch.cat([x, h], -1)))
        ...         return h, h
        >>> layer = Recurrent(Cell(), batch_first=True)
        >>> out, h_n = layer(torch.randn(4, 10, 8), lengths=torch.tensor([10, 7, 3, 1]))

    ``rnnkit.trace`` records the outputs ``h`` of every layer and direction. Under
    ``torch.export`` the time loop is torch's ``scan`` operator (the same step), so the
    exported program keeps a dynamic time axis and takes ``lengths``.
    """

    _rnnkit_traceable = True

    def __init__(
        self,
        cell: nn.Module | Callable[[int], nn.Module],
        *,
        num_layers: int = 1,
        bidirectional: bool = False,
        batch_first: bool = False,
        reverse: bool = False,
    ) -> None:
        super().__init__()
        num_layers = _checks.check_int("num_layers", num_layers, minimum=1)
        bidirectional = _checks.check_bool("bidirectional", bidirectional)
        batch_first = _checks.check_bool("batch_first", batch_first)
        reverse = _checks.check_bool("reverse", reverse)
        if bidirectional and reverse:
            raise ValueError(
                "reverse=True runs one direction; it cannot combine with bidirectional"
            )
        self.num_layers = num_layers
        self.bidirectional = bool(bidirectional)
        self.batch_first = bool(batch_first)
        self.reverse = bool(reverse)
        self.num_directions = 2 if bidirectional else 1
        count = num_layers * self.num_directions
        if isinstance(cell, nn.Module):
            if count > 1:
                raise ValueError(
                    f"num_layers={num_layers}, bidirectional={bidirectional} needs {count} "
                    "separate cells: pass a factory, e.g. Recurrent(lambda layer: MyCell(...))"
                )
            cells = [cell]
        elif callable(cell):
            cells = [cell(layer) for layer in range(num_layers) for _ in range(self.num_directions)]
            for c in cells:
                if not isinstance(c, nn.Module):
                    raise TypeError(f"the cell factory must return nn.Module, got {type(c)}")
        else:
            raise TypeError(f"cell must be an nn.Module or a factory, got {type(cell)}")
        self.cells = nn.ModuleList(cells)

    def _initial(self, cell: nn.Module, batch: int, x: torch.Tensor) -> State:
        init = getattr(cell, "initial_state", None)
        if init is None:
            raise ValueError(
                f"{type(cell).__name__} has no initial_state(batch, device, dtype): "
                "pass the initial state as hx"
            )
        return init(batch, x.device, x.dtype)

    def _run(
        self, cell: nn.Module, x: torch.Tensor, state: State, lengths: torch.Tensor | None
    ) -> tuple[torch.Tensor, State]:
        """One cell over ``x`` (B, T, ...); returns (out zero at padding, final state)."""
        m = step_mask(full_lengths(x, lengths), x.shape[1], x.device)  # (B, T) bool
        if torch.compiler.is_exporting():  # no Python loop over a time axis that may be dynamic
            return self._scan(cell, x, state, m)
        outs = []
        for t in range(x.shape[1]):
            y, new = cell(x[:, t], state)
            if not isinstance(y, torch.Tensor):
                raise TypeError(f"the cell must return (y_t, state) with y_t a tensor, got {y!r}")
            mt = m[:, t]
            state = map_state(lambda n, o, mt=mt: hold(mt, n, o), new, state)
            outs.append(y * mt.view(-1, *([1] * (y.dim() - 1))).to(y.dtype))
        return torch.stack(outs, 1), state

    @staticmethod
    def _scan(
        cell: nn.Module, x: torch.Tensor, state: State, m: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        """:meth:`_run` as torch's ``scan`` operator over time, for ``torch.export``: the
        same step (the cell, the state held at padding, the output zeroed there), traced
        once, so the exported program takes any ``T``."""
        from torch._higher_order_ops.scan import scan

        def step(carry: State, xs: tuple[torch.Tensor, torch.Tensor]) -> tuple[State, torch.Tensor]:
            x_t, m_t = xs  # (B, ...), (B,) bool
            y, new = cell(x_t, carry)
            carry = map_state(lambda n, o: hold(m_t, n, o), new, carry)
            return carry, y * m_t.view(-1, *([1] * (y.dim() - 1))).to(y.dtype)

        state = map_state(torch.clone, state)  # scan mishandles leaves that alias each other
        with warnings.catch_warnings():  # torch's own note while scan traces the step
            warnings.filterwarnings("ignore", "`torch.jit.script_method` is deprecated")
            final, ys = scan(step, state, (x.transpose(0, 1), m.t()))  # ys (T, B, ...)
        return ys.transpose(0, 1), final

    def forward(
        self,
        input: torch.Tensor,
        hx: State | None = None,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        if not isinstance(input, torch.Tensor) or input.dim() < 3:
            shape = tuple(input.shape) if isinstance(input, torch.Tensor) else type(input)
            layout = "(B, T, *features)" if self.batch_first else "(T, B, *features)"
            raise ValueError(f"Recurrent expects input of shape {layout}, got {shape}")
        x = input if self.batch_first else input.transpose(0, 1)  # (B, T, ...)
        B, T = x.shape[0], x.shape[1]
        lengths = _checks.padded_lengths("Recurrent", lengths, B, T, x.device)
        count = len(self.cells)
        if hx is None:
            states = [None] * count
        elif count == 1:
            states = [hx]
        else:
            if not isinstance(hx, list | tuple) or len(hx) != count:
                raise ValueError(
                    f"hx must be a list of {count} states (one per layer and direction)"
                )
            states = list(hx)
        for s in states:
            if s is not None and _batch_size(s) != B:
                raise ValueError(f"hx has batch size {_batch_size(s)}, input has {B}")
        states = [
            s if s is not None else self._initial(cell, B, x)
            for s, cell in zip(states, self.cells, strict=True)
        ]

        def direction(
            layer: int, d: int, xd: torch.Tensor, state: State
        ) -> tuple[torch.Tensor, State]:
            return self._run(self.cells[layer * self.num_directions + d], xd, state, lengths)

        stack = runner.Stack(self.num_layers, self.num_directions, reverse=self.reverse)
        x, finals = runner.run_stack(x, lengths, states, direction, stack, traced=self)
        output = x if self.batch_first else x.transpose(0, 1)
        return output, (finals[0] if count == 1 else finals)
