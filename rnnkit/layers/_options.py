"""The regularising and normalising options of ``rnnkit.LSTM`` / ``GRU`` / ``RNN``.

``layer_norm``, ``recurrent_dropout``, ``zoneout``, ``weight_drop`` and ``peephole`` (LSTM)
are the cell math of :mod:`rnnkit.cells.extended`; this module owns what a layer adds:
checking the option values, the extra parameters (``ln_ih_weight_l0``, ``weight_ci_l0``
...), sampling the masks (one recurrent-dropout mask per sequence, a zoneout mask per step,
one DropConnect mask of ``W_hh`` per forward pass; none in evaluation) and running one
layer-direction's option tensors (:class:`~rnnkit.layers.backends.StepOptions`) that the
backends hand to the extended cell. :class:`CellOptions` is mixed into the layers before
``RecurrentBase``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.layers import _checks, backends
from rnnkit.layers.backends import NO_OPTIONS, StepOptions

__all__ = ["CellOptions", "dropout_mask", "zoneout_weights"]


def dropout_mask(shape: tuple[int, ...], p: float, like: Tensor) -> Tensor:
    """An inverted-dropout mask: 0 with probability ``p``, else ``1 / (1 - p)`` (mean 1)."""
    keep = torch.empty(shape, device=like.device, dtype=like.dtype).bernoulli_(1.0 - p)
    return keep.div_(1.0 - p)


def zoneout_weights(shape: tuple[int, ...], p: float, like: Tensor, training: bool) -> Tensor:
    """Keep-previous weights of zoneout: 0/1 samples with P(1) = ``p`` in training, and the
    expectation ``p`` (a broadcastable scalar) in evaluation."""
    if training:
        return torch.empty(shape, device=like.device, dtype=like.dtype).bernoulli_(p)
    return torch.full((), p, device=like.device, dtype=like.dtype)


class CellOptions:
    """Mixin for ``RecurrentBase`` subclasses: the options, their parameters and runs.

    Call :meth:`_init_options` at the end of ``__init__``. With every option off the layer
    is exactly the plain one (same parameters, same backends, ``native`` allowed).
    """

    _cell_kind: str = ""  # "lstm", "gru" or "rnn" (the extended cell's kind)

    def _init_options(
        self,
        *,
        layer_norm: bool,
        recurrent_dropout: float,
        zoneout: float,
        weight_drop: float,
        peephole: bool,
        device: torch.device | str | None,
        dtype: torch.dtype | None,
    ) -> None:
        name = type(self).__name__
        for arg, value in (("layer_norm", layer_norm), ("peephole", peephole)):
            if not isinstance(value, bool):
                raise TypeError(f"{name}: {arg} must be a bool, got {value!r}")
        if peephole and self._cell_kind != "lstm":
            raise ValueError(f"{name}: peephole applies to LSTM only")
        self.layer_norm = layer_norm
        self.recurrent_dropout = _checks.check_probability("recurrent_dropout", recurrent_dropout)
        self.zoneout = _checks.check_probability("zoneout", zoneout)
        self.weight_drop = _checks.check_probability("weight_drop", weight_drop)
        self.peephole = peephole
        if self.has_options:
            if self.proj_size > 0:
                raise ValueError(f"{name}: the cell options do not support proj_size > 0")
            reason = (
                backends.get(self.backend).refusal(
                    backends.Request(self.family, options=self._options_on())
                )
                if self.backend != "auto"
                else None
            )
            if reason is not None:
                raise ValueError(
                    f"{name}: backend={self.backend!r} {reason}; use backend='auto' or "
                    "'bptt' (rnnkit's BPTT) or 'reference'"
                )
        factory = {"device": device, "dtype": dtype}
        G, H = self.gate_count * self.hidden_size, self.hidden_size
        self._option_names: list[str] = []
        for layer in range(self.num_layers):
            for direction in range(self.num_directions):
                sfx = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = {}
                if layer_norm:
                    shapes |= {f"ln_ih_weight{sfx}": G, f"ln_ih_bias{sfx}": G}
                    shapes |= {f"ln_hh_weight{sfx}": G, f"ln_hh_bias{sfx}": G}
                    if self._cell_kind == "lstm":
                        shapes |= {f"ln_c_weight{sfx}": H, f"ln_c_bias{sfx}": H}
                if peephole:
                    shapes |= {f"weight_ci{sfx}": H, f"weight_cf{sfx}": H, f"weight_co{sfx}": H}
                for pname, size in shapes.items():
                    self.register_parameter(pname, nn.Parameter(torch.empty(size, **factory)))
                self._option_names += list(shapes)
        self._reset_options()

    @property
    def has_options(self) -> bool:
        """True when any option is on (the layer then runs the extended cell)."""
        return bool(
            getattr(self, "layer_norm", False)
            or getattr(self, "peephole", False)
            or getattr(self, "recurrent_dropout", 0.0)
            or getattr(self, "zoneout", 0.0)
            or getattr(self, "weight_drop", 0.0)
        )

    def _reset_options(self) -> None:
        """Layer-norm gains 1 and biases 0; peepholes U(-1/sqrt(H), 1/sqrt(H))."""
        bound = 1.0 / self.hidden_size**0.5
        for pname in getattr(self, "_option_names", []):
            p = getattr(self, pname)
            if pname.startswith("ln_"):
                nn.init.ones_(p) if "_weight" in pname else nn.init.zeros_(p)
            else:
                nn.init.uniform_(p, -bound, bound)

    def reset_parameters(self) -> None:
        """The plain layer's init, then the options' parameters."""
        super().reset_parameters()
        self._reset_options()

    def _options_on(self) -> frozenset[str]:
        """Names of the options that are on (the backend registry's ``Request.options``)."""
        flags = ("layer_norm", "recurrent_dropout", "zoneout", "weight_drop", "peephole")
        return frozenset(n for n in flags if getattr(self, n, False))

    def _direction_inputs(
        self, x: Tensor, layer: int, direction: int
    ) -> tuple[tuple[Tensor | None, ...], StepOptions]:
        """The weights (``W_hh`` DropConnect-masked in training) and the option tensors of
        one layer-direction, with freshly sampled masks for this call."""
        weights = self._direction_weights(layer, direction)
        if not self.has_options:
            return weights, NO_OPTIONS
        sfx = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        opt = lambda *names: tuple(getattr(self, n + sfx) for n in names)  # noqa: E731
        w_ih, w_hh, b_ih, b_hh, w_hr = weights
        B, T = x.shape[0], x.shape[1]
        H = self.hidden_size
        training = self.training
        if training and self.weight_drop > 0:  # DropConnect: one mask per forward pass
            w_hh = w_hh * dropout_mask(tuple(w_hh.shape), self.weight_drop, w_hh)
        rec_mask = None
        if training and self.recurrent_dropout > 0:  # one mask per sequence, every step
            rec_mask = dropout_mask((B, H), self.recurrent_dropout, x)
        zh = zc = None
        lstm = self._cell_kind == "lstm"
        if self.zoneout > 0:
            zh = zoneout_weights((B, T, H), self.zoneout, x, training)
            if lstm:
                zc = zoneout_weights((B, T, H), self.zoneout, x, training)
        options = StepOptions(
            ln_ih=opt("ln_ih_weight", "ln_ih_bias") if self.layer_norm else None,
            ln_hh=opt("ln_hh_weight", "ln_hh_bias") if self.layer_norm else None,
            ln_c=opt("ln_c_weight", "ln_c_bias") if self.layer_norm and lstm else None,
            peephole=opt("weight_ci", "weight_cf", "weight_co") if self.peephole else None,
            rec_mask=rec_mask,
            zoneout_h=zh,
            zoneout_c=zc,
        )
        return (w_ih, w_hh, b_ih, b_hh, w_hr), options

    def _trace_gates(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if self.has_options:
            raise ValueError(
                f"{type(self).__name__}: tracing records the plain cell's gates; it does not "
                "support layers with layer_norm/dropout/zoneout/peephole options yet"
            )
        return super()._trace_gates(*args, **kwargs)

    def _options_repr(self) -> str:
        parts = []
        if self.layer_norm:
            parts.append("layer_norm=True")
        for n in ("recurrent_dropout", "zoneout", "weight_drop"):
            if getattr(self, n):
                parts.append(f"{n}={getattr(self, n)}")
        if self.peephole:
            parts.append("peephole=True")
        return "".join(", " + p for p in parts)

    def extra_repr(self) -> str:
        return super().extra_repr() + self._options_repr()
