"""``rnnkit.ConvLSTM1d`` / ``rnnkit.ConvLSTM2d``: spatio-temporal LSTMs (Shi et al. 2015)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.cells.convlstm import convlstm_gates
from rnnkit.layers import _checks, backends, runner
from rnnkit.layers.backends import StepOptions
from rnnkit.layers.options import CellOptions, option_properties, register_parameters

__all__ = ["ConvLSTM1d", "ConvLSTM2d"]


@option_properties
class _ConvLSTMNd(nn.Module):
    """Shared body: ``spatial_dims`` is 1 (sequences of 1-D signals) or 2 (of images)."""

    spatial_dims: int = 0
    _rnnkit_traceable = True  # rnnkit.trace records h, c and the gates i, f, g, o

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        kernel_size: int | tuple[int, ...] = 3,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bidirectional: bool = False,
        backend: str = "auto",
        layer_norm: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        weight_drop: float = 0.0,
        peephole: bool = False,
    ) -> None:
        super().__init__()
        name, n = type(self).__name__, self.spatial_dims
        in_channels = _checks.check_int("in_channels", in_channels, minimum=1)
        hidden_channels = _checks.check_int("hidden_channels", hidden_channels, minimum=1)
        num_layers = _checks.check_int("num_layers", num_layers, minimum=1)
        ks = (kernel_size,) * n if isinstance(kernel_size, int) else tuple(kernel_size)
        if len(ks) != n or not all(isinstance(k, int) and k >= 1 and k % 2 == 1 for k in ks):
            raise ValueError(
                f"{name} kernel_size must be an odd positive int or {n} of them (odd, so "
                f"'same' padding is symmetric), got {kernel_size!r}"
            )
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.kernel_size = ks
        self.num_layers = num_layers
        self.batch_first = _checks.check_bool("batch_first", batch_first)
        self.bidirectional = _checks.check_bool("bidirectional", bidirectional)
        self.num_directions = 2 if self.bidirectional else 1
        self.backend = backends.check_name(name, "convlstm", backend)
        self.options = CellOptions.named(
            name,
            layer_norm=layer_norm,
            recurrent_dropout=recurrent_dropout,
            zoneout=zoneout,
            weight_drop=weight_drop,
            peephole=peephole,
        )
        self.options.check(name, "convlstm")
        self.last_backend: str | None = None  # the backend the latest forward ran on
        self.backend_reason: str | None = None
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self._suffixes = [
            f"_l{layer}" + ("_reverse" if d == 1 else "")
            for layer in range(num_layers)
            for d in range(self.num_directions)
        ]
        for k, sfx in enumerate(self._suffixes):
            c_in = in_channels if k < self.num_directions else hidden_channels * self.num_directions
            w = torch.empty(4 * hidden_channels, c_in + hidden_channels, *ks, **factory)
            setattr(self, f"weight{sfx}", nn.Parameter(w))
            b = nn.Parameter(torch.empty(4 * hidden_channels, **factory)) if bias else None
            setattr(self, f"bias{sfx}", b)
        C_h = hidden_channels
        self._option_names = register_parameters(
            self, self.options, "convlstm", self._suffixes, C_h, 4 * C_h, factory
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as torch's convolutions."""
        for sfx in self._suffixes:
            w = getattr(self, f"weight{sfx}")
            k = 1.0 / math.sqrt(w[0].numel())
            nn.init.uniform_(w, -k, k)
            b = getattr(self, f"bias{sfx}")
            if b is not None:
                nn.init.uniform_(b, -k, k)
        CellOptions.reset(self, self._option_names, self.hidden_channels)

    def _weights(self, k: int) -> tuple[Tensor, Tensor | None]:
        """``(weight, bias)`` of layer-direction ``k``."""
        return getattr(self, f"weight{self._suffixes[k]}"), getattr(
            self, f"bias{self._suffixes[k]}"
        )

    def forward(
        self,
        input: Tensor,
        hx: tuple[Tensor, Tensor] | None = None,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        name, n = type(self).__name__, self.spatial_dims
        space = "L" if n == 1 else "H, W"
        layout = f"(B, T, C, {space})" if self.batch_first else f"(T, B, C, {space})"
        _checks.check_rank(name, input, n + 3, layout)
        x = input if self.batch_first else input.transpose(0, 1)  # (B, T, C, *S)
        B, T, C = x.shape[:3]
        if self.in_channels != C:
            raise ValueError(
                f"{name} expects in_channels={self.in_channels} on dim 2 of {layout}, got {C}"
            )
        spatial = tuple(x.shape[3:])
        lengths = _checks.padded_lengths(name, lengths, B, T, x.device)
        D = self.num_directions
        shape = (self.num_layers * D, B, self.hidden_channels, *spatial)
        if hx is None:
            h0 = c0 = x.new_zeros(shape)
        else:
            if not isinstance(hx, tuple | list) or len(hx) != 2:
                raise TypeError(
                    f"{name}: hx must be a tuple (h_0, c_0) of two tensors, each of shape "
                    f"{shape}, got {type(hx).__name__}"
                )
            weight = self._weights(0)[0]
            h0, c0 = (
                _checks.check_state(name, arg, s, shape, weight)
                for arg, s in zip(("hx[0] (h_0)", "hx[1] (c_0)"), hx, strict=True)
            )
        run = runner.backend_run(self, "convlstm", x, lengths, runner.training_step(self))

        ran: dict[int, tuple[tuple[Any, ...], StepOptions]] = {}  # what each direction ran with

        def direction(
            layer: int, d: int, xd: Tensor, state: tuple[Any, ...]
        ) -> tuple[Tensor, tuple[Any, ...]]:
            k = layer * D + d
            ran[k] = self.options.direction(
                self, self._suffixes[k], self._weights(k), xd, family="convlstm",
                state_size=shape[2:], cell_size=shape[2:], training=self.training,
            )  # fmt: skip
            return run(xd, lengths, state, *ran[k])

        def gates(
            layer: int, d: int, xd: Tensor, h: Tensor, state: tuple[Any, ...]
        ) -> tuple[Tensor | None, dict[str, Tensor]]:
            weights, options = ran[layer * D + d]
            return convlstm_gates(xd, h, state, *weights, **options.as_kwargs())

        out, finals = runner.run_stack(
            x,
            lengths,
            runner.split_states((h0, c0), self.num_layers * D),
            direction,
            runner.Stack(self.num_layers, D, feature_dim=2),
            traced=self,
            gates=gates,
        )
        output = out if self.batch_first else out.transpose(0, 1)
        h_n, c_n = runner.stack_states(finals)
        return output, (h_n, c_n)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.hidden_channels}, kernel_size={self.kernel_size}"
        s += f", num_layers={self.num_layers}"
        s += ", bidirectional=True" if self.bidirectional else ""
        s += f", backend={self.backend!r}" if self.backend != "auto" else ""
        s += ", batch_first=True" if self.batch_first else ""
        return s + self.options.repr_parts()


_DOC = r"""A multi-layer ConvLSTM over {what} (Shi et al. 2015).

    Every step is an LSTM whose matrix products are {n}-D convolutions with 'same' padding,
    so the state keeps the input's spatial shape ``{space}``::

        i, f, g, o = split(W_l * [x_t, h_{{t-1}}] + b_l)      # gate order i, f, g, o
        c_t = sigmoid(f) c_{{t-1}} + sigmoid(i) tanh(g);   h_t = sigmoid(o) tanh(c_t)

    Args:
        in_channels: channels ``C`` of the input.
        hidden_channels: channels ``C_h`` of the state, in every layer.
        kernel_size: an odd int or {n} odd ints ('same' padding keeps ``{space}``).
        num_layers: stacked layers; layer ``l > 0`` reads layer ``l - 1``'s ``h``.
        bias: add ``b_l``.
        batch_first: input ``(B, T, C, {space})`` instead of ``(T, B, C, {space})``.
        bidirectional: (keyword) a second direction per layer reading each sequence
            backwards within its length; outputs concatenated on the channel dim.
        backend: (keyword) ``"auto"`` or a registered backend serving ``convlstm``
            (``rnnkit.layers.backends.available("convlstm")``: ``"reference"``, autograd
            over the step); another is refused with that list.
        layer_norm, recurrent_dropout, zoneout, weight_drop, peephole: (keyword) the cell
            options of :mod:`rnnkit.layers.options`, as on the LSTM: layer norm over
            channels and space (per-channel gain) of the input and recurrent convolutions
            and of ``c``; variational dropout of ``h`` (one mask per sequence); zoneout of
            ``h`` and ``c``; DropConnect of the recurrent half of ``weight``; peepholes
            with one weight per channel (Shi et al.'s are per pixel).

    Inputs: ``input, hx=None, lengths=None``
        input: ``(T, B, C, {space})`` (or batch first); hx: ``(h_0, c_0)`` each
        ``(num_layers * D, B, C_h, {space})``, zeros by default; lengths: ``(B,)`` int64.

    Outputs: ``output, (h_n, c_n)``
        output ``(T, B, D * C_h, {space})`` (or batch first; zeros at padding) and the final
        states ``(num_layers * D, B, C_h, {space})``, held from each sequence's last real
        step (D = 2 if bidirectional else 1).

    Attributes:
        weight_l{{k}}: ``(4 C_h, C_in + C_h, *kernel_size)`` over ``[x, h]`` (``C_in`` is
        ``D * C_h`` for k > 0); bias_l{{k}}: ``(4 C_h,)``; suffix ``_reverse`` for the
        second direction.
        last_backend, backend_reason: the backend of the latest call and why.

    Example::

        >>> rnn = rnnkit.{cls}(3, 16, kernel_size=3, num_layers=2, batch_first=True)
        >>> out, (h_n, c_n) = rnn(torch.randn(4, 10, 3, {example}))
    """


class ConvLSTM1d(_ConvLSTMNd):
    spatial_dims = 1
    __doc__ = _DOC.format(
        what="sequences of 1-D signals", n=1, space="L", cls="ConvLSTM1d", example="32"
    )


class ConvLSTM2d(_ConvLSTMNd):
    spatial_dims = 2
    __doc__ = _DOC.format(
        what="sequences of images (video, radar maps)",
        n=2,
        space="H, W",
        cls="ConvLSTM2d",
        example="24, 24",
    )
