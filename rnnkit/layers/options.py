r"""The cell options of ``rnnkit.LSTM`` / ``GRU`` / ``RNN`` as one frozen value.

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

Which options apply where (:data:`NOT_APPLICABLE` holds the reasons, and the layer refuses
such an option by name at construction):

=================  =====  =====  =====  ======  ===============  ========
option             LSTM   GRU    RNN    IndRNN  MinGRU/MinLSTM   ConvLSTM
=================  =====  =====  =====  ======  ===============  ========
layer_norm         yes    yes    yes    yes*    yes*             yes**
recurrent_dropout  yes    yes    yes    yes     no               yes
zoneout            yes    yes    yes    yes     yes              yes
weight_drop        yes    yes    yes    yes     no               yes
peephole           yes    no     no     no      no               yes**
=================  =====  =====  =====  ======  ===============  ========

\* of the input part ``W x_t`` only: IndRNN's recurrent term ``u * h`` is per unit (a norm
across units would couple the independent units), and the minimal cells have no recurrent
term. \*\* over channels and space with a per-channel gain; peepholes one weight per channel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.layers._checks import check_probability
from rnnkit.layers.backends import NO_OPTIONS, StepOptions

__all__ = [
    "NOT_APPLICABLE",
    "NO_CELL_OPTIONS",
    "OPTION_NAMES",
    "CellOptions",
    "dropout_mask",
    "zoneout_weights",
]

_FLAGS = ("layer_norm", "peephole")
_PROBABILITIES = ("recurrent_dropout", "zoneout", "weight_drop")
OPTION_NAMES = ("layer_norm", "recurrent_dropout", "zoneout", "weight_drop", "peephole")

_NO_CELL = "peephole applies to LSTM only (and ConvLSTM): it reads the cell state c; {} has none"
_INPUT_ONLY = (
    "{} does not apply to {}: its gates read only x_t, h_{{t-1}} enters no weight, so there "
    "is no {}"
)
# family -> option -> why the option's math has no place in that family (the error message)
NOT_APPLICABLE: dict[str, dict[str, str]] = {
    "lstm": {},
    "gru": {"peephole": _NO_CELL.format("the GRU")},
    "rnn_tanh": {"peephole": _NO_CELL.format("the Elman RNN")},
    "rnn_relu": {"peephole": _NO_CELL.format("the Elman RNN")},
    "indrnn": {"peephole": _NO_CELL.format("IndRNN")},
    **{
        family: {
            "peephole": _NO_CELL.format(name),
            "recurrent_dropout": _INPUT_ONLY.format(
                "recurrent_dropout", name, "recurrent input to drop"
            ),
            "weight_drop": _INPUT_ONLY.format(
                "weight_drop", name, "recurrent weight matrix to DropConnect"
            ),
        }
        for family, name in (("mingru", "MinGRU"), ("minlstm", "MinLSTM"))
    },
    "convlstm": {},
}
_RECURRENT_MATRIX = ("lstm", "gru", "rnn_tanh", "rnn_relu", "convlstm")  # have W_hh (ln_hh)
_CELL_STATE = ("lstm", "convlstm")  # have c (ln_c, zoneout of c, peepholes)


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
        """Refuse an option the family's math has no place for (:data:`NOT_APPLICABLE`)."""
        for name in sorted(self.on):
            reason = NOT_APPLICABLE[family].get(name)
            if reason is not None:
                raise ValueError(f"{layer}: {reason}")

    def parameter_shapes(self, family: str, hidden: int, gate_rows: int) -> dict[str, int]:
        """The extra parameters of one layer-direction, name (without the ``_l{k}`` suffix)
        -> size: layer-norm gains and biases ``(G,)`` (LSTM cell norm ``(H,)``) and the
        peepholes ``(H,)``."""
        shapes: dict[str, int] = {}
        if self.layer_norm:
            shapes |= {"ln_ih_weight": gate_rows, "ln_ih_bias": gate_rows}
            if family in _RECURRENT_MATRIX:
                shapes |= {"ln_hh_weight": gate_rows, "ln_hh_bias": gate_rows}
            if family in _CELL_STATE:
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
        state_size: int | tuple[int, ...],
        training: bool,
        cell_size: int | tuple[int, ...] | None = None,
    ) -> tuple[tuple[Tensor | None, ...], StepOptions]:
        """The weights (the recurrent ones DropConnect-masked in training) and option
        tensors of one layer-direction, the masks sampled for this call.

        Args:
            module: the layer holding the option parameters (``ln_ih_weight{suffix}``...).
            suffix: ``_l{k}`` or ``_l{k}_reverse``.
            weights: the family's run weights (``rnnkit.layers.backends.FAMILIES``).
            x: ``(B, T, ...)``: the masks' batch, steps, device and dtype.
            family: the backend registry's family name.
            state_size: the shape of ``h`` after the batch (``H_out``; ``(C_h, *S)``).
            training: sample the masks (else none, and zoneout's expectation).
            cell_size: the shape of ``c`` (LSTM ``H``; ConvLSTM ``(C_h, *S)``); None
                for ``module.hidden_size``.
        """
        if not self.any:
            return weights, NO_OPTIONS

        def pair(a: str, b: str) -> tuple[Tensor, Tensor] | None:
            if not hasattr(module, a + suffix):
                return None
            return getattr(module, a + suffix), getattr(module, b + suffix)

        def peepholes() -> tuple[Tensor, Tensor, Tensor]:
            w_ci, w_cf, w_co = (getattr(module, f"weight_c{g}{suffix}") for g in "ifo")
            return w_ci, w_cf, w_co

        state = (state_size,) if isinstance(state_size, int) else tuple(state_size)
        B, T = x.shape[0], x.shape[1]
        if training and self.weight_drop > 0:  # DropConnect: one mask per forward pass
            weights = _DROP_CONNECT[family](weights, self.weight_drop, state)
        rec_mask = None
        if training and self.recurrent_dropout > 0:  # one mask per sequence, every step
            rec_mask = dropout_mask((B, *state), self.recurrent_dropout, x)
        zh = zc = None
        if self.zoneout > 0:
            zh = zoneout_weights((B, T, *state), self.zoneout, x, training)
            if family in _CELL_STATE:
                size = cell_size if cell_size is not None else int(module.hidden_size)  # type: ignore[arg-type]
                cell = (size,) if isinstance(size, int) else tuple(size)
                zc = zoneout_weights((B, T, *cell), self.zoneout, x, training)
        norm = self.layer_norm
        options = StepOptions(
            ln_ih=pair("ln_ih_weight", "ln_ih_bias") if norm else None,
            ln_hh=pair("ln_hh_weight", "ln_hh_bias") if norm else None,
            ln_c=pair("ln_c_weight", "ln_c_bias") if norm else None,
            peephole=peepholes() if self.peephole else None,
            rec_mask=rec_mask,
            zoneout_h=zh,
            zoneout_c=zc,
        )
        return weights, options

    def repr_parts(self) -> str:
        """``, layer_norm=True, zoneout=0.1`` for the options that are on."""
        return "".join(
            f", {f.name}={getattr(self, f.name)}" for f in fields(self) if getattr(self, f.name)
        )


NO_CELL_OPTIONS = CellOptions()

Weights = tuple[Tensor | None, ...]


def _drop_second(weights: Weights, p: float, state: tuple[int, ...]) -> Weights:
    """DropConnect of ``weights[1]``: ``W_hh`` of the classic cells, IndRNN's ``u``."""
    w_hh = weights[1]
    assert w_hh is not None, "a layer-direction without recurrent weights"
    masked = w_hh * dropout_mask(tuple(w_hh.shape), p, w_hh)
    return (weights[0], masked, *weights[2:])


def _drop_recurrent_half(weights: Weights, p: float, state: tuple[int, ...]) -> Weights:
    """DropConnect of the recurrent half of ConvLSTM's ``weight`` over ``[x_t, h]``: its
    last ``C_h`` input channels."""
    w = weights[0]
    assert w is not None, "a ConvLSTM layer-direction without its weight"
    n_in = w.shape[1] - state[0]
    recurrent = w[:, n_in:] * dropout_mask(tuple(w[:, n_in:].shape), p, w)
    return (torch.cat([w[:, :n_in], recurrent], 1), *weights[1:])


# family -> how weight_drop masks its recurrent weights (families with recurrent weights)
_DROP_CONNECT = {
    **dict.fromkeys(("lstm", "gru", "rnn_tanh", "rnn_relu", "indrnn"), _drop_second),
    "convlstm": _drop_recurrent_half,
}


def register_parameters(
    module: nn.Module,
    options: CellOptions,
    family: str,
    suffixes: list[str],
    hidden: int,
    gate_rows: int,
    factory: dict[str, Any],
) -> list[str]:
    """Register the option parameters of every layer-direction of ``module`` (names
    ``ln_ih_weight_l0``, ``weight_ci_l1_reverse``, ... for ``suffixes`` ``_l0`` ...) and
    return their names, for :meth:`CellOptions.reset`. Registered after the family's own
    parameters, so that the same seed gives the same weights with and without options."""
    names: list[str] = []
    for suffix in suffixes:
        for name, size in options.parameter_shapes(family, hidden, gate_rows).items():
            module.register_parameter(name + suffix, nn.Parameter(torch.empty(size, **factory)))
            names.append(name + suffix)
    return names


def _reader(name: str) -> Callable[[Any], Any]:
    """``lambda layer: layer.options.<name>``."""
    return lambda layer: getattr(layer.options, name)


def option_properties(cls: type) -> type:
    """Give a layer class read-only properties ``layer_norm``, ``zoneout`` ... reading its
    ``options`` (a class decorator)."""
    for name in OPTION_NAMES:
        setattr(cls, name, property(_reader(name), doc=f"``options.{name}``"))
    return cls
