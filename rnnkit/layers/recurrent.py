"""``Recurrent(cell)``: any one-step module becomes a sequence layer; and the helpers the
new families share (lengths checks, masks, reversal within lengths, the layer stack).

A cell is a module called as ``cell(x_t, state) -> (y_t, state)``: ``x_t`` is ``(B, ...)``,
``state`` a tensor or a tuple of tensors with batch first, ``y_t`` a tensor ``(B, ...)``.
:class:`Recurrent` owns time, direction, ``lengths`` and layers (as Flax's ``nn.RNN`` does):
at padded steps the state is held and the output is zero, a reversed direction reads each
sequence backwards *within its own length*, and layers are stacked by calling a factory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

State = Any  # a tensor, or a tuple/list of tensors, batch first

__all__ = ["Recurrent", "check_lengths", "flip_padded", "run_layers", "step_mask"]


# ----------------------------------------------------------------------------- helpers


def check_lengths(
    lengths: torch.Tensor | Sequence[int] | None, batch: int, steps: int, device: torch.device
) -> torch.Tensor | None:
    """Validate ``lengths`` and return it as ``(B,)`` int64 on ``device`` (None stays None).

    Raises ValueError naming the problem: wrong shape, wrong dtype, a value outside [1, T].
    """
    if lengths is None:
        return None
    if not isinstance(lengths, torch.Tensor):
        lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.shape[0] != batch:
        raise ValueError(
            f"lengths must have shape ({batch},) (one length per sequence), "
            f"got {tuple(lengths.shape)}"
        )
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise ValueError(f"lengths must be an integer tensor, got dtype {lengths.dtype}")
    lengths = lengths.to(device=device, dtype=torch.int64)
    if batch > 0:
        lo, hi = int(lengths.min()), int(lengths.max())
        if lo < 1 or hi > steps:
            raise ValueError(
                f"lengths must lie in [1, {steps}] (the padded sequence length), "
                f"got values from {lo} to {hi}"
            )
    return lengths


def step_mask(lengths: torch.Tensor | None, batch: int, steps: int, device: torch.device, dtype):
    """``(B, T)`` mask in ``dtype``: 1 at real steps, 0 at padding (all ones without lengths)."""
    if lengths is None:
        return torch.ones(batch, steps, device=device, dtype=dtype)
    t = torch.arange(steps, device=device)
    return (t[None, :] < lengths[:, None]).to(dtype)


def flip_padded(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Reverse each sequence of ``x`` ``(B, T, ...)`` within its own length.

    Padding stays at the end, so the same call undoes itself. Without lengths this is
    ``x.flip(1)``.
    """
    if lengths is None:
        return x.flip(1)
    B, T = x.shape[0], x.shape[1]
    t = torch.arange(T, device=x.device)
    src = lengths[:, None] - 1 - t[None, :]  # (B, T) source step of each target step
    src = torch.where(src >= 0, src, t[None, :])  # padding maps to itself
    index = src.view(B, T, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)


def last_step(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """The entry of ``x`` ``(B, T, ...)`` at each sequence's last real step: ``(B, ...)``."""
    if lengths is None:
        return x[:, -1]
    index = (lengths - 1).view(-1, 1, *([1] * (x.dim() - 2))).expand(-1, 1, *x.shape[2:])
    return x.gather(1, index).squeeze(1)


def _map_state(fn: Callable[..., torch.Tensor], *states: State) -> State:
    """Apply ``fn`` leaf-wise to states that are tensors or (nested) tuples/lists of them."""
    first = states[0]
    if isinstance(first, torch.Tensor):
        return fn(*states)
    if isinstance(first, tuple | list):
        return type(first)(_map_state(fn, *parts) for parts in zip(*states))
    raise TypeError(f"a cell state must be a tensor or a tuple of tensors, got {type(first)}")


def _hold(m: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """``new`` where ``m`` (B,) is 1, ``old`` where it is 0 (broadcast over the state's dims)."""
    m = m.view(-1, *([1] * (new.dim() - 1))).to(new.dtype)
    return m * new + (1 - m) * old


def _batch_size(state: State) -> int:
    leaf = state
    while not isinstance(leaf, torch.Tensor):
        leaf = leaf[0]
    return int(leaf.shape[0])


# ----------------------------------------------------------------------------- the wrapper


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
    """

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
        if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 1:
            raise ValueError(f"num_layers must be an integer >= 1, got {num_layers!r}")
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
        self, cell: nn.Module, x: torch.Tensor, state: State, m: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        """One cell over ``x`` (B, T, ...) with mask ``m`` (B, T); returns (out, final state)."""
        outs = []
        for t in range(x.shape[1]):
            y, new = cell(x[:, t], state)
            if not isinstance(y, torch.Tensor):
                raise TypeError(f"the cell must return (y_t, state) with y_t a tensor, got {y!r}")
            mt = m[:, t]
            state = _map_state(lambda n, o, mt=mt: _hold(mt, n, o), new, state)
            outs.append(y * mt.view(-1, *([1] * (y.dim() - 1))).to(y.dtype))
        return torch.stack(outs, 1), state

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
        lengths = check_lengths(lengths, B, T, x.device)
        m = step_mask(lengths, B, T, x.device, x.dtype)  # (B, T)
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
        finals: list[State] = []
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                cell = self.cells[k]
                state = states[k] if states[k] is not None else self._initial(cell, B, x)
                backwards = d == 1 or self.reverse
                xin = flip_padded(x, lengths) if backwards else x
                out, final = self._run(cell, xin, state, m)
                outs.append(flip_padded(out, lengths) if backwards else out)
                finals.append(final)
            x = outs[0] if len(outs) == 1 else torch.cat(outs, -1)
        output = x if self.batch_first else x.transpose(0, 1)
        return output, (finals[0] if count == 1 else finals)


def run_layers(
    x: torch.Tensor,
    lengths: torch.Tensor | None,
    h0: torch.Tensor,
    run_one: Callable[[int, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    *,
    num_layers: int,
    num_directions: int,
    dropout: float = 0.0,
    training: bool = False,
    traced: nn.Module | None = None,
    gates: Callable[[int, torch.Tensor], dict[str, torch.Tensor]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The layers x directions loop of a stacked layer with a tensor state.

    ``run_one(k, x, h0_k)`` runs cell ``k = layer * num_directions + direction`` forwards
    over ``x`` (B, T, I) from ``h0_k`` and returns ``(out (B, T, H), h_n (B, ...))``; a
    reverse direction gets the sequences reversed within their lengths. ``h0`` is
    ``(num_layers * num_directions, B, ...)``. Dropout is applied between layers.
    When ``rnnkit.trace`` covers the module ``traced``, every layer-direction's outputs
    (and ``gates(k, x)``: name -> (B, T, H), for gates that read only the input) are
    recorded. Returns ``(output (B, T, num_directions * H), h_n like h0)``.
    """
    from rnnkit.layers import trace

    record = traced is not None and trace.is_traced(traced)
    finals = []
    for layer in range(num_layers):
        if layer > 0 and dropout > 0 and training:
            x = nn.functional.dropout(x, dropout, training=True)
        outs = []
        for d in range(num_directions):
            k = layer * num_directions + d
            xin = flip_padded(x, lengths) if d == 1 else x
            out, h_n = run_one(k, xin, h0[k])
            outs.append(flip_padded(out, lengths) if d == 1 else out)
            finals.append(h_n)
            if record:
                m = step_mask(lengths, x.shape[0], x.shape[1], x.device, x.dtype)[..., None]
                g = {n: v * m for n, v in gates(k, x).items()} if gates is not None else {}
                trace.record(traced, layer, d, h=outs[-1], gates=g, lengths=lengths)
        x = outs[0] if num_directions == 1 else torch.cat(outs, -1)
    return x, torch.stack(finals, 0)


def choose_backend(
    layer: nn.Module, family: str, x: torch.Tensor, lengths: torch.Tensor | None
) -> Callable[..., tuple[torch.Tensor, tuple[torch.Tensor, ...]]]:
    """The run function of the backend ``layer`` runs ``family`` on for input ``x``
    ``(B, T, I)``; sets ``layer.last_backend`` and ``layer.backend_reason``."""
    from rnnkit.layers import backends

    first = next(layer.parameters())
    request = backends.Request(
        family,
        training=torch.is_grad_enabled() and first.requires_grad,
        device=x.device.type,
        dtype=x.dtype,
        ragged=lengths is not None and bool((lengths < x.shape[1]).any()),
        batch=x.shape[0],
        steps=x.shape[1],
        input_size=layer.input_size,
        hidden_size=layer.hidden_size,
    )
    layer.last_backend, layer.backend_reason = backends.choose(layer.backend, request)
    return backends.get(layer.last_backend).runs[family]


def check_input(input: torch.Tensor, rank: int, name: str, layout: str) -> None:
    """Refuse a non-tensor, non-floating or wrong-rank input, naming the expected layout."""
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"{name} expects a tensor input, got {type(input).__name__}")
    if input.dim() != rank:
        raise ValueError(
            f"{name} expects a {rank}-D input {layout}, got shape {tuple(input.shape)}"
        )
    if not input.is_floating_point():
        raise TypeError(f"{name} expects a floating-point input, got dtype {input.dtype}")


def check_hx(
    hx: torch.Tensor | None, shape: tuple[int, ...], name: str, like: torch.Tensor
) -> torch.Tensor:
    """``hx`` checked against ``shape`` (zeros like ``like`` when None)."""
    if hx is None:
        return like.new_zeros(shape)
    if not isinstance(hx, torch.Tensor) or tuple(hx.shape) != tuple(shape):
        got = tuple(hx.shape) if isinstance(hx, torch.Tensor) else type(hx).__name__
        raise ValueError(f"{name} expects hx of shape {tuple(shape)}, got {got}")
    return hx.to(like.dtype)


def forward_unbatched(
    layer: nn.Module, input: torch.Tensor, hx: torch.Tensor | None, lengths: object
) -> tuple[torch.Tensor, torch.Tensor]:
    """``layer(input, hx)`` for one unbatched sequence ``(T, I)`` (hx ``(L * D, H)``), as
    torch.nn's layers take it: a batch of one in, the batch dimension removed again."""
    name = type(layer).__name__
    if lengths is not None:
        raise ValueError(
            f"{name}: lengths is for a batch of sequences; the input is one unbatched "
            f"sequence of shape {tuple(input.shape)}"
        )
    if hx is not None:
        if not isinstance(hx, torch.Tensor) or hx.dim() != 2:
            got = tuple(hx.shape) if isinstance(hx, torch.Tensor) else type(hx).__name__
            raise ValueError(f"{name}: an unbatched input takes hx of shape (L * D, H), got {got}")
        hx = hx.unsqueeze(1)
    dim = 0 if layer.batch_first else 1
    out, h_n = layer(input.unsqueeze(dim), hx)
    return out.squeeze(dim), h_n.squeeze(1)
