"""The one place that owns time for every recurrent family.

:func:`run_stack` runs ``num_layers x num_directions`` layer-directions over a right-padded,
batch-first input: it reverses the input of a reverse direction within each sequence's
length (and its outputs back), concatenates the directions, applies dropout between
layers in training, carries the initial and final states of every layer-direction, and
records every layer-direction in the open :func:`rnnkit.trace` contexts. What one
layer-direction computes is the family's business: a ``direction`` function, usually a
backend's run function (:mod:`rnnkit.layers.backends`) with the layer's weights bound.

Every layer family goes through it: ``RNN``/``LSTM``/``GRU`` (except torch's whole-stack
kernel, one fused call), ``IndRNN``, ``MinGRU``/``MinLSTM``, ``ConvLSTM1d/2d`` and
``Recurrent(cell)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.padded import reverse_padded, step_mask
from rnnkit.layers import trace

__all__ = ["Stack", "run_stack", "split_states", "stack_states", "unbatched"]

State = Any  # a tensor or a tuple of tensors, batch first
Layer = Any  # a layer module, read by attribute name (input_size, hidden_size, backend, ...)
# (layer, direction, x (B, T, *F) in the direction's own time order, initial state)
#   -> (out (B, T, *Y) zero at padding, in that order; final state)
DirectionFn = Callable[[int, int, Tensor, State], tuple[Tensor, State]]
# (layer, direction, x, out, initial state), all in the direction's own time order
#   -> (c (B, T, ...) or None, gates name -> (B, T, ...)) for the trace
# (layer, x (B, T, *F), initial states of its directions) -> (out (B, T, D*Y), final states):
# a backend that runs every direction of one layer in one call (torch's kernels)
LayerFn = Callable[[int, Tensor, list[State]], tuple[Tensor, list[State]]]
GatesFn = Callable[[int, int, Tensor, Tensor, State], tuple[Tensor | None, dict[str, Tensor]]]


@dataclass(frozen=True)
class Stack:
    """The shape of a stack of recurrent layers.

    Attributes:
        num_layers: stacked layers; layer ``l > 0`` reads layer ``l - 1``'s output.
        num_directions: 1, or 2 for a bidirectional stack (outputs concatenated on the
            last dimension, forward first).
        dropout: dropout probability on the output of every layer but the last.
        training: whether dropout applies.
        reverse: a one-direction stack that reads every sequence right to left.
        feature_dim: the dimension the directions' outputs are concatenated on (-1; 2 for
            ConvLSTM's channels in ``(B, T, C, *S)``).
    """

    num_layers: int = 1
    num_directions: int = 1
    dropout: float = 0.0
    training: bool = False
    reverse: bool = False
    feature_dim: int = -1


def run_stack(
    x: Tensor,
    lengths: Tensor | None,
    states: list[State],
    direction: DirectionFn,
    stack: Stack,
    *,
    traced: nn.Module | None = None,
    gates: GatesFn | None = None,
    layer_fn: LayerFn | None = None,
) -> tuple[Tensor, list[State]]:
    """Run every layer and direction over ``x``.

    Args:
        x: ``(B, T, *F)`` batch first, right-padded.
        lengths: ``(B,)`` int64 in ``[1, T]`` on x's device, or None when nothing is padded.
        states: one initial state per layer-direction, index ``layer * D + direction``.
        direction: runs one layer-direction (see ``DirectionFn``).
        stack: layers, directions, dropout.
        traced: the user-facing module; when an open trace covers it, every
            layer-direction is recorded (``h``, and ``c``/gates from ``gates``).
        gates: the family's cell states and gates of one layer-direction, for the trace.
        layer_fn: if given, runs all directions of a layer in one call instead of
            ``direction`` (the trace then slices its output per direction).

    Returns:
        ``out`` ``(B, T, *Y)`` (``feature_dim`` times D) zero at padding, and the final states in
        the order of ``states``.
    """
    record = traced is not None and trace.is_traced(traced)
    D = stack.num_directions
    finals: list[State] = []
    for layer in range(stack.num_layers):
        if layer > 0 and stack.dropout > 0 and stack.training:
            x = F.dropout(x, stack.dropout, training=True)
        if layer_fn is not None:
            x, lasts = _whole_layer(layer_fn, layer, x, lengths, states, stack, traced, gates)
            finals += lasts
            continue
        outs = []
        for d in range(D):
            k = layer * D + d
            backwards = d == 1 or stack.reverse
            xin = reverse_padded(x, lengths) if backwards else x
            out, last = direction(layer, d, xin, states[k])
            if record and traced is not None:
                _record(traced, layer, d, xin, out, states[k], lengths, gates, backwards)
            outs.append(reverse_padded(out, lengths) if backwards else out)
            finals.append(last)
        x = outs[0] if D == 1 else torch.cat(outs, stack.feature_dim)
    return x, finals


def _whole_layer(
    layer_fn: LayerFn,
    layer: int,
    x: Tensor,
    lengths: Tensor | None,
    states: list[State],
    stack: Stack,
    traced: nn.Module | None,
    gates: GatesFn | None,
) -> tuple[Tensor, list[State]]:
    """One layer through ``layer_fn``, recorded per direction when traced."""
    D = stack.num_directions
    out, lasts = layer_fn(layer, x, states[layer * D : (layer + 1) * D])
    if traced is not None and trace.is_traced(traced):
        size = out.shape[-1] // D
        for d in range(D):
            h = out[..., d * size : (d + 1) * size]
            backwards = d == 1 or stack.reverse
            xin, hin = (reverse_padded(v, lengths) for v in (x, h)) if backwards else (x, h)
            _record(traced, layer, d, xin, hin, states[layer * D + d], lengths, gates, backwards)
    return out, lasts


def _record(
    module: nn.Module,
    layer: int,
    d: int,
    x: Tensor,
    out: Tensor,
    state: State,
    lengths: Tensor | None,
    gates: GatesFn | None,
    backwards: bool,
) -> None:
    """One layer-direction into the open traces: in input time order, zero at padding."""
    with torch.no_grad():
        c, g = gates(layer, d, x, out, state) if gates is not None else (None, {})
        back = (lambda v: reverse_padded(v, lengths)) if backwards else (lambda v: v)
        h, c, g = back(out), None if c is None else back(c), {n: back(v) for n, v in g.items()}
        if lengths is not None:
            m = step_mask(lengths, x.shape[1], x.device)  # (B, T)

            def zero(v: Tensor) -> Tensor:
                return v * m.view(*m.shape, *([1] * (v.dim() - 2))).to(v.dtype)

            c, g = None if c is None else zero(c), {n: zero(v) for n, v in g.items()}
        trace.record(module, layer, d, h=h, c=c, gates=g, lengths=lengths)


def backend_run(
    layer: Layer, family: str, x: Tensor, lengths: Tensor | None, training: bool
) -> Callable[..., tuple[Tensor, tuple[Tensor, ...]]]:
    """The run function of the backend ``layer`` (with ``backend``, ``input_size``,
    ``hidden_size`` attributes) runs ``family`` on for ``x`` ``(B, T, ...)``; sets
    ``layer.last_backend`` and ``layer.backend_reason``."""
    from rnnkit.layers import backends

    request = backends.Request(
        family,
        training=training,
        device=x.device.type,
        dtype=x.dtype,
        ragged=lengths is not None,
        traced=trace.is_traced(layer),
        batch=x.shape[0],
        steps=x.shape[1],
        input_size=getattr(layer, "input_size", 0),
        hidden_size=getattr(layer, "hidden_size", 0),
        options=layer.options.on if hasattr(layer, "options") else frozenset(),
    )
    layer.last_backend, layer.backend_reason = backends.choose(layer.backend, request)
    return backends.run_function(layer.last_backend, family)


def training_step(module: nn.Module) -> bool:
    """Whether a call of ``module`` builds a graph for its weights' gradients."""
    first = next(module.parameters(), None)
    return torch.is_grad_enabled() and first is not None and first.requires_grad


# (layer-direction k, its input x (B, T, I)) -> (run weights, option tensors) of this call
InputsFn = Callable[[int, Tensor], tuple[tuple[Any, ...], Any]]
# (k, x, h (B, T, H) outputs, h0 (B, H), the weights and options that ran) -> gates
TensorGatesFn = Callable[[int, Tensor, Tensor, Tensor, tuple[Any, ...], Any], dict[str, Tensor]]


def forward_tensor_state(
    layer: Layer,
    family: str,
    input: Tensor,
    hx: Tensor | None,
    lengths: Tensor | None,
    inputs: InputsFn,
    gates: TensorGatesFn | None = None,
) -> tuple[Tensor, Tensor]:
    """``forward`` of a layer whose state is one tensor ``h`` (IndRNN, MinGRU, MinLSTM):
    checks, backend choice and the stack run, as torch.nn's GRU takes its inputs.

    Args:
        layer: the module (``input_size``, ``hidden_size``, ``num_layers``,
            ``num_directions``, ``batch_first``, ``dropout``, ``backend``, ``options``).
        family: the registry's family name.
        input: ``(T, B, I)``, ``(B, T, I)`` with batch_first, or ``(T, I)`` unbatched.
        hx: ``(L*D, B, H)`` or None; lengths: ``(B,)`` int64 or None.
        inputs: ``inputs(k, x)``: the run weights and the options' tensors
            (:class:`~rnnkit.layers.backends.StepOptions`) of layer-direction ``k`` for
            this call (masks sampled from ``x`` ``(B, T, I_k)``).
        gates: ``gates(k, x, h, h0, weights, options)`` name -> ``(B, T, H)`` for the
            trace (direction order), from what the run used.

    Returns:
        ``output`` ``(T, B, D*H)`` (or batch first) and ``h_n`` ``(L*D, B, H)``.
    """
    from rnnkit.layers import _checks

    name = type(layer).__name__
    if isinstance(input, Tensor) and input.dim() == 2:  # one sequence (T, I)
        return unbatched(layer, input, hx, lengths)
    layout = "(B, T, input_size)" if layer.batch_first else "(T, B, input_size)"
    _checks.check_rank(name, input, 3, layout)
    x = input if layer.batch_first else input.transpose(0, 1)  # (B, T, I)
    B, T, n_in = x.shape
    if n_in != layer.input_size:
        raise ValueError(f"{name} expects input_size={layer.input_size} features, got {n_in}")
    lengths = _checks.padded_lengths(name, lengths, B, T, x.device)
    D = layer.num_directions
    h0 = _checks.check_hx(name, hx, (layer.num_layers * D, B, layer.hidden_size), x)
    run = backend_run(layer, family, x, lengths, training_step(layer))
    ran: dict[int, tuple[tuple[Any, ...], Any]] = {}  # what each layer-direction ran with

    def direction(k_layer: int, d: int, xd: Tensor, h0k: Tensor) -> tuple[Tensor, Tensor]:
        k = k_layer * D + d
        ran[k] = inputs(k, xd)
        out, (h_n,) = run(xd, lengths, (h0k,), *ran[k])
        return out, h_n

    def trace_gates(
        k_layer: int, d: int, xd: Tensor, h: Tensor, h0k: Tensor
    ) -> tuple[Tensor | None, dict[str, Tensor]]:
        k = k_layer * D + d
        return None, gates(k, xd, h, h0k, *ran[k]) if gates is not None else {}

    shape = Stack(layer.num_layers, D, layer.dropout, layer.training)
    out, finals = run_stack(x, lengths, list(h0), direction, shape, traced=layer, gates=trace_gates)
    return (out if layer.batch_first else out.transpose(0, 1)), torch.stack(finals)


def split_states(states: tuple[Tensor, ...], count: int) -> list[tuple[Tensor, ...]]:
    """``(s_1, ..., s_n)`` each ``(L*D, B, ...)`` -> one tuple per layer-direction."""
    return [tuple(s[k] for s in states) for k in range(count)]


def stack_states(finals: list[tuple[Tensor, ...]]) -> tuple[Tensor, ...]:
    """The inverse of :func:`split_states`: each ``(L*D, B, ...)``."""
    return tuple(torch.stack(parts) for parts in zip(*finals, strict=True))


def unbatched(
    layer: nn.Module, input: Tensor, hx: Tensor | None, lengths: object
) -> tuple[Tensor, Tensor]:
    """``layer(input, hx)`` for one unbatched sequence ``(T, I)`` (hx ``(L * D, H)``), as
    torch.nn's layers take it: a batch of one in, the batch dimension removed again."""
    name = type(layer).__name__
    if lengths is not None:
        raise ValueError(
            f"{name}: lengths is for a batch of sequences; the input is one unbatched "
            f"sequence of shape {tuple(input.shape)}"
        )
    if hx is not None:
        if not isinstance(hx, Tensor) or hx.dim() != 2:
            got = tuple(hx.shape) if isinstance(hx, Tensor) else type(hx).__name__
            raise ValueError(f"{name}: an unbatched input takes hx of shape (L * D, H), got {got}")
        hx = hx.unsqueeze(1)
    dim = 0 if layer.batch_first else 1
    out, h_n = layer(input.unsqueeze(dim), hx)
    return out.squeeze(dim), h_n.squeeze(1)
