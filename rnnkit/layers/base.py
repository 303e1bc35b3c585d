"""``RecurrentBase``: what ``RNN``, ``LSTM`` and ``GRU`` share.

It owns the torch.nn-compatible parameters (names, shapes, init), the input forms
(batched, unbatched, ``PackedSequence``, right-padded with ``lengths``), initial and final
states, layers x directions, dropout between layers, the backend choice and tracing. A
family subclass supplies only its class attributes (``gate_count``, ``has_cell_state``),
its docstring and constructor; the cell math runs in the backends, and the trace reads the
gates of the cell step (:func:`rnnkit.cells.extended.extended_trace`). The cell options are
one frozen value (:class:`rnnkit.layers.options.CellOptions`, ``layer.options``), composed
in, not mixed in.

Backends come from the registry :mod:`rnnkit.layers.backends`: the layer describes each
call as a :class:`~rnnkit.layers.backends.Request`, ``backends.choose`` picks the backend
(``auto`` from ``backends.AUTO_TABLE``), and each layer-direction runs through the
backend's run function for the family (or, for ``native`` untraced, the whole stack in one
call of torch's kernel). ``last_backend`` and ``backend_reason`` say which ran and why.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.cells.extended import extended_trace
from rnnkit.layers import _checks, backends, runner, trace
from rnnkit.layers.options import (
    NO_CELL_OPTIONS,
    CellOptions,
    option_properties,
    register_parameters,
)

States = tuple[Tensor, ...]  # (h,) or (h, c); each (num_layers * num_directions, B, size)
Weights = tuple[Tensor | None, ...]  # (w_ih, w_hh, b_ih, b_hh, w_hr) of one layer-direction

_FAMILIES = {"LSTM": "lstm", "GRU": "gru", "RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu"}


@option_properties
class RecurrentBase(nn.Module):
    """A stack of recurrent layers, torch.nn compatible. Subclasses set the class attributes
    below and pass their cell options."""

    gate_count: int = 1  # blocks stacked in weight_ih: 4 (LSTM i,f,g,o), 3 (GRU r,z,n), 1
    has_cell_state: bool = False  # LSTM: the state is (h, c) and hx a tuple
    _rnnkit_traceable = True

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        backend: str = "auto",
        *,
        options: CellOptions = NO_CELL_OPTIONS,
    ) -> None:
        super().__init__()
        self.mode = mode  # torch's name: "LSTM", "GRU", "RNN_TANH" or "RNN_RELU"
        self.family = _FAMILIES[mode]  # the backend registry's name of the cell
        self.input_size = _checks.check_int("input_size", input_size, minimum=1)
        self.hidden_size = _checks.check_int("hidden_size", hidden_size, minimum=1)
        self.num_layers = _checks.check_int("num_layers", num_layers, minimum=1)
        self.bias = _checks.check_bool("bias", bias)
        self.batch_first = _checks.check_bool("batch_first", batch_first)
        self.dropout = _checks.check_probability("dropout", dropout)
        self.bidirectional = _checks.check_bool("bidirectional", bidirectional)
        self.proj_size = _checks.check_proj_size(proj_size, self.hidden_size)
        self.backend = backends.check_name(type(self).__name__, self.family, backend)
        if not isinstance(options, CellOptions):
            raise TypeError(f"options must be a CellOptions, got {type(options).__name__}")
        options.check(type(self).__name__, self.family)
        self.options = options  # the cell options (frozen); their parameters are below
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={self.dropout} "
                f"and num_layers={self.num_layers}",
                stacklevel=3,
            )
        self.num_directions = 2 if self.bidirectional else 1
        self.last_backend: str | None = None  # the backend the latest forward ran on
        self.backend_reason: str | None = None  # and why (backends.choose)

        # Parameters in torch.nn's registration order, so that the same seed gives the same
        # weights as torch.nn and a state_dict moves both ways.
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self._flat_weights_names: list[str] = []
        for layer in range(self.num_layers):
            for direction in range(self.num_directions):
                self._flat_weights_names += self._make_direction_params(layer, direction, factory)
        suffixes = [
            f"_l{layer}" + ("_reverse" if direction == 1 else "")
            for layer in range(self.num_layers)
            for direction in range(self.num_directions)
        ]
        G, H = self.gate_count * self.hidden_size, self.hidden_size
        self._option_names = register_parameters(
            self, options, self.family, suffixes, H, G, factory
        )
        if options.any:  # the option is refused by name where the backend cannot apply it
            self._check_backend_takes_options()
        self.reset_parameters()
        self.flatten_parameters()  # for a layer created on a GPU

    # ------------------------------------------------------------------ parameters

    @property
    def output_size(self) -> int:
        """``H_out``: the size of ``h`` (``proj_size`` if set, else ``hidden_size``)."""
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    def _make_direction_params(
        self, layer: int, direction: int, factory: dict[str, Any]
    ) -> list[str]:
        """Create and register the parameters of one layer-direction; return the names of
        those the fused kernels take, in their order (a parameter an option adds, e.g. a
        layer norm, is registered here but not returned).

        Names and shapes are torch.nn's: ``weight_ih_l{k}`` ``(G*H, I_k)``, ``weight_hh_l{k}``
        ``(G*H, H_out)``, ``bias_ih_l{k}``/``bias_hh_l{k}`` ``(G*H,)``, ``weight_hr_l{k}``
        ``(H_out, H)`` with proj_size, suffixed ``_reverse`` for direction 1.
        """
        gates = self.gate_count * self.hidden_size
        layer_input = self.input_size if layer == 0 else self.output_size * self.num_directions
        suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        shapes: dict[str, tuple[int, ...]] = {
            f"weight_ih{suffix}": (gates, layer_input),
            f"weight_hh{suffix}": (gates, self.output_size),
        }
        if self.bias:
            shapes[f"bias_ih{suffix}"] = (gates,)
            shapes[f"bias_hh{suffix}"] = (gates,)
        if self.proj_size > 0:
            shapes[f"weight_hr{suffix}"] = (self.proj_size, self.hidden_size)
        for name, shape in shapes.items():
            self.register_parameter(name, nn.Parameter(torch.empty(shape, **factory)))
        return list(shapes)

    def reset_parameters(self) -> None:
        """torch.nn's init: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)), in its order."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for name in self._flat_weights_names:
            nn.init.uniform_(getattr(self, name), -bound, bound)
        CellOptions.reset(self, self._option_names, self.hidden_size)

    def _check_backend_takes_options(self) -> None:
        """Refuse, at construction, a named backend that cannot apply the options."""
        if self.backend == "auto":
            return
        request = backends.Request(self.family, options=self.options.on, proj_size=self.proj_size)
        reason = backends.get(self.backend).refusal(request)
        if reason is not None:
            raise ValueError(
                f"{type(self).__name__}: backend={self.backend!r} {reason}; use "
                "backend='auto', 'bptt' (rnnkit's BPTT) or 'reference'"
            )

    def _direction_weights(self, layer: int, direction: int) -> Weights:
        """``(w_ih, w_hh, b_ih, b_hh, w_hr)`` of one layer-direction; None where absent."""
        suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        return tuple(
            getattr(self, f"{kind}{suffix}", None)
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
        )

    @property
    def _flat_weights(self) -> list[Tensor]:
        """The parameters in the order torch's fused kernels take them."""
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def _first_weight(self) -> Tensor:
        """Any parameter: the dtype and device the inputs must match."""
        weight: Tensor = getattr(self, self._flat_weights_names[0])
        return weight

    @property
    def all_weights(self) -> list[list[Tensor]]:
        """Per layer-direction, its parameters (as ``torch.nn.LSTM.all_weights``)."""
        return [
            [w for w in self._direction_weights(layer, direction) if w is not None]
            for layer in range(self.num_layers)
            for direction in range(self.num_directions)
        ]

    def flatten_parameters(self) -> None:
        """Put the weights in one contiguous buffer for cuDNN (a no-op unless on a GPU).

        Called after ``.to()``/``.cuda()``; as ``torch.nn.RNNBase.flatten_parameters``.
        """
        weights = self._flat_weights
        first = weights[0]
        if not all(
            w.is_cuda and w.dtype == first.dtype and torch.backends.cudnn.is_acceptable(w)
            for w in weights
        ):
            return
        if len({w.data_ptr() for w in weights}) != len(weights):
            return  # aliased parameters: leave them, the kernel copies
        import torch.backends.cudnn.rnn as cudnn_rnn

        with torch.cuda.device_of(first), torch.no_grad():
            if torch._use_cudnn_rnn_flatten_weight():
                torch._cudnn_rnn_flatten_weight(
                    weights,
                    (4 if self.bias else 2) + (1 if self.proj_size > 0 else 0),
                    self.input_size,
                    cudnn_rnn.get_cudnn_mode(self.mode),
                    self.hidden_size,
                    self.proj_size,
                    self.num_layers,
                    self.batch_first,
                    self.bidirectional,
                )

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> Any:
        result = super()._apply(fn, recurse)  # type: ignore[no-untyped-call]  # torch's, untyped
        self.flatten_parameters()
        return result

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.backend != "auto":
            s += f", backend={self.backend!r}"
        return s + self.options.repr_parts()

    # ------------------------------------------------------------------ forward

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: Tensor | tuple[Tensor, Tensor] | None = None,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor | PackedSequence, Tensor | tuple[Tensor, Tensor]]:
        """See the subclass docstring."""
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError(
                    f"{self._name}: lengths must be None for a PackedSequence input "
                    "(its lengths are inside it)"
                )
            return self._forward_packed(input, hx)
        x = _checks.check_input(self._name, input, self.input_size, self._first_weight)
        batched = x.dim() == 3
        if not batched:
            if lengths is not None:
                raise ValueError(
                    f"{self._name}: lengths is for a batch of sequences; the input is one "
                    f"unbatched sequence of shape {tuple(x.shape)}"
                )
            x = x.unsqueeze(0)  # (1, T, I)
        elif not self.batch_first:
            x = x.transpose(0, 1)  # (B, T, I), a view
        batch, steps = x.shape[0], x.shape[1]
        if steps == 0:
            raise ValueError(
                f"{self._name}: input must have at least one time step, got shape "
                f"{tuple(input.shape)}"
            )
        if lengths is not None:
            lengths, shortest, _ = _checks.check_lengths(self._name, lengths, batch, steps)
            if not _checks.symbolic() and shortest == steps:
                lengths = None  # nothing is padded
        states = self._initial_states(hx, batch, batched, x)
        out, states = self._run(x, lengths, states)  # (B, T, D*H_out)
        if not batched:
            out, states = out.squeeze(0), tuple(s.squeeze(1) for s in states)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        return out, self._to_hx(states)

    def _forward_packed(
        self, packed: PackedSequence, hx: Tensor | tuple[Tensor, Tensor] | None
    ) -> tuple[PackedSequence, Tensor | tuple[Tensor, Tensor]]:
        """PackedSequence in, PackedSequence out, states in the caller's batch order."""
        data, batch_sizes, sorted_indices, unsorted_indices = packed
        _checks.check_input(self._name, data, self.input_size, self._first_weight, packed=True)
        batch = int(batch_sizes[0])
        states = self._initial_states(hx, batch, True, data)
        backend = self._select_backend(data, ragged=bool(batch_sizes[0] != batch_sizes[-1]))
        if backend == "native" and not trace.is_traced(self):
            self.last_backend = backend
            if sorted_indices is not None:
                states = tuple(s.index_select(1, sorted_indices) for s in states)
            out, states = backends.native_call(
                self.family, data, batch_sizes, states, self._flat_weights, **self._stack_args()
            )
            if unsorted_indices is not None:
                states = tuple(s.index_select(1, unsorted_indices) for s in states)
            packed_out = PackedSequence(out, batch_sizes, sorted_indices, unsorted_indices)
            return packed_out, self._to_hx(states)
        x, lengths = pad_packed_sequence(packed, batch_first=True)  # caller's order
        lengths = lengths.to(x.device)
        out, states = self._run(x, lengths, states, backend)  # (B, T, D*H_out)
        if sorted_indices is not None:
            out, lengths = out.index_select(0, sorted_indices), lengths[sorted_indices]
        out = pack_padded_sequence(out, lengths.cpu(), batch_first=True).data  # (N, D*H_out)
        packed_out = PackedSequence(out, batch_sizes, sorted_indices, unsorted_indices)
        return packed_out, self._to_hx(states)

    @property
    def _name(self) -> str:
        return type(self).__name__

    def _initial_states(
        self, hx: Tensor | tuple[Tensor, Tensor] | None, batch: int, batched: bool, like: Tensor
    ) -> States:
        """``hx`` checked and as a tuple of ``(L*D, B, size)`` tensors; zeros when None."""
        rows = self.num_layers * self.num_directions
        sizes = (self.output_size, self.hidden_size) if self.has_cell_state else (self.output_size,)
        if hx is None:
            return tuple(like.new_zeros(rows, batch, size) for size in sizes)
        if self.has_cell_state:
            if not isinstance(hx, tuple | list) or len(hx) != 2:
                raise TypeError(
                    f"{self._name}: hx must be a tuple (h_0, c_0) of two tensors, "
                    f"got {type(hx).__name__}"
                )
            parts: tuple[object, ...] = tuple(hx)
            names: tuple[str, ...] = ("hx[0] (h_0)", "hx[1] (c_0)")
        else:
            parts, names = (hx,), ("hx",)
        states = []
        for part, name, size in zip(parts, names, sizes, strict=True):
            expected = (rows, batch, size) if batched else (rows, size)
            state = _checks.check_state(self._name, name, part, expected, self._first_weight)
            states.append(state if batched else state.unsqueeze(1))
        return tuple(states)

    def _to_hx(self, states: States) -> Tensor | tuple[Tensor, Tensor]:
        return (states[0], states[1]) if self.has_cell_state else states[0]

    # ------------------------------------------------------------------ backends

    def _request(self, x: Tensor, ragged: bool) -> backends.Request:
        """This call as the backend registry sees it."""
        return backends.Request(
            family=self.family,
            training=self._training_step,
            device=x.device.type,
            dtype=x.dtype,
            ragged=ragged,
            options=self._options_on(),
            proj_size=self.proj_size,
            traced=trace.is_traced(self),
            batch=x.shape[0],
            steps=x.shape[1] if x.dim() == 3 else 0,
            input_size=self.input_size,
            hidden_size=self.hidden_size,
        )

    def _options_on(self) -> frozenset[str]:
        """Names of the cell options that are on."""
        return self.options.on

    def _select_backend(self, x: Tensor, ragged: bool = False) -> str:
        """The backend this call runs on (``backends.choose``); sets ``backend_reason``.
        ``x`` is the input (its device and dtype may matter)."""
        name, self.backend_reason = backends.choose(self.backend, self._request(x, ragged))
        return name

    @property
    def _training_step(self) -> bool:
        """Whether this call builds a graph for the weights' gradients."""
        return torch.is_grad_enabled() and self._first_weight.requires_grad

    def _run(
        self, x: Tensor, lengths: Tensor | None, states: States, backend: str | None = None
    ) -> tuple[Tensor, States]:
        """All layers on a batch-first padded input ``x`` ``(B, T, I)``, through the runner
        (or, for a backend with a whole-stack function and no trace, in one call).

        Returns:
            ``out`` ``(B, T, D*H_out)``, zero at padded steps, and the final states.
        """
        backend = backend or self._select_backend(x, ragged=lengths is not None)
        self.last_backend = backend
        if x.shape[0] == 0:  # an empty batch: nothing to run
            return x.new_zeros(0, x.shape[1], self.num_directions * self.output_size), states
        chosen = backends.get(backend)
        # torch.export: every layer-direction as one op (backends.run_function), for a
        # dynamic time axis; torch's whole-stack kernel would be unrolled over time
        stack = None if backends.exporting() else chosen.stack.get(self.family)
        if stack is not None and not trace.is_traced(self):  # the whole stack in one call
            return stack(self.family, x, lengths, states, self._flat_weights, **self._stack_args())
        run = backends.run_function(backend, self.family)
        layer_fn = None
        if stack is not None:  # traced: the stack function one layer at a time

            def layer_fn(layer: int, xl: Tensor, init: list[States]) -> tuple[Tensor, list[States]]:
                weights = [
                    w
                    for d in range(self.num_directions)
                    for w in self._direction_weights(layer, d)
                    if w is not None
                ]
                args = self._stack_args() | {"num_layers": 1}
                out, last = stack(
                    self.family, xl, lengths, runner.stack_states(init), weights, **args
                )
                return out, runner.split_states(last, self.num_directions)

        # what each direction ran with, for the trace
        ran: dict[tuple[int, int], tuple[Any, ...]] = {}

        def direction(layer: int, d: int, xd: Tensor, state: States) -> tuple[Tensor, States]:
            weights, options = self._direction_inputs(xd, layer, d)
            ran[layer, d] = (weights, options)
            return run(xd, lengths, state, weights, options)

        def gates(
            layer: int, d: int, xd: Tensor, h: Tensor, state: States
        ) -> tuple[Tensor | None, dict[str, Tensor]]:
            weights, options = ran.get((layer, d), (self._direction_weights(layer, d), None))
            return self._trace_gates(xd, h, state, weights, options or backends.NO_OPTIONS)

        count = self.num_layers * self.num_directions
        shape = runner.Stack(self.num_layers, self.num_directions, self.dropout, self.training)
        out, finals = runner.run_stack(
            x,
            lengths,
            runner.split_states(states, count),
            direction,
            shape,
            traced=self,
            gates=gates,
            layer_fn=layer_fn,
        )
        return out, runner.stack_states(finals)

    def _direction_inputs(
        self, x: Tensor, layer: int, direction: int
    ) -> tuple[Weights, backends.StepOptions]:
        """The weights and option tensors one layer-direction runs with (the options'
        masks sampled for this call). ``x`` ``(B, T, I_k)`` gives the masks' batch, steps,
        device and dtype."""
        return self.options.direction(
            self,
            f"_l{layer}" + ("_reverse" if direction == 1 else ""),
            self._direction_weights(layer, direction),
            x,
            family=self.family,
            state_size=self.output_size,
            training=self.training,
        )

    def _stack_args(self) -> dict[str, Any]:
        """The keyword arguments of a ``Backend.stack`` function for this layer."""
        return {
            "has_bias": self.bias,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
            "training": self.training,
            "bidirectional": self.bidirectional,
            "proj_size": self.proj_size,
        }

    # ------------------------------------------------------------------ tracing

    def _trace_gates(
        self,
        x: Tensor,
        h: Tensor,
        state: States,
        weights: Weights,
        options: backends.StepOptions,
    ) -> tuple[Tensor | None, dict[str, Tensor]]:
        """The runner's trace hook: ``c`` and the gates of one layer-direction, in its own
        time order, from its input ``x`` ``(B, T, I_k)`` and outputs ``h`` ``(B, T, H_out)``,
        by the cell step that ran (with the options' tensors of the run)."""
        w_ih, w_hh, b_ih, b_hh, w_hr = weights
        assert w_ih is not None and w_hh is not None, "a layer-direction without weights"
        kind = {"lstm": "lstm", "gru": "gru"}.get(self.family, "rnn")
        nonlinearity = "relu" if self.family == "rnn_relu" else "tanh"
        c0 = state[1] if self.has_cell_state else None
        return extended_trace(
            kind, x, h, state[0], c0, w_ih, w_hh, b_ih, b_hh,
            nonlinearity=nonlinearity, w_hr=w_hr, **options.as_kwargs(),
        )  # fmt: skip

    # ------------------------------------------------------------------ options

    @property
    def has_options(self) -> bool:
        """True when any cell option is on (the layer then runs the extended cell)."""
        return self.options.any
