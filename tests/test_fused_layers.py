"""The ``fused`` backend through the layers: several layers, both directions, ragged lengths,
hx given or not, proj_size; equal to ``reference`` in outputs, final states and every
gradient; ``auto``'s choice of it; and the fallback when the library is unavailable."""

from __future__ import annotations

import logging

import pytest
import torch

import rnnkit
from rnnkit import fused
from rnnkit.fused import backend as fused_backend
from rnnkit.layers import backends


@pytest.fixture(autouse=True, scope="module")
def _library_built() -> None:
    from rnnkit.fused._ops import ensure_built

    reason = ensure_built()
    assert reason is None, f"the fused tests need the library: {reason}"


B, T, I, H = 3, 6, 3, 4
CASES = [
    (rnnkit.LSTM, {}),
    (rnnkit.LSTM, {"proj_size": 2}),
    (rnnkit.GRU, {}),
    (rnnkit.RNN, {"nonlinearity": "tanh"}),
    (rnnkit.RNN, {"nonlinearity": "relu", "bias": False}),
]


def _run(layer, x, hx, lengths):  # noqa: ANN001, ANN202
    """Outputs, final states and the gradients of x, hx and every parameter."""
    out, states = layer(x, hx, lengths=lengths)
    states = states if isinstance(states, tuple) else (states,)
    loss = (out * torch.linspace(-1, 1, out.shape[-1], dtype=out.dtype)).sum()
    loss = loss + sum((s * s).sum() for s in states)
    hx_leaves = [] if hx is None else list(hx if isinstance(hx, tuple) else (hx,))
    leaves = [x, *hx_leaves, *layer.parameters()]
    return (out, *states, *torch.autograd.grad(loss, leaves))


@pytest.mark.parametrize(("cls", "kwargs"), CASES, ids=lambda c: getattr(c, "__name__", str(c)))
@pytest.mark.parametrize("lengths", [None, [6, 1, 4]], ids=["full", "ragged"])
@pytest.mark.parametrize("with_hx", [False, True], ids=["zero_hx", "hx"])
def test_fused_layers_equal_the_reference(cls, kwargs, lengths, with_hx) -> None:
    torch.manual_seed(0)
    layer = cls(I, H, num_layers=2, bidirectional=True, batch_first=True, **kwargs).double()
    x = torch.randn(B, T, I, dtype=torch.float64, requires_grad=True)
    hx = None
    if with_hx:
        h_out = kwargs.get("proj_size", 0) or H
        hx = torch.randn(4, B, h_out, dtype=torch.float64, requires_grad=True)
        if cls is rnnkit.LSTM:
            hx = (hx, torch.randn(4, B, H, dtype=torch.float64, requires_grad=True))
    lengths = None if lengths is None else torch.tensor(lengths)
    layer.backend = "reference"
    want = _run(layer, x, hx, lengths)
    layer.backend = "fused"
    got = _run(layer, x, hx, lengths)
    assert layer.last_backend == "fused"
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=1e-10, rtol=1e-8)


def test_fused_float32_training_equals_native_on_a_full_batch() -> None:
    torch.manual_seed(0)
    gru = rnnkit.GRU(8, 16, num_layers=2, batch_first=True, backend="native")
    x = torch.randn(4, 10, 8, requires_grad=True)
    want = _run(gru, x, None, None)
    gru.backend = "fused"
    got = _run(gru, x, None, None)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=1e-4, rtol=1e-4)


def test_auto_runs_ragged_training_and_elman_training_on_fused() -> None:
    lstm = rnnkit.LSTM(I, H, batch_first=True)
    x = torch.randn(B, T, I)
    lstm(x, lengths=torch.tensor([6, 2, 4]))
    assert lstm.last_backend == "fused" and "ragged" in lstm.backend_reason
    with torch.no_grad():
        lstm(x, lengths=torch.tensor([6, 2, 4]))
    assert lstm.last_backend == "native"  # inference stays on torch's kernel
    rnn = rnnkit.RNN(I, H)
    rnn(torch.randn(T, B, I))
    assert rnn.last_backend == "fused"


def test_options_and_other_devices_are_refused_by_the_check() -> None:
    assert "no fused kernel for zoneout" in fused_backend.check(
        backends.Request("lstm", options=frozenset({"zoneout"}))
    )
    assert "CPU only" in fused_backend.check(backends.Request("gru", device="cuda"))
    assert "float32 or float64" in fused_backend.check(
        backends.Request("gru", dtype=torch.float16)
    )
    layer = rnnkit.LSTM(I, H, zoneout=0.1, batch_first=True)
    layer(torch.randn(B, T, I), lengths=torch.tensor([6, 2, 4]))
    assert layer.last_backend == "bptt"


def test_unavailable_library_falls_back_to_bptt_and_says_why(monkeypatch, caplog) -> None:
    monkeypatch.setenv(fused.DISABLE_ENV, "1")
    monkeypatch.setattr(fused_backend, "_told", False)
    lstm = rnnkit.LSTM(I, H, batch_first=True)
    with caplog.at_level(logging.WARNING, logger="rnnkit"):
        lstm(torch.randn(B, T, I), lengths=torch.tensor([6, 2, 4]))
        lstm(torch.randn(B, T, I), lengths=torch.tensor([6, 2, 4]))
    assert lstm.last_backend == "bptt"
    assert "fused: rnnkit's fused kernels are not available" in lstm.backend_reason
    notes = [r for r in caplog.records if "fused kernels are not available" in r.getMessage()]
    assert len(notes) == 1  # said once, in one line
    lstm.backend = "fused"
    with pytest.raises(ValueError, match="backend 'fused' cannot run this call.*RNNKIT_DISABLE"):
        lstm(torch.randn(B, T, I))


OPTION_CASES = [
    (rnnkit.LSTM, {"recurrent_dropout": 0.4}),
    (rnnkit.LSTM, {"recurrent_dropout": 0.3, "weight_drop": 0.3}),
    (rnnkit.GRU, {"weight_drop": 0.5}),
    (rnnkit.RNN, {"recurrent_dropout": 0.4, "nonlinearity": "relu"}),
    (rnnkit.RNN, {"recurrent_dropout": 0.4, "weight_drop": 0.2}),
]


@pytest.mark.parametrize(
    ("cls", "kwargs"), OPTION_CASES, ids=lambda c: getattr(c, "__name__", str(c))
)
def test_recurrent_dropout_and_weight_drop_on_fused_equal_the_reference(cls, kwargs) -> None:
    """Training mode: the same seed draws the same masks, so every backend must agree."""
    torch.manual_seed(0)
    layer = cls(I, H, num_layers=2, bidirectional=True, batch_first=True, **kwargs).double()
    layer.train()
    x = torch.randn(B, T, I, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([6, 1, 4])
    results = {}
    for backend in ("reference", "fused"):
        layer.backend = backend
        torch.manual_seed(1)
        results[backend] = _run(layer, x, None, lengths)
        assert layer.last_backend == backend
    for got, want in zip(results["fused"], results["reference"], strict=True):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-8)
    torch.manual_seed(2)  # another draw of the masks changes the result: they were applied
    other = _run(layer, x, None, lengths)
    assert not torch.allclose(other[0], results["fused"][0])


def test_gru_recurrent_dropout_is_refused_by_fused() -> None:
    assert "no fused kernel for recurrent_dropout" in fused_backend.check(
        backends.Request("gru", options=frozenset({"recurrent_dropout"}))
    )
