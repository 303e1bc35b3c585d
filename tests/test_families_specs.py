"""Every recurrent family, from one registry of cell specifications.

``SPECS`` describes each family once (how to build a layer, its input, the step function
that holds its math, the gates the trace records); the tests below iterate over it instead
of branching on a family's name: the trace reads the gates the step function returns (no
second copy of the math); every option each family takes, alone and together, with
``proj_size``, two directions, two layers and ragged lengths, on every backend that accepts
it, equals the reference and passes float64 gradcheck. ``CELLS`` does the same for the
classic cells' sequence functions (``tests/test_cells_*.py`` iterate over it).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import rnnkit
import rnnkit.cells
from rnnkit.layers import backends
from rnnkit.layers.options import NOT_APPLICABLE, OPTION_NAMES

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


@dataclass(frozen=True)
class CellSpec:
    """A classic cell's sequence function (``rnnkit.cells``), as the cell-level tests call it.

    Attributes:
        name: ``elman``, ``lstm`` or ``gru``.
        gates: blocks stacked in ``w_ih`` (1, 4, 3).
        states: ``(h,)`` or ``(h, c)``: 1 or 2.
        sequence: ``sequence(x, lengths, states, params, mode) -> (out, final states)``.
    """

    name: str
    gates: int
    states: int
    sequence: Callable[..., tuple[Tensor, tuple[Tensor, ...]]]

    def run(self, x: Tensor, lengths: Tensor, states: Any, params: Any, mode: str) -> Any:
        """``(out, final states)`` over right-padded ``x`` (B, T, I)."""
        return self.sequence(x, lengths, list(states), list(params), mode)


def _elman(x: Tensor, lengths: Tensor, states: list, params: list, mode: str) -> Any:
    out, h = rnnkit.cells.elman_sequence(x, lengths, states[0], *params, mode=mode)
    return out, (h,)


def _lstm(x: Tensor, lengths: Tensor, states: list, params: list, mode: str) -> Any:
    out, h, c = rnnkit.cells.lstm_sequence(x, lengths, *states, *params, mode=mode)
    return out, (h, c)


def _gru(x: Tensor, lengths: Tensor, states: list, params: list, mode: str) -> Any:
    out, h = rnnkit.cells.gru_sequence(x, lengths, states[0], *params, mode=mode)
    return out, (h,)


CELLS: dict[str, CellSpec] = {
    "elman": CellSpec("elman", 1, 1, _elman),
    "lstm": CellSpec("lstm", 4, 2, _lstm),
    "gru": CellSpec("gru", 3, 1, _gru),
}


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


# ----------------------------------------------------------------------------- options

OPTION_VALUES: dict[str, Any] = {
    "layer_norm": True,
    "recurrent_dropout": 0.3,
    "zoneout": 0.3,
    "weight_drop": 0.3,
    "peephole": True,
}


def _applicable(spec: Spec) -> list[str]:
    """The options the library says apply to ``spec``'s family (the rest are refused)."""
    refused = NOT_APPLICABLE[spec.family]
    return [name for name in OPTION_NAMES if name not in refused]


def _option_cases() -> list[tuple[Spec, tuple[str, ...]]]:
    """Every spec with each applicable option alone and with all of them together."""
    cases = []
    for spec in SPECS:
        names = _applicable(spec)
        cases += [(spec, (name,)) for name in names] + [(spec, tuple(names))]
    return cases


def _case_id(case: tuple[Spec, tuple[str, ...]]) -> str:
    spec, names = case
    return f"{spec.name}-{'+'.join(names)}"


def test_every_family_says_which_options_apply() -> None:
    """Each option is applied or refused by name for every family, with the reason."""
    for spec in SPECS:
        for name in OPTION_NAMES:
            reason = NOT_APPLICABLE[spec.family].get(name)
            if reason is None:
                layer = spec.build(**{name: OPTION_VALUES[name]})
                assert getattr(layer, name) == OPTION_VALUES[name]
                assert name in repr(layer)
            else:
                with pytest.raises(ValueError, match=re.escape(reason)):
                    spec.build(**{name: OPTION_VALUES[name]})


LENGTHS = [4, 2, 3]  # ragged: nothing in order


def _run(layer: nn.Module, x: Tensor, seed: int = 7) -> tuple[Tensor, ...]:
    """Outputs and final states, the option masks drawn from ``seed`` (the same masks on
    every call, so every backend and every gradcheck evaluation sees one function)."""
    torch.manual_seed(seed)
    out, state = layer(x, lengths=torch.tensor(LENGTHS))
    return (out, *(state if isinstance(state, tuple) else (state,)))


def _loss(outs: tuple[Tensor, ...]) -> Tensor:
    return sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in outs)


@pytest.mark.parametrize("case", _option_cases(), ids=_case_id)
def test_options_stacked_bidirectional_ragged_agree_on_every_backend(
    case: tuple[Spec, tuple[str, ...]],
) -> None:
    """Options x proj_size (the lstm_proj spec) x bidirectional x 2 layers x ragged lengths,
    in training (masks sampled): every backend that accepts the call gives the outputs,
    final states and all gradients of the reference, and float64 gradcheck passes on each."""
    spec, names = case
    options = {name: OPTION_VALUES[name] for name in names}
    gen = torch.Generator().manual_seed(1)
    x = spec.input(3, 4, gen).requires_grad_()
    torch.manual_seed(0)
    layer = spec.build(num_layers=2, bidirectional=True, **options).train()
    with torch.no_grad():  # IndRNN's zero biases: relu(0) at a step with x = 0, h = 0 is a kink
        for name, p in layer.named_parameters():
            if name.startswith("bias"):
                p.add_(0.2)
    state = {k: v.clone() for k, v in layer.state_dict().items()}
    results: dict[str, list[Tensor]] = {}
    for backend in backends.available(spec.family)[1:]:
        if backends.get(backend).refusal(_request(spec, layer)) is not None:
            continue
        other = spec.build(num_layers=2, bidirectional=True, backend=backend, **options)
        other.load_state_dict(state)
        other.train()
        outs = _run(other, x)
        assert other.last_backend == backend
        grads = torch.autograd.grad(_loss(outs), [x, *other.parameters()])
        results[backend] = [*outs, *grads]
        params = tuple(p.detach().clone().requires_grad_() for p in other.parameters())
        keys = [k for k, _ in other.named_parameters()]

        def f(xx: Tensor, *ps: Tensor, other: nn.Module = other, keys: list = keys) -> Tensor:
            return _loss(_run_functional(other, keys, ps, xx))

        assert torch.autograd.gradcheck(f, (x.detach().requires_grad_(), *params), fast_mode=True)
    assert "reference" in results
    if "bptt" in backends.available(spec.family):  # the hand-written BPTT takes every option
        assert "bptt" in results
    for backend, values in results.items():
        for got, want in zip(values, results["reference"], strict=True):
            torch.testing.assert_close(got, want, msg=f"{spec.name} {names} on {backend}")
    out = results["reference"][0]
    pad = ~torch.tensor([[t < n for t in range(4)] for n in LENGTHS])  # (B, T)
    assert torch.count_nonzero(out[pad]) == 0  # zero at padding


def _run_functional(layer: nn.Module, keys: list[str], params: tuple, x: Tensor) -> tuple:
    torch.manual_seed(7)
    out, state = torch.func.functional_call(
        layer, dict(zip(keys, params, strict=True)), (x,), {"lengths": torch.tensor(LENGTHS)}
    )
    return (out, *(state if isinstance(state, tuple) else (state,)))


def _request(spec: Spec, layer: nn.Module) -> backends.Request:
    """The request of a training call of ``layer`` (what a backend's refusal reads)."""
    return backends.Request(
        spec.family,
        training=True,
        ragged=True,
        options=layer.options.on,
        proj_size=getattr(layer, "proj_size", 0),
        dtype=torch.float64,
    )


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_tracing_with_every_option_changes_nothing(spec: Spec) -> None:
    """With all the family's options on (evaluation: zoneout's expectation), the traced
    call returns what the untraced call returns, and the trace's h is the output."""
    options = {name: OPTION_VALUES[name] for name in _applicable(spec)}
    layer = spec.build(num_layers=2, bidirectional=True, **options).eval()
    x = spec.input(3, 4, torch.Generator().manual_seed(2))
    plain = _run(layer, x)
    with rnnkit.trace(layer) as tr:
        traced = _run(layer, x)
    for a, b in zip(plain, traced, strict=True):
        assert torch.equal(a, b)
    rec = tr[""].layers
    assert set(rec) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert set(rec[(1, 1)].gates) == set(spec.gates)
    half = plain[0].shape[2] // 2
    torch.testing.assert_close(rec[(1, 0)].h, plain[0][:, :, :half])


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_option_parameters_in_the_state_dict(spec: Spec) -> None:
    """The options' parameters are saved and loaded under their names; a layer built
    without them refuses the state_dict (strict), one built with them takes it."""
    options = {name: OPTION_VALUES[name] for name in _applicable(spec)}
    layer = spec.build(**options)
    keys = set(layer.state_dict())
    plain = set(spec.build().state_dict())
    assert plain < keys
    if "layer_norm" in options:
        assert "ln_ih_weight_l0" in keys
    twin = spec.build(**options)
    twin.load_state_dict(layer.state_dict())
    for k, v in layer.state_dict().items():
        assert torch.equal(twin.state_dict()[k], v)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        spec.build().load_state_dict(layer.state_dict())


def test_onnx_writers_refuse_the_eval_time_options_they_do_not_write() -> None:
    """An exported model would silently drop layer_norm / zoneout / peephole on the new
    families: the writers refuse them by name (the training-only dropouts export)."""
    from rnnkit.deploy.convlstm import write_convlstm
    from rnnkit.deploy.scan import scan_supported
    from rnnkit.errors import RnnkitError

    for spec in (BY_NAME["indrnn"], BY_NAME["mingru"], BY_NAME["minlstm"]):
        reason = scan_supported(spec.build(layer_norm=True, zoneout=0.1))
        assert reason is not None and "layer_norm, zoneout has no ONNX writer" in reason
    assert scan_supported(BY_NAME["indrnn"].build(recurrent_dropout=0.2)) is None
    with pytest.raises(RnnkitError, match="ConvLSTM2d with peephole has no ONNX writer"):
        write_convlstm(BY_NAME["convlstm2d"].build(peephole=True, weight_drop=0.1))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_family_refuses_bad_arguments_with_the_one_message(spec: Spec) -> None:
    """One set of boundary checks (rnnkit.layers._checks): the same message for the same
    mistake, whichever family makes it."""
    with pytest.raises(ValueError, match=r"num_layers must be >= 1, got 0"):
        spec.build(num_layers=0)
    with pytest.raises(TypeError, match=r"bidirectional must be a bool, got 2"):
        spec.build(bidirectional=2)
    layer = spec.build()
    x = spec.input(2, 3, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"every length must be >= 1, got a length of 0"):
        layer(x, lengths=[3, 0])
    with pytest.raises(ValueError, match=r"lengths must not exceed the sequence length T=3"):
        layer(x, lengths=torch.tensor([4, 1]))
    with pytest.raises(TypeError, match=r"lengths must hold integers"):
        layer(x, lengths=torch.tensor([3.0, 1.0]))
