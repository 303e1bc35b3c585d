"""Cell options by composition: a frozen value; with proj_size, bidirectional, layers and
ragged lengths; bptt equal to reference; traced (and explained) like the plain layers."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.cells.extended import extended_step
from rnnkit.cells.padded import last_step
from rnnkit.layers.options import CellOptions
from rnnkit.tools.cli import main

I, H, T, B = 3, 4, 5, 3
LENGTHS = torch.tensor([5, 2, 4])
COMBOS = [
    {"layer_norm": True},
    {"zoneout": 0.3, "recurrent_dropout": 0.2},
    {"weight_drop": 0.3, "layer_norm": True},
]
LSTM_ONLY = {"layer_norm": True, "peephole": True, "zoneout": 0.2}


def test_options_are_one_frozen_value() -> None:
    lstm = rnnkit.LSTM(I, H, layer_norm=True, zoneout=0.1)
    assert lstm.options == CellOptions(layer_norm=True, zoneout=0.1)
    assert lstm.options.on == {"layer_norm", "zoneout"} and lstm.zoneout == 0.1
    with pytest.raises(dataclasses.FrozenInstanceError):
        lstm.options.zoneout = 0.5  # type: ignore[misc]
    with pytest.raises(ValueError, match="LSTM: zoneout must be a float in"):
        rnnkit.LSTM(I, H, zoneout=2.0)


def _grads(layer, x, training: bool, seed: int = 7):
    layer.train(training)
    torch.manual_seed(seed)  # the same masks for every backend
    out, states = layer(x, lengths=LENGTHS)
    states = states if isinstance(states, tuple) else (states,)
    loss = (out * torch.linspace(-1, 1, out.shape[-1], dtype=out.dtype)).sum()
    loss = loss + sum((s * s).sum() for s in states)
    return (out, *states, *torch.autograd.grad(loss, [x, *layer.parameters()]))


@pytest.mark.parametrize("cls", [rnnkit.LSTM, rnnkit.GRU, rnnkit.RNN])
@pytest.mark.parametrize("options", COMBOS)
@pytest.mark.parametrize("training", [False, True])
def test_bptt_equals_reference_bidirectional_stacked_ragged(cls, options, training) -> None:
    torch.manual_seed(0)
    layer = cls(I, H, num_layers=2, bidirectional=True, batch_first=True, **options).double()
    ref = cls(I, H, num_layers=2, bidirectional=True, batch_first=True, **options).double()
    ref.load_state_dict(layer.state_dict())
    ref.backend = "reference"
    x = torch.randn(B, T, I, dtype=torch.float64, requires_grad=True)
    for got, want in zip(_grads(layer, x, training), _grads(ref, x, training), strict=True):
        torch.testing.assert_close(got, want)
    assert layer.last_backend == "bptt"


@pytest.mark.parametrize("options", [LSTM_ONLY, *COMBOS])
@pytest.mark.parametrize("training", [False, True])
def test_options_with_proj_size_bptt_equals_reference(options, training) -> None:
    """Outputs, final states and every gradient, bidirectional, 2 layers, ragged lengths."""
    torch.manual_seed(3)
    kwargs = {"proj_size": 2, "num_layers": 2, "bidirectional": True, "batch_first": True}
    layer = rnnkit.LSTM(I, H, **kwargs, **options).double()
    ref = rnnkit.LSTM(I, H, **kwargs, **options).double()
    ref.load_state_dict(layer.state_dict())
    ref.backend = "reference"
    x = torch.randn(B, T, I, dtype=torch.float64, requires_grad=True)
    got, want = _grads(layer, x, training), _grads(ref, x, training)
    assert got[0].shape == (B, T, 4) and got[1].shape == (4, B, 2) and got[2].shape == (4, B, H)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)
    assert layer.last_backend == "bptt" and ref.last_backend == "reference"
    assert all(g.abs().sum() > 0 for g in got[4:])  # every parameter has a gradient


def test_options_with_proj_size_equal_stepping_by_hand() -> None:
    torch.manual_seed(1)
    stacked = rnnkit.LSTM(
        I, H, proj_size=2, num_layers=2, bidirectional=True, batch_first=True, **LSTM_ONLY
    ).double()
    x = torch.randn(B, T, I, dtype=torch.float64, requires_grad=True)
    out, (h_n, c_n) = stacked.eval()(x, lengths=LENGTHS)
    assert stacked.last_backend == "bptt"
    assert out.shape == (B, T, 4) and h_n.shape == (4, B, 2) and c_n.shape == (4, B, H)
    lstm = rnnkit.LSTM(I, H, proj_size=2, bidirectional=True, batch_first=True, **LSTM_ONLY)
    lstm = lstm.double().eval()
    out, (h_n, c_n) = lstm(x, lengths=LENGTHS)
    h, c = torch.zeros(B, 2, dtype=torch.float64), torch.zeros(B, H, dtype=torch.float64)
    p = lambda n: getattr(lstm, n + "_l0")  # noqa: E731
    for t in range(T):  # layer 0, forward direction, by hand
        h, c = extended_step(
            "lstm", x[:, t], h, c, p("weight_ih"), p("weight_hh"), p("bias_ih"), p("bias_hh"),
            ln_ih=(p("ln_ih_weight"), p("ln_ih_bias")), ln_hh=(p("ln_hh_weight"), p("ln_hh_bias")),
            ln_c=(p("ln_c_weight"), p("ln_c_bias")),
            peephole=(p("weight_ci"), p("weight_cf"), p("weight_co")),
            keep_h=torch.full((B, 2), 0.2, dtype=torch.float64),
            keep_c=torch.full((B, H), 0.2, dtype=torch.float64), w_hr=p("weight_hr"),
        )  # fmt: skip
        torch.testing.assert_close(out[0, t, :2], h[0])  # the full-length sequence
    torch.testing.assert_close(h_n[0, 0], h[0])
    torch.testing.assert_close(c_n[0, 0], c[0])
    small = rnnkit.LSTM(2, 3, proj_size=1, layer_norm=True, batch_first=True).double()
    xs = torch.randn(2, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: small(v, lengths=torch.tensor([3, 2]))[0], (xs,))


@pytest.mark.parametrize("cls,options", [(rnnkit.LSTM, LSTM_ONLY), (rnnkit.GRU, COMBOS[0])])
def test_layers_with_options_are_traced_with_the_gates_that_ran(cls, options) -> None:
    torch.manual_seed(2)
    layer = cls(I, H, num_layers=2, bidirectional=True, batch_first=True, **options).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    plain = layer.eval()(x, lengths=LENGTHS)
    with rnnkit.trace(layer) as tr:
        out, states = layer(x, lengths=LENGTHS)
    torch.testing.assert_close(out, plain[0], rtol=0, atol=0)
    for (lay, d), rec in tr[""].layers.items():
        assert rec.h.shape == (B, T, H) and (rec.h[1, 2:] == 0).all()
        torch.testing.assert_close(rec.h, out[..., d * H : (d + 1) * H] if lay == 1 else rec.h)
        if cls is rnnkit.LSTM and d == 0:
            torch.testing.assert_close(last_step(rec.c, LENGTHS), states[1][2 * lay])
        for name in set(rec.gates) & {"i", "f", "o", "r", "z"}:  # sigmoids
            assert ((rec.gates[name] >= 0) & (rec.gates[name] <= 1)).all()
        if cls is rnnkit.GRU and d == 0:  # h_t = (1 - z) n + z h_{t-1} at real steps
            g = rec.gates
            h_prev = torch.cat([torch.zeros_like(rec.h[:, :1]), rec.h[:, :-1]], 1)
            want = (1 - g["z"]) * g["n"] + g["z"] * h_prev
            torch.testing.assert_close(want[0], rec.h[0])


def test_explain_works_on_a_run_trained_with_layer_norm_and_zoneout(tmp_path, capsys) -> None:
    rng = np.random.default_rng(0)
    t = np.linspace(0, 2 * math.pi, 12)
    lines = ["label," + ",".join(f"t{i}" for i in range(12))]
    for i in range(24):
        wave = np.sin(t * (1 + 2 * (i % 2))) + 0.1 * rng.standard_normal(12)
        lines.append(f"{'ab'[i % 2]}," + ",".join(f"{v:.4f}" for v in wave))
    csv = tmp_path / "waves.csv"
    csv.write_text("\n".join(lines) + "\n")
    run = tmp_path / "run"
    model = {"hidden_size": 6, "num_layers": 1, "layer_norm": True, "zoneout": 0.1}
    rnnkit.train(
        "tsclass", out=run, verbose=False, data={"source": str(csv)}, model=model,
        train={"epochs": 1, "batch_size": 8, "progress": False},
    )  # fmt: skip
    report = tmp_path / "why.html"
    assert main(["explain", str(run), "test:0", "--out", str(report)]) == 0
    assert "Completeness check" in report.read_text(encoding="utf-8")
    capsys.readouterr()
