"""Every recurrent family, from one registry of cell specifications.

``SPECS`` describes each family once (how to build a layer, its input, the step function
that holds its math, the gates the trace records); the tests below iterate over it instead
of branching on a family's name: the trace reads the gates the step function returns (no
second copy of the math).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import rnnkit

pytestmark = pytest.mark.one_thread


@dataclass(frozen=True)
class Spec:
    """One cell family as the tests see it.

    Attributes:
        name: the test id.
        family: the backend registry's family name.
        build: ``build(**kwargs)`` a batch-first float64 layer with input size / channels 2
            and hidden size / channels 3 (``kwargs``: num_layers, bidirectional, options).
        shape: the input's feature shape after ``(B, T)``.
        step: ``"module:function"``, the step function the trace calls, or
            ``"module:_STEPS[key]"`` for a function held in a dict.
        gates: the gate names the trace records.
        kwargs: constructor arguments every layer of the spec gets (e.g. proj_size).
    """

    name: str
    family: str
    build_fn: Callable[..., nn.Module]
    shape: tuple[int, ...]
    step: str
    gates: tuple[str, ...]
    kwargs: tuple[tuple[str, Any], ...] = ()

    def build(self, **kwargs: Any) -> nn.Module:
        return self.build_fn(**dict(self.kwargs), **kwargs).double()

    def input(self, B: int, T: int, gen: torch.Generator) -> Tensor:
        return torch.randn(B, T, *self.shape, generator=gen, dtype=torch.float64)


def _classic(cls: type[nn.Module], **fixed: Any) -> Callable[..., nn.Module]:
    return lambda **kw: cls(2, 3, batch_first=True, **fixed, **kw)


def _conv(cls: type[nn.Module]) -> Callable[..., nn.Module]:
    return lambda **kw: cls(2, 3, kernel_size=3, batch_first=True, **kw)


SPECS: tuple[Spec, ...] = (
    Spec("rnn_tanh", "rnn_tanh", _classic(rnnkit.RNN), (2,), "rnnkit.cells.extended:elman_step",
         ("pre",)),
    Spec("rnn_relu", "rnn_relu", _classic(rnnkit.RNN, nonlinearity="relu"), (2,),
         "rnnkit.cells.extended:elman_step", ("pre",)),
    Spec("gru", "gru", _classic(rnnkit.GRU), (2,), "rnnkit.cells.extended:gru_step",
         ("r", "z", "n")),
    Spec("lstm", "lstm", _classic(rnnkit.LSTM), (2,), "rnnkit.cells.extended:lstm_step",
         ("i", "f", "g", "o")),
    Spec("lstm_proj", "lstm", _classic(rnnkit.LSTM), (2,), "rnnkit.cells.extended:lstm_step",
         ("i", "f", "g", "o"), (("proj_size", 2),)),
    Spec("indrnn", "indrnn", _classic(rnnkit.IndRNN), (2,), "rnnkit.layers.indrnn:indrnn_step",
         ("pre",)),
    Spec("mingru", "mingru", _classic(rnnkit.MinGRU), (2,),
         "rnnkit.cells.minrnn:_STEPS[mingru]", ("z",)),
    Spec("minlstm", "minlstm", _classic(rnnkit.MinLSTM), (2,),
         "rnnkit.cells.minrnn:_STEPS[minlstm]", ("f", "i")),
    Spec("convlstm1d", "convlstm", _conv(rnnkit.ConvLSTM1d), (2, 5),
         "rnnkit.cells.convlstm:convlstm_step", ("i", "f", "g", "o")),
    Spec("convlstm2d", "convlstm", _conv(rnnkit.ConvLSTM2d), (2, 3, 4),
         "rnnkit.cells.convlstm:convlstm_step", ("i", "f", "g", "o")),
)  # fmt: skip
BY_NAME = {spec.name: spec for spec in SPECS}


def _patch_step(monkeypatch: pytest.MonkeyPatch, where: str, wrapper: Callable) -> None:
    """Replace the step function named by ``where`` (see :class:`Spec`) by ``wrapper(orig)``."""
    module_name, attr = where.split(":")
    module = importlib.import_module(module_name)
    if "[" in attr:
        table, key = attr[:-1].split("[")
        steps = getattr(module, table)
        monkeypatch.setitem(steps, key, wrapper(steps[key]))
    else:
        monkeypatch.setattr(module, attr, wrapper(getattr(module, attr)))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_trace_gates_are_the_ones_the_step_returns(
    spec: Spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trace calls the family's step function with ``gates`` and records what it
    returned: the step holds the only copy of the gate math."""
    gen = torch.Generator().manual_seed(0)
    layer = spec.build().eval()
    x = spec.input(2, 4, gen)
    returned: list[dict[str, Tensor]] = []

    def wrapper(step: Callable) -> Callable:
        def spy(*args: Any, **kwargs: Any) -> Any:
            result = step(*args, **kwargs)
            if kwargs.get("gates") is not None:
                returned.append(dict(kwargs["gates"]))
            return result

        return spy

    _patch_step(monkeypatch, spec.step, wrapper)
    with rnnkit.trace(layer) as tr:
        layer(x)
    assert returned, f"the trace of {spec.name} did not ask {spec.step} for its gates"
    recorded = tr[""].layers[(0, 0)].gates
    assert set(recorded) == set(spec.gates)
    first = returned[0]
    for name in spec.gates:
        step0 = first[name] if first[name].dim() == recorded[name].dim() - 1 else None
        if step0 is None:  # the step ran on every step at once (previous states known)
            assert torch.equal(first[name], recorded[name])
        else:
            assert torch.equal(step0, recorded[name][:, 0])
