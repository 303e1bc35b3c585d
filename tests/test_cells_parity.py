"""The cells against torch.nn: outputs, final states and every gradient, in both modes.

Full-length batches are compared with torch.nn.RNN/LSTM/GRU run directly; ragged batches
with torch.nn run on ``pack_padded_sequence`` (padded back with zeros).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.cells import (
    elman_sequence,
    elman_step,
    gru_sequence,
    gru_step,
    lstm_sequence,
    lstm_step,
)

B, T, I, H, P = 3, 6, 4, 5, 2
RAGGED = torch.tensor([6, 1, 4])
FULL = torch.tensor([T, T, T])

# name -> (torch.nn constructor, keyword arguments)
FAMILIES = {
    "elman_tanh": (nn.RNN, {"nonlinearity": "tanh"}),
    "elman_relu": (nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTM, {}),
    "lstm_proj": (nn.LSTM, {"proj_size": P}),
    "gru": (nn.GRU, {}),
}


def make_module(family: str, bias: bool, dtype: torch.dtype) -> nn.RNNBase:
    ctor, kwargs = FAMILIES[family]
    torch.manual_seed(0)
    module = ctor(I, H, bias=bias, batch_first=True, **kwargs).to(dtype)
    with torch.no_grad():  # spread the weights so that relu and the gates see both signs
        for p in module.parameters():
            p.uniform_(-0.8, 0.8)
    return module


def module_params(module: nn.RNNBase) -> list[torch.Tensor | None]:
    """Layer-0 parameters in the cells' argument order, as fresh leaves."""
    names = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    if isinstance(module, nn.LSTM):
        names.append("weight_hr_l0")
    return [
        getattr(module, n).detach().clone().requires_grad_() if hasattr(module, n) else None
        for n in names
    ]


def run_cells(family, x, lengths, states, params, mode):
    """Returns ``(out, final_states)`` from the rnnkit cells."""
    if family.startswith("elman"):
        out, h_n = elman_sequence(
            x, lengths, states[0], *params, FAMILIES[family][1]["nonlinearity"], mode=mode
        )
        return out, (h_n,)
    if family.startswith("lstm"):
        out, h_n, c_n = lstm_sequence(x, lengths, *states, *params, mode=mode)
        return out, (h_n, c_n)
    out, h_n = gru_sequence(x, lengths, states[0], *params, mode=mode)
    return out, (h_n,)


def run_torch(module, x, lengths, states):
    """Returns ``(out, final_states)`` from torch.nn, packed when the batch is ragged."""
    hx = tuple(s.unsqueeze(0) for s in states)  # (1, B, ...)
    hx = hx if isinstance(module, nn.LSTM) else hx[0]
    if bool((lengths == x.shape[1]).all()):
        out, final = module(x, hx)
    else:
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, final = module(packed, hx)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    final = final if isinstance(final, tuple) else (final,)
    return out, tuple(f.squeeze(0) for f in final)


def make_inputs(family: str, dtype: torch.dtype):
    torch.manual_seed(1)
    h_out = P if family == "lstm_proj" else H
    x = torch.randn(B, T, I, dtype=dtype, requires_grad=True)
    states = [torch.randn(B, h_out, dtype=dtype, requires_grad=True)]
    if family.startswith("lstm"):
        states.append(torch.randn(B, H, dtype=dtype, requires_grad=True))
    return x, states


def loss_of(out, finals, weights):
    """A scalar that reaches every output with a different random weight."""
    total = (out * weights[0]).sum()
    for f, w in zip(finals, weights[1:]):
        total = total + (f * w).sum()
    return total


@pytest.mark.parametrize("lengths", [FULL, RAGGED], ids=["full", "ragged"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("mode", ["reference", "bptt"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_matches_torch_nn_outputs_states_and_gradients(family, mode, bias, lengths):
    dtype = torch.float64
    module = make_module(family, bias, dtype)
    params = module_params(module)
    x, states = make_inputs(family, dtype)
    xr = x.detach().clone().requires_grad_()
    states_r = [s.detach().clone().requires_grad_() for s in states]

    out, finals = run_cells(family, x, lengths, states, params, mode)
    ref_out, ref_finals = run_torch(module, xr, lengths, states_r)

    torch.testing.assert_close(out, ref_out, rtol=1e-10, atol=1e-12)
    for f, rf in zip(finals, ref_finals):
        torch.testing.assert_close(f, rf, rtol=1e-10, atol=1e-12)

    torch.manual_seed(2)
    weights = [torch.randn_like(out)] + [torch.randn_like(f) for f in finals]
    loss_of(out, finals, weights).backward()
    loss_of(ref_out, ref_finals, weights).backward()
    torch.testing.assert_close(x.grad, xr.grad, rtol=1e-9, atol=1e-11)
    for s, sr in zip(states, states_r):
        torch.testing.assert_close(s.grad, sr.grad, rtol=1e-9, atol=1e-11)
    ref_grads = [
        getattr(module, n).grad if hasattr(module, n) else None
        for n in ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0"]
    ]
    for p, g in zip(params, ref_grads):
        if p is None:
            assert g is None
        else:
            torch.testing.assert_close(p.grad, g, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("family", ["elman_tanh", "lstm", "gru"])
def test_bptt_matches_torch_nn_in_float32(family):
    module = make_module(family, True, torch.float32)
    params = module_params(module)
    x, states = make_inputs(family, torch.float32)
    out, finals = run_cells(family, x, RAGGED, states, params, "bptt")
    ref_out, ref_finals = run_torch(module, x, RAGGED, states)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-6)
    out.sum().backward()
    ref_out.sum().backward()
    torch.testing.assert_close(params[1].grad, module.weight_hh_l0.grad, rtol=1e-4, atol=1e-5)


def test_steps_match_torch_nn_cells():
    torch.manual_seed(0)
    x, h, c = torch.randn(B, I), torch.randn(B, H), torch.randn(B, H)
    for nl in ("tanh", "relu"):
        cell = nn.RNNCell(I, H, nonlinearity=nl)
        expected = cell(x, h)
        got = elman_step(x, h, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh, nl)
        torch.testing.assert_close(got, expected)
    cell = nn.LSTMCell(I, H)
    h_new, c_new = lstm_step(x, h, c, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    eh, ec = cell(x, (h, c))
    torch.testing.assert_close(h_new, eh)
    torch.testing.assert_close(c_new, ec)
    cell = nn.GRUCell(I, H)
    got = gru_step(x, h, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    torch.testing.assert_close(got, cell(x, h))
