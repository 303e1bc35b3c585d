"""torch.compile and torch.export accept every layer family and match eager.

torch's own kernels (``native``, the default of LSTM/GRU/RNN without options) run eagerly
inside a compiled module (a graph break, as torch.nn.LSTM does), in training and with
``lengths`` (torch's packing). torch.export takes ``lengths`` and a dynamic time axis
(each layer-direction one ``rnnkit::run_direction`` op while exporting).
"""

from __future__ import annotations

import pytest
import torch
from torch.export import Dim, export

import rnnkit

# torch's own notes while it traces an autograd.Function after a graph break
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*should not be instantiated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Dynamo does not know how to trace:UserWarning"),
    pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf"),
]

B, T, I, H = 3, 6, 4, 5
LENGTHS = torch.tensor([6, 3, 5])
FAMILIES = {
    "LSTM": lambda: rnnkit.LSTM(I, H, batch_first=True, backend="bptt"),
    "GRU": lambda: rnnkit.GRU(I, H, batch_first=True, bidirectional=True),
    "RNN": lambda: rnnkit.RNN(I, H, batch_first=True),
    "IndRNN": lambda: rnnkit.IndRNN(I, H, batch_first=True),
    "MinGRU": lambda: rnnkit.MinGRU(I, H, batch_first=True),
    "MinLSTM": lambda: rnnkit.MinLSTM(I, H, batch_first=True),
    "ConvLSTM1d": lambda: rnnkit.ConvLSTM1d(I, H, batch_first=True),
    "LSTM-options": lambda: rnnkit.LSTM(I, H, batch_first=True, layer_norm=True, zoneout=0.1),
}


def _input(name: str, steps: int = T) -> torch.Tensor:
    shape = (B, steps, I, 7) if name.startswith("Conv") else (B, steps, I)
    return torch.randn(*shape, generator=torch.Generator().manual_seed(steps))


def _step(layer, x, lengths):
    out = layer(x, lengths=lengths)[0]
    loss = (out * out).sum()
    return out, torch.autograd.grad(loss, list(layer.parameters()))


@pytest.mark.parametrize("name", list(FAMILIES))
def test_compiled_training_step_with_lengths_matches_eager(name: str) -> None:
    torch.manual_seed(0)
    layer = FAMILIES[name]().eval()  # eval: zoneout uses its expectation, no random masks
    compiled = torch.compile(layer, backend="aot_eager")
    x = _input(name)
    for lengths in (LENGTHS, None) if name == "LSTM" else (LENGTHS,):
        out, grads = _step(compiled, x, lengths)
        want, want_grads = _step(layer, x, lengths)
        torch.testing.assert_close(out, want)
        for g, w in zip(grads, want_grads, strict=True):
            torch.testing.assert_close(g, w)


@pytest.mark.parametrize(
    ("cls", "lengths", "training"),
    [(rnnkit.LSTM, None, True), (rnnkit.LSTM, LENGTHS, False), (rnnkit.GRU, None, True)],
)
def test_default_native_layers_compile_in_training_and_with_lengths(cls, lengths, training):
    """backend auto picks torch's kernels here: outputs, final states, every gradient."""
    torch.manual_seed(0)
    layer = cls(I, H, num_layers=2, bidirectional=True, batch_first=True, dropout=0.0)
    compiled = torch.compile(layer, backend="aot_eager")
    x = _input("LSTM")
    results = []
    for module in (compiled, layer):
        with torch.set_grad_enabled(training):
            out, states = module(x, lengths=lengths)
        states = states if isinstance(states, tuple) else (states,)
        grads = []
        if training:
            loss = (out * out).sum() + sum(s.sum() for s in states)
            grads = torch.autograd.grad(loss, list(layer.parameters()))
        results.append([out, *states, *grads])
        assert layer.last_backend == "native"
    for got, want in zip(*results, strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("name", [n for n in FAMILIES if n != "LSTM-options"])
def test_export_matches_eager(name: str) -> None:
    layer = (rnnkit.LSTM(I, H, batch_first=True) if name == "LSTM" else FAMILIES[name]()).eval()
    x = _input(name)
    program = export(layer, (x,), strict=False)
    torch.testing.assert_close(program.module()(x)[0], layer(x)[0])


@pytest.mark.parametrize("name", ["MinGRU", "MinLSTM"])
def test_export_with_a_dynamic_time_axis(name: str) -> None:
    layer = FAMILIES[name]().eval()
    program = export(layer, (_input(name),), dynamic_shapes=({1: Dim("T", max=512)},), strict=False)
    longer = _input(name, steps=11)
    torch.testing.assert_close(program.module()(longer)[0], layer(longer)[0])


EXPORTED = {
    **{n: f for n, f in FAMILIES.items() if n != "LSTM"},
    "LSTM": lambda: rnnkit.LSTM(I, H, batch_first=True),  # auto: torch's kernel (native)
    "LSTM-proj-2-layers": lambda: rnnkit.LSTM(
        I, H, num_layers=2, bidirectional=True, proj_size=2, batch_first=True
    ),
}


def _flat(result) -> list[torch.Tensor]:
    out, states = result
    return [out, *(states if isinstance(states, tuple) else (states,))]


@pytest.mark.parametrize("name", list(EXPORTED))
def test_export_with_lengths_and_a_dynamic_time_axis(name: str) -> None:
    """Traced at T=6, run at T=11 and T=3 with other lengths: outputs and final states."""
    torch.manual_seed(0)
    layer = EXPORTED[name]().eval()
    shapes = {"input": {1: Dim("T", min=2, max=512)}, "lengths": None}
    program = export(
        layer, (_input(name),), {"lengths": LENGTHS}, dynamic_shapes=shapes, strict=False
    )
    for steps, lengths in ((11, torch.tensor([11, 4, 7])), (3, torch.tensor([1, 3, 2]))):
        x = _input(name, steps=steps)
        got = _flat(program.module()(x, lengths=lengths))
        want = _flat(layer(x, lengths=lengths))
        for g, w in zip(got, want, strict=True):
            torch.testing.assert_close(g, w)
        assert (got[0][2, lengths[2] :] == 0).all()  # zero at padding
    with pytest.raises(RuntimeError, match=r"every length must lie in \[1, T\]"):
        program.module()(_input(name, steps=4), lengths=torch.tensor([4, 5, 1]))


class _PairCell(torch.nn.Module):
    """A user cell with a tuple state whose initial parts are one tensor (aliased)."""

    def __init__(self, n_in: int) -> None:
        super().__init__()
        self.cell = torch.nn.LSTMCell(n_in, H)

    def initial_state(self, batch: int, device, dtype):
        zeros = torch.zeros(batch, H, device=device, dtype=dtype)
        return (zeros, zeros)

    def forward(self, x, state):
        h, c = self.cell(x, state)
        return h, (h, c)


def test_recurrent_exports_with_lengths_and_a_dynamic_time_axis() -> None:
    """``Recurrent(cell)`` runs its time loop as torch's scan operator while exporting:
    traced at T=6, the program runs at T=11 and T=3 (bidirectional, a tuple state) and
    gives eager's outputs and final states."""
    torch.manual_seed(0)
    layer = rnnkit.Recurrent(
        lambda k: _PairCell(I), bidirectional=True, batch_first=True,
    ).eval()  # fmt: skip
    shapes = {"input": {1: Dim("T", min=2, max=512)}, "lengths": None}
    program = export(layer, (_input("x"),), {"lengths": LENGTHS}, dynamic_shapes=shapes,
                     strict=False)  # fmt: skip
    for steps, lengths in ((11, torch.tensor([11, 4, 7])), (3, torch.tensor([1, 3, 2]))):
        x = _input("x", steps=steps)
        got_out, got_states = program.module()(x, lengths=lengths)
        want_out, want_states = layer(x, lengths=lengths)
        torch.testing.assert_close(got_out, want_out)
        for got, want in zip(got_states, want_states, strict=True):
            torch.testing.assert_close(got[0], want[0])
            torch.testing.assert_close(got[1], want[1])
        assert (got_out[2, lengths[2] :] == 0).all()


class _TanhCell(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(I + H, H)

    def initial_state(self, batch: int, device, dtype):
        return torch.zeros(batch, H, device=device, dtype=dtype)

    def forward(self, x, h):
        h = torch.tanh(self.lin(torch.cat([x, h], -1)))
        return h, h


FULLGRAPH = {
    "RNN-bptt": lambda: rnnkit.RNN(I, H, batch_first=True, backend="bptt"),
    "LSTM-reference-bidirectional": lambda: rnnkit.LSTM(
        I, H, bidirectional=True, batch_first=True, backend="reference"
    ),
    "IndRNN": FAMILIES["IndRNN"],
    "MinLSTM": FAMILIES["MinLSTM"],
    "ConvLSTM1d": FAMILIES["ConvLSTM1d"],
    "Recurrent": lambda: rnnkit.Recurrent(_TanhCell(), batch_first=True),
}


@pytest.mark.parametrize("name", list(FULLGRAPH))
def test_fullgraph_compile_with_lengths_matches_eager(name: str) -> None:
    """``torch.compile(fullgraph=True)`` of a training step with ragged ``lengths``: the
    lengths are checked inside the graph (no value read, no graph break); outputs and every
    gradient equal eager's."""
    torch._dynamo.reset()  # the other tests' compilations count against the recompile limit
    torch.manual_seed(0)
    layer = FULLGRAPH[name]()
    compiled = torch.compile(layer, backend="aot_eager", fullgraph=True)
    x = _input("ConvLSTM1d" if name.startswith("Conv") else "x")
    out, grads = _step(compiled, x, LENGTHS)
    want, want_grads = _step(layer, x, LENGTHS)
    torch.testing.assert_close(out, want)
    for g, w in zip(grads, want_grads, strict=True):
        torch.testing.assert_close(g, w)
