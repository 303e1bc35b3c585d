"""``rnnkit.MinGRU`` and ``rnnkit.MinLSTM`` (Feng et al. 2024): parallel-scan layers."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.cells.minrnn import _STEPS
from rnnkit.cells.padded import shift_right
from rnnkit.layers import _checks, backends, runner

__all__ = ["MinGRU", "MinLSTM"]


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
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias U(-1/sqrt(H), 1/sqrt(H)), as torch.nn.GRU."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def _params(self, k: int) -> tuple[Tensor, Tensor | None]:
        w, b = self._names[k]
        return getattr(self, w), (getattr(self, b) if b is not None else None)

    def forward(
        self, input: Tensor, hx: Tensor | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        def gates(k: int, x: Tensor, h: Tensor, h0: Tensor) -> dict[str, Tensor]:
            found: dict[str, Tensor] = {}  # the step's gates, every step at once
            _STEPS[self.kind](x, shift_right(h, h0), *self._params(k), gates=found)
            return found

        return runner.forward_tensor_state(self, self.kind, input, hx, lengths, self._params, gates)

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
            inp = step(inp, h[layer], *self._params(layer))  # (B, H), feeds the next layer
            new.append(inp)
        return torch.stack(new, 0)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s + (", batch_first=True" if self.batch_first else "")


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
