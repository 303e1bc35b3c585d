"""``make_recurrent(model_cfg, input_size)``: the recurrent stack a model config names.

One small table maps ``model.cell`` to a builder. Every builder returns a batch-first
module called as ``stack(x, lengths=lengths) -> (output, state)`` with ``x`` ``(B, T, I)``,
``lengths`` ``(B,)`` int64 (padding is skipped) and ``output`` ``(B, T, D * H)``
(D = 2 when bidirectional), zero at padded steps. Adding a cell family: write a builder
and add it to :data:`RECURRENT`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from torch import nn

from rnnkit.config import ModelConfig
from rnnkit.errors import RnnkitError

Builder = Callable[[ModelConfig, int], nn.Module]

# Options only some layers take: passed on when set, so a layer without them refuses loudly.
_OPTIONAL = {
    "layer_norm": False,
    "recurrent_dropout": 0.0,
    "zoneout": 0.0,
    "weight_drop": 0.0,
    "peephole": False,
}


def _standard(class_name: str) -> Builder:
    """A builder for a torch.nn-compatible rnnkit layer (``rnnkit.LSTM``, ``GRU``, ``RNN``)."""

    def build(cfg: ModelConfig, input_size: int) -> nn.Module:
        import rnnkit.layers as layers

        layer_cls = getattr(layers, class_name)
        kwargs = {
            "num_layers": cfg.num_layers,
            "batch_first": True,
            "dropout": cfg.dropout if cfg.num_layers > 1 else 0.0,
            "bidirectional": cfg.bidirectional,
            "backend": cfg.backend,
        }
        if class_name == "RNN":
            kwargs["nonlinearity"] = cfg.nonlinearity
        for key, default in _OPTIONAL.items():
            value = getattr(cfg, key)
            if value != default:
                kwargs[key] = value
        try:
            return layer_cls(input_size, cfg.hidden_size, **kwargs)
        except TypeError as e:
            raise RnnkitError(f"model.cell={cfg.cell!r} does not take these options: {e}") from None

    return build


def _family(class_name: str, module: str, backends: tuple[str, ...]) -> Builder:
    """A builder for a new family (``rnnkit.IndRNN``, ``MinGRU``, ``MinLSTM``), the class
    ``class_name`` of ``rnnkit.layers.<module>``: the same stack arguments, none of the
    LSTM/GRU cell options, its own backends. The layer module is imported on first use,
    from the layers package (never from the top-level ``rnnkit``, which sits above models)."""

    def build(cfg: ModelConfig, input_size: int) -> nn.Module:
        for key, default in _OPTIONAL.items():
            if getattr(cfg, key) != default:
                raise RnnkitError(
                    f"model.{key}={getattr(cfg, key)!r} applies to lstm/gru/rnn cells, "
                    f"not to model.cell={cfg.cell!r}"
                )
        if cfg.backend not in backends:
            raise RnnkitError(
                f"model.backend={cfg.backend!r} is not one of {', '.join(backends)} "
                f"(the backends of model.cell={cfg.cell!r})"
            )
        layer_cls = getattr(importlib.import_module(f"rnnkit.layers.{module}"), class_name)
        return layer_cls(
            input_size,
            cfg.hidden_size,
            num_layers=cfg.num_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
            bidirectional=cfg.bidirectional,
            backend=cfg.backend,
        )

    return build


RECURRENT: dict[str, Builder] = {
    "lstm": _standard("LSTM"),
    "gru": _standard("GRU"),
    "rnn": _standard("RNN"),
    "indrnn": _family("IndRNN", "indrnn", ("auto", "bptt", "reference")),
    "mingru": _family("MinGRU", "minrnn", ("auto", "scan", "reference")),
    "minlstm": _family("MinLSTM", "minrnn", ("auto", "scan", "reference")),
}


def make_recurrent(model_cfg: ModelConfig, input_size: int) -> nn.Module:
    """The recurrent stack for ``model_cfg`` reading ``input_size`` features per step.

    Returns a module ``(x (B, T, input_size), lengths=(B,)) -> (output (B, T, D*H), state)``.
    """
    if model_cfg.cell not in RECURRENT:
        known = ", ".join(sorted(RECURRENT))
        raise RnnkitError(f"model.cell: {model_cfg.cell!r} is not one of {known}")
    if model_cfg.hidden_size < 1 or model_cfg.num_layers < 1:
        raise RnnkitError(
            f"model.hidden_size and model.num_layers must be >= 1, got {model_cfg.hidden_size} "
            f"and {model_cfg.num_layers}"
        )
    if not 0.0 <= model_cfg.dropout < 1.0:
        raise RnnkitError(f"model.dropout: expected a value in [0, 1), got {model_cfg.dropout}")
    return RECURRENT[model_cfg.cell](model_cfg, input_size)


def output_size(model_cfg: ModelConfig) -> int:
    """Features per step of the stack's output: ``hidden_size x directions``."""
    return model_cfg.hidden_size * (2 if model_cfg.bidirectional else 1)
