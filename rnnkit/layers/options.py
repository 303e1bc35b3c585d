"""The cell options of ``rnnkit.LSTM`` / ``GRU`` / ``RNN`` as one frozen value.

``layer_norm``, ``recurrent_dropout``, ``zoneout``, ``weight_drop`` and ``peephole`` (LSTM)
are the cell math of :mod:`rnnkit.cells.extended`. A layer holds one :class:`CellOptions`
(``layer.options``) and asks it for what the options add, by composition:

* :meth:`CellOptions.parameter_shapes`: the extra parameters of one layer-direction
  (``ln_ih_weight_l0``, ``weight_ci_l0`` ...), registered by the layer under those
  names (so a ``state_dict`` keeps its keys);
* :meth:`CellOptions.reset`: their init (layer-norm gains 1, biases 0; peepholes uniform);
* :meth:`CellOptions.direction`: the option tensors one layer-direction runs with, the
  masks freshly sampled (one recurrent-dropout mask per sequence, a zoneout mask per step,
  one DropConnect mask of ``W_hh`` per forward pass; none in evaluation), as a
  :class:`~rnnkit.layers.backends.StepOptions` the backends hand to the cell.

Which options apply where: all five on LSTM; layer_norm, recurrent_dropout, zoneout and
weight_drop on GRU and RNN (peephole needs a cell state, so LSTM only). IndRNN, MinGRU,
MinLSTM and ConvLSTM take none: their recurrences are element-wise, input-only or
convolutional, and the options' published forms are for the matrix recurrences.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.layers._checks import check_probability
from rnnkit.layers.backends import NO_OPTIONS, StepOptions

__all__ = ["NO_CELL_OPTIONS", "CellOptions", "dropout_mask", "zoneout_weights"]

_FLAGS = ("layer_norm", "peephole")
_PROBABILITIES = ("recurrent_dropout", "zoneout", "weight_drop")


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


@dataclass(frozen=True)
class CellOptions:
    """The cell options of one layer; all off by default (the plain layer).

    Attributes:
        layer_norm: layer-normalise the input and recurrent pre-activations separately
            (and the LSTM cell state before its ``tanh``), Ba et al. 2016.
        recurrent_dropout: variational dropout of ``h_{t-1}`` (one mask per sequence).
        zoneout: probability of keeping each unit's previous state (Krueger et al. 2017).
        weight_drop: DropConnect of ``W_hh``, one mask per forward pass (Merity et al.).
        peephole: LSTM only: diagonal ``w_ci, w_cf, w_co`` from the cell state to the gates.
    """

    layer_norm: bool = False
    recurrent_dropout: float = 0.0
    zoneout: float = 0.0
    weight_drop: float = 0.0
    peephole: bool = False

    def __post_init__(self) -> None:
        for name in _FLAGS:
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool, got {value!r}")
        for name in _PROBABILITIES:
            object.__setattr__(self, name, check_probability(name, getattr(self, name)))

    @classmethod
    def named(cls, layer: str, **values: Any) -> CellOptions:
        """``CellOptions(**values)``, an error naming ``layer`` as well as the option."""
        try:
            return cls(**values)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{layer}: {error}") from None

    @property
    def on(self) -> frozenset[str]:
        """Names of the options that are on (the backend registry's ``Request.options``)."""
        return frozenset(f.name for f in fields(self) if getattr(self, f.name))

    @property
    def any(self) -> bool:
        """Whether any option is on (the layer then runs the extended cell)."""
        return bool(self.on)

    def check(self, layer: str, family: str) -> None:
        """Refuse an option the family's math has no place for."""
        if self.peephole and family != "lstm":
            raise ValueError(f"{layer}: peephole applies to LSTM only")

    def parameter_shapes(self, family: str, hidden: int, gate_rows: int) -> dict[str, int]:
        """The extra parameters of one layer-direction, name (without the ``_l{k}`` suffix)
        -> size: layer-norm gains and biases ``(G,)`` (LSTM cell norm ``(H,)``) and the
        peepholes ``(H,)``."""
        shapes: dict[str, int] = {}
        if self.layer_norm:
            shapes |= {"ln_ih_weight": gate_rows, "ln_ih_bias": gate_rows}
            shapes |= {"ln_hh_weight": gate_rows, "ln_hh_bias": gate_rows}
            if family == "lstm":
                shapes |= {"ln_c_weight": hidden, "ln_c_bias": hidden}
        if self.peephole:
            shapes |= {"weight_ci": hidden, "weight_cf": hidden, "weight_co": hidden}
        return shapes

    @staticmethod
    def reset(module: nn.Module, names: list[str], hidden: int) -> None:
        """Layer-norm gains 1 and biases 0; peepholes U(-1/sqrt(H), 1/sqrt(H))."""
        bound = 1.0 / hidden**0.5
        for name in names:
            p = getattr(module, name)
            if name.startswith("ln_"):
                nn.init.ones_(p) if "_weight" in name else nn.init.zeros_(p)
            else:
                nn.init.uniform_(p, -bound, bound)

    def direction(
        self,
        module: nn.Module,
        suffix: str,
        weights: tuple[Tensor | None, ...],
        x: Tensor,
        *,
        family: str,
        state_size: int,
        training: bool,
    ) -> tuple[tuple[Tensor | None, ...], StepOptions]:
        """The weights (``W_hh`` DropConnect-masked in training) and option tensors of one
        layer-direction, the masks sampled for this call.

        Args:
            module: the layer holding the option parameters (``ln_ih_weight{suffix}``...).
            suffix: ``_l{k}`` or ``_l{k}_reverse``.
            weights: ``(w_ih, w_hh, b_ih, b_hh, w_hr)``.
            x: ``(B, T, I_k)``: the masks' batch, steps, device and dtype.
            family: ``"lstm"``, ``"gru"``, ``"rnn_tanh"`` or ``"rnn_relu"``.
            state_size: the size of ``h`` (``H_out``).
            training: sample the masks (else none, and zoneout's expectation).
        """
        if not self.any:
            return weights, NO_OPTIONS

        def pair(a: str, b: str) -> tuple[Tensor, Tensor]:
            return getattr(module, a + suffix), getattr(module, b + suffix)

        def peepholes() -> tuple[Tensor, Tensor, Tensor]:
            return (*pair("weight_ci", "weight_cf"), getattr(module, "weight_co" + suffix))

        w_ih, w_hh, b_ih, b_hh, w_hr = weights
        assert w_hh is not None, "a layer-direction without W_hh"
        B, T, H = x.shape[0], x.shape[1], state_size
        lstm = family == "lstm"
        if training and self.weight_drop > 0:  # DropConnect: one mask per forward pass
            w_hh = w_hh * dropout_mask(tuple(w_hh.shape), self.weight_drop, w_hh)
        rec_mask = None
        if training and self.recurrent_dropout > 0:  # one mask per sequence, every step
            rec_mask = dropout_mask((B, H), self.recurrent_dropout, x)
        zh = zc = None
        if self.zoneout > 0:
            zh = zoneout_weights((B, T, H), self.zoneout, x, training)
            if lstm:
                cell: int = module.hidden_size  # type: ignore[assignment]
                zc = zoneout_weights((B, T, cell), self.zoneout, x, training)
        options = StepOptions(
            ln_ih=pair("ln_ih_weight", "ln_ih_bias") if self.layer_norm else None,
            ln_hh=pair("ln_hh_weight", "ln_hh_bias") if self.layer_norm else None,
            ln_c=pair("ln_c_weight", "ln_c_bias") if self.layer_norm and lstm else None,
            peephole=peepholes() if self.peephole else None,
            rec_mask=rec_mask,
            zoneout_h=zh,
            zoneout_c=zc,
        )
        return (w_ih, w_hh, b_ih, b_hh, w_hr), options

    def repr_parts(self) -> str:
        """``, layer_norm=True, zoneout=0.1`` for the options that are on."""
        return "".join(
            f", {f.name}={getattr(self, f.name)}" for f in fields(self) if getattr(self, f.name)
        )


NO_CELL_OPTIONS = CellOptions()
