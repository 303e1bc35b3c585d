"""``rnnkit.IndRNN``: independently recurrent layers (Li et al. 2018)."""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.cells.indrnn import indrnn_step
from rnnkit.cells.padded import shift_right
from rnnkit.layers import _checks, backends, runner
from rnnkit.layers.backends import StepOptions
from rnnkit.layers.options import CellOptions, option_properties, register_parameters

__all__ = ["IndRNN"]


@option_properties
class IndRNN(nn.Module):
    r"""A multi-layer IndRNN: every unit has one scalar recurrent weight.

    .. math::
        h_t = \mathrm{relu}(W_{ih} x_t + b + u \odot h_{t-1})

    Element-wise recurrence keeps each unit's gradient through time a product of its own
    ``u * relu'``, so bounding ``|u|`` controls exploding and vanishing gradients directly:
    Li et al. keep ``|u| <= 2 ** (1 / T)`` (``IndRNN.bound(T)``) and, for long memory,
    initialise the last layer's ``u`` near 1. The bound is enforced twice: the forward
    pass uses ``u`` clamped to ``[-recurrent_max, recurrent_max]``, and :meth:`constrain_`
    (call it after each ``optimizer.step()``) clamps the stored weights as the paper does.

    Args:
        input_size: features of the input ``x``.
        hidden_size: units per layer and direction.
        num_layers: stacked layers (layer ``l > 0`` reads layer ``l - 1``'s output).
        bias: add ``b``.
        batch_first: ``(B, T, F)`` input and output instead of ``(T, B, F)``.
        dropout: dropout on the outputs of every layer but the last.
        bidirectional: a second direction reading each sequence backwards in its length.
        recurrent_max: bound on ``|u|``; None for no bound. Default ``2 ** (1 / 100)``.
        recurrent_init: ``u`` is drawn uniformly from this ``(low, high)`` range.
        last_layer_init: if given, the last layer's ``u`` is drawn from this range instead
            (Li et al. use ``(2 ** (-1 / T), 2 ** (1 / T))`` for long memory).
        backend: ``"bptt"`` (hand-written backward), ``"reference"`` (autograd over the
            step) or ``"auto"`` (= bptt).
        layer_norm, recurrent_dropout, zoneout, weight_drop: (keyword) the cell options
            of :mod:`rnnkit.layers.options`: layer norm of the input part ``W_ih x_t``
            (the recurrent term ``u * h`` is per unit and stays so), variational dropout
            of ``h_{t-1}`` in ``u * h``, zoneout of ``h``, DropConnect of ``u``. ``peephole``
            is refused (IndRNN has no cell state).

    Inputs: ``input, hx=None, lengths=None``
        input: ``(T, B, I)`` or ``(B, T, I)`` with batch_first, or ``(T, I)`` unbatched.
        hx: ``(num_layers * D, B, H)`` initial states (zeros by default), ``D`` = 2 if
            bidirectional else 1.
        lengths: ``(B,)`` int64 real lengths in ``[1, T]``; state held and output zero at
            padding.

    Outputs: ``output (T, B, D * H)`` (or batch first), ``h_n (num_layers * D, B, H)``.

    Attributes:
        weight_ih_l{k}: ``(H, I)`` (``(H, D * H)`` for k > 0); weight_hh_l{k}: ``(H,)``;
        bias_l{k}: ``(H,)``; suffix ``_reverse`` for the second direction.

    Example::

        >>> rnn = rnnkit.IndRNN(8, 32, num_layers=2, batch_first=True,
        ...                     recurrent_max=rnnkit.IndRNN.bound(1000))
        >>> out, h_n = rnn(torch.randn(4, 1000, 8))
        >>> rnn.constrain_()  # after optimizer.step()
    """

    _rnnkit_traceable = True  # rnnkit.trace records h and the pre-activation `pre`

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        recurrent_max: float | None = 2 ** (1 / 100),
        recurrent_init: tuple[float, float] = (0.0, 1.0),
        last_layer_init: tuple[float, float] | None = None,
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
        if recurrent_max is not None and (
            isinstance(recurrent_max, bool)
            or not isinstance(recurrent_max, numbers.Real)  # numpy scalars too
            or not math.isfinite(recurrent_max)
            or recurrent_max <= 0
        ):
            raise ValueError(
                f"IndRNN recurrent_max must be a finite number > 0 or None, got {recurrent_max!r}"
            )
        self.input_size = _checks.check_int("input_size", input_size, minimum=1)
        self.hidden_size = _checks.check_int("hidden_size", hidden_size, minimum=1)
        self.num_layers = _checks.check_int("num_layers", num_layers, minimum=1)
        self.bias = _checks.check_bool("bias", bias)
        self.batch_first = _checks.check_bool("batch_first", batch_first)
        self.dropout = _checks.check_probability("dropout", dropout)
        self.bidirectional = _checks.check_bool("bidirectional", bidirectional)
        self.recurrent_max = None if recurrent_max is None else float(recurrent_max)
        self.recurrent_init = tuple(recurrent_init)
        self.last_layer_init = None if last_layer_init is None else tuple(last_layer_init)
        self.backend = backends.check_name("IndRNN", "indrnn", backend)
        self.options = CellOptions.named(
            "IndRNN",
            layer_norm=layer_norm,
            recurrent_dropout=recurrent_dropout,
            zoneout=zoneout,
            weight_drop=weight_drop,
            peephole=peephole,
        )
        self.options.check("IndRNN", "indrnn")
        self.last_backend: str | None = None
        self.backend_reason: str | None = None
        self.num_directions = 2 if bidirectional else 1
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self._names: list[tuple[str, str, str | None]] = []
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size * self.num_directions
            for d in range(self.num_directions):
                sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
                w_ih = nn.Parameter(torch.empty(hidden_size, in_size, **factory))
                w_hh = nn.Parameter(torch.empty(hidden_size, **factory))
                setattr(self, "weight_ih" + sfx, w_ih)
                setattr(self, "weight_hh" + sfx, w_hh)
                b_name = None
                if bias:
                    b_name = "bias" + sfx
                    setattr(self, b_name, nn.Parameter(torch.empty(hidden_size, **factory)))
                self._names.append(("weight_ih" + sfx, "weight_hh" + sfx, b_name))
        self._suffixes = [n[0].removeprefix("weight_ih") for n in self._names]
        self._option_names = register_parameters(
            self, self.options, "indrnn", self._suffixes, hidden_size, hidden_size, factory
        )
        self.reset_parameters()

    @staticmethod
    def bound(steps: int) -> float:
        """Li et al.'s bound on ``|u|`` for sequences of ``steps`` steps: ``2 ** (1 / T)``."""
        return float(2.0 ** (1.0 / steps))

    def reset_parameters(self) -> None:
        """Input weights U(-1/sqrt(H), 1/sqrt(H)), biases 0, ``u`` from ``recurrent_init``."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for i, (w_ih, w_hh, b) in enumerate(self._names):
            nn.init.uniform_(getattr(self, w_ih), -k, k)
            last = i // self.num_directions == self.num_layers - 1
            low, high = (
                self.last_layer_init if last and self.last_layer_init else self.recurrent_init
            )
            nn.init.uniform_(getattr(self, w_hh), low, high)
            if b is not None:
                nn.init.zeros_(getattr(self, b))
        CellOptions.reset(self, self._option_names, self.hidden_size)
        self.constrain_()

    @torch.no_grad()
    def constrain_(self) -> None:
        """Clamp every recurrent weight ``u`` into ``[-recurrent_max, recurrent_max]``."""
        if self.recurrent_max is None:
            return
        for _, w_hh, _ in self._names:
            getattr(self, w_hh).clamp_(-self.recurrent_max, self.recurrent_max)

    def _u(self, name: str) -> Tensor:
        u: Tensor = getattr(self, name)
        if self.recurrent_max is None:
            return u
        return u.clamp(-self.recurrent_max, self.recurrent_max)

    def forward(
        self, input: Tensor, hx: Tensor | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        def inputs(k: int, x: Tensor) -> tuple[tuple[Any, ...], StepOptions]:
            return self.options.direction(
                self, self._suffixes[k], self._weights(k), x, family="indrnn",
                state_size=self.hidden_size, training=self.training,
            )  # fmt: skip

        def gates(  # the step's pre-activation, every step at once
            k: int, x: Tensor, h: Tensor, h0: Tensor, weights: tuple[Any, ...], options: StepOptions
        ) -> dict[str, Tensor]:
            found: dict[str, Tensor] = {}
            rec = None if options.rec_mask is None else options.rec_mask[:, None]  # (B, 1, H)
            h_prev = shift_right(h, h0)
            indrnn_step(x, h_prev, *weights, ln_ih=options.ln_ih, rec_mask=rec, gates=found)
            return found

        return runner.forward_tensor_state(self, "indrnn", input, hx, lengths, inputs, gates)

    def _weights(self, k: int) -> tuple[Tensor, Tensor, Tensor | None]:
        """``(w_ih, u clamped, b)`` of layer-direction ``k``."""
        w_ih, w_hh, b = self._names[k]
        return getattr(self, w_ih), self._u(w_hh), getattr(self, b) if b is not None else None

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.batch_first:
            s += ", batch_first=True"
        return s + f", recurrent_max={self.recurrent_max}" + self.options.repr_parts()
