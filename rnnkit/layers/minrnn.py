"""``rnnkit.MinGRU`` and ``rnnkit.MinLSTM`` (Feng et al. 2024): parallel-scan layers."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.cells.minrnn import _STEPS
from rnnkit.cells.padded import shift_right
from rnnkit.layers import _checks, backends, runner
from rnnkit.layers.backends import StepOptions
from rnnkit.layers.options import CellOptions, option_properties, register_parameters

__all__ = ["MinGRU", "MinLSTM"]


@option_properties
class _MinRNN(nn.Module):
    """Shared body of MinGRU / MinLSTM: layers x directions over :func:`minrnn_sequence`."""

    kind: str = ""
    gates: int = 0
    _rnnkit_traceable = True  # rnnkit.trace records h and the gates (they read only x)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        backend: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        layer_norm: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        weight_drop: float = 0.0,
        peephole: bool = False,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.input_size = _checks.check_int("input_size", input_size, minimum=1)
        self.hidden_size = _checks.check_int("hidden_size", hidden_size, minimum=1)
        self.num_layers = _checks.check_int("num_layers", num_layers, minimum=1)
        self.bias = _checks.check_bool("bias", bias)
        self.batch_first = _checks.check_bool("batch_first", batch_first)
        self.dropout = _checks.check_probability("dropout", dropout)
        self.bidirectional = _checks.check_bool("bidirectional", bidirectional)
        self.backend = backends.check_name(name, self.kind, backend)
        self.options = CellOptions.named(
            name,
            layer_norm=layer_norm,
            recurrent_dropout=recurrent_dropout,
            zoneout=zoneout,
            weight_drop=weight_drop,
            peephole=peephole,
        )
        self.options.check(name, self.kind)
        self.last_backend: str | None = None
        self.backend_reason: str | None = None
        self.num_directions = 2 if bidirectional else 1
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self._names: list[tuple[str, str | None]] = []
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size * self.num_directions
            for d in range(self.num_directions):
                sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
                w = nn.Parameter(torch.empty(self.gates * hidden_size, in_size, **factory))
                setattr(self, "weight_ih" + sfx, w)
                b_name = None
                if bias:
                    b_name = "bias_ih" + sfx
                    b = nn.Parameter(torch.empty(self.gates * hidden_size, **factory))
                    setattr(self, b_name, b)
                self._names.append(("weight_ih" + sfx, b_name))
        self._suffixes = [w.removeprefix("weight_ih") for w, _ in self._names]
        rows = self.gates * hidden_size
        self._option_names = register_parameters(
            self, self.options, self.kind, self._suffixes, hidden_size, rows, factory
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias U(-1/sqrt(H), 1/sqrt(H)), as torch.nn.GRU."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for name, p in self.named_parameters():
            if name not in self._option_names:
                nn.init.uniform_(p, -k, k)
        CellOptions.reset(self, self._option_names, self.hidden_size)

    def _params(self, k: int) -> tuple[Tensor, Tensor | None]:
        w, b = self._names[k]
        return getattr(self, w), (getattr(self, b) if b is not None else None)

    def _inputs(self, k: int, x: Tensor) -> tuple[tuple[Any, ...], StepOptions]:
        """The weights and option tensors of layer-direction ``k`` for ``x`` (B, T, I)."""
        return self.options.direction(
            self, self._suffixes[k], self._params(k), x, family=self.kind,
            state_size=self.hidden_size, training=self.training,
        )  # fmt: skip

    def forward(
        self, input: Tensor, hx: Tensor | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        def gates(  # the step's gates, every step at once (they read only x)
            k: int, x: Tensor, h: Tensor, h0: Tensor, weights: tuple[Any, ...], options: StepOptions
        ) -> dict[str, Tensor]:
            found: dict[str, Tensor] = {}
            step = _STEPS[self.kind]
            step(x, shift_right(h, h0), *weights, ln_ih=options.ln_ih, gates=found)
            return found

        return runner.forward_tensor_state(self, self.kind, input, hx, lengths, self._inputs, gates)

    def step(self, x_t: Tensor, h: Tensor | None = None) -> Tensor:
        """One step of every layer, for generation: x_t (B, I), h (num_layers, B, H) or None.

        Returns the new state ``(num_layers, B, H)``; the top layer's output is ``h[-1]``.
        Running ``step`` over a sequence gives the same numbers as ``forward``.
        """
        name = type(self).__name__
        if self.bidirectional:
            raise ValueError(f"{name}.step runs forward in time; a bidirectional layer cannot")
        _checks.check_rank(f"{name}.step", x_t, 2, "(B, input_size)")
        if x_t.shape[1] != self.input_size:
            raise ValueError(f"{name}.step expects {self.input_size} features, got {x_t.shape[1]}")
        h = _checks.check_hx(
            f"{name}.step", h, (self.num_layers, x_t.shape[0], self.hidden_size), x_t
        )
        step, inp, new = _STEPS[self.kind], x_t, []
        for layer in range(self.num_layers):
            weights, options = self._inputs(layer, inp[:, None])  # one step: T = 1
            keep = options.zoneout_h  # (B, 1, H) samples in training, p in evaluation
            keep = keep[:, 0] if keep is not None and keep.dim() == 3 else keep
            inp = step(inp, h[layer], *weights, ln_ih=options.ln_ih, keep_h=keep)  # (B, H)
            new.append(inp)  # feeds the next layer
        return torch.stack(new, 0)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        if self.bidirectional:
            s += ", bidirectional=True"
        s += ", batch_first=True" if self.batch_first else ""
        return s + self.options.repr_parts()


_DOC = r"""A multi-layer {title} (Feng et al. 2024), trained with a parallel scan over time.

    .. math::
{math}

    with :math:`g(x) = x + 0.5` for :math:`x \ge 0` and :math:`\sigma(x)` below. The gates
    read only the input, so ``forward`` computes every step at once by a log-space scan
    (``backend="scan"``, the default) and :meth:`step` runs one step for generation; the
    two agree to float precision. Stack layers for expressivity (the paper uses 3+).

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional:
            as in :class:`torch.nn.GRU`.
        backend: ``"scan"`` / ``"auto"`` (parallel) or ``"reference"`` (a loop over steps).
        layer_norm, zoneout: (keyword) the cell options of :mod:`rnnkit.layers.options`:
            layer norm of the gate pre-activations ``W x_t`` (the scan keeps it), zoneout
            of ``h`` (the reference runs it: 0/1 keep weights would put log 0 into the
            scan). ``recurrent_dropout``, ``weight_drop`` and ``peephole`` are refused: the
            gates read no ``h_{{t-1}}`` and there is no cell state.

    Inputs: ``input, hx=None, lengths=None``
        input: ``(T, B, I)``, ``(B, T, I)`` with batch_first or ``(T, I)`` unbatched;
        hx: ``(num_layers * D, B, H)`` (zeros by default); lengths: ``(B,)`` int64.

    Outputs: ``output (T, B, D * H)`` (zeros at padding), ``h_n (num_layers * D, B, H)``
    (each sequence's state at its last real step).

    Attributes:
        weight_ih_l{{k}}: ``({gates}H, in)`` with the gate rows in the order ({order});
        bias_ih_l{{k}}: ``({gates}H,)``; suffix ``_reverse`` for the second direction.

    Example::

        >>> rnn = rnnkit.{title}(8, 64, num_layers=3, batch_first=True)
        >>> out, h_n = rnn(torch.randn(4, 4096, 8))       # parallel over time
        >>> h = rnn.step(torch.randn(4, 8), h_n)          # one more step, for generation
    """


class MinGRU(_MinRNN):
    kind, gates = "mingru", 2
    __doc__ = _DOC.format(
        title="MinGRU",
        gates=2,
        order="z, h",
        math="        z_t = \\sigma(W_z x_t + b_z), \\quad "
        "h_t = (1 - z_t) \\odot h_{t-1} + z_t \\odot g(W_h x_t + b_h)",
    )


class MinLSTM(_MinRNN):
    kind, gates = "minlstm", 3
    __doc__ = _DOC.format(
        title="MinLSTM",
        gates=3,
        order="f, i, h",
        math="        f_t = \\sigma(W_f x_t + b_f), \\; i_t = \\sigma(W_i x_t + b_i), \\quad "
        "h_t = \\frac{f_t}{f_t + i_t} \\odot h_{t-1} + \\frac{i_t}{f_t + i_t} \\odot "
        "g(W_h x_t + b_h)",
    )
