"""Gradient flow through time: dL/dh_t measured through per-step probes."""

from __future__ import annotations

import torch

import rnnkit
from rnnkit.diagnostics.gradflow import GradFlowRecorder, decay_ratio, hidden_grad_norms


def _manual_grads(rnn: torch.nn.RNN, x: torch.Tensor, w_out: torch.Tensor) -> torch.Tensor:
    """dL/dh_t by hand: step the Elman recurrence, retain_grad on every h_t."""
    h = torch.zeros(x.shape[0], rnn.hidden_size)
    hs, loss = [], 0.0
    for t in range(x.shape[1]):
        h = torch.tanh(
            x[:, t] @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ rnn.weight_hh_l0.T + rnn.bias_hh_l0
        )
        h.retain_grad()
        hs.append(h)
        loss = loss + (h @ w_out).pow(2).mean()  # a loss at every step
    loss.backward()
    return torch.stack([hh.grad.norm(dim=-1).mean() for hh in hs])


def test_probe_gradients_equal_the_total_derivative_by_hand():
    torch.manual_seed(0)
    rnn = torch.nn.RNN(3, 5, batch_first=True)
    x = torch.randn(4, 9, 3)
    w_out = torch.randn(5)
    expected = _manual_grads(rnn, x, w_out)
    got = hidden_grad_norms(rnn, x, lambda out: (out @ w_out).pow(2).mean(dim=0).sum())
    torch.testing.assert_close(got, expected)


def test_parameters_grads_untouched_and_lstm_state_tuple_works():
    torch.manual_seed(0)
    lstm = rnnkit.LSTM(2, 4, num_layers=2, batch_first=True)
    norms = hidden_grad_norms(lstm, torch.randn(3, 6, 2), lambda out: out[:, -1].sum())
    assert norms.shape == (6,) and (norms > 0).all()
    assert all(p.grad is None for p in lstm.parameters())


def test_elman_gradient_vanishes_with_small_recurrent_weights():
    torch.manual_seed(0)
    rnn = rnnkit.RNN(2, 16, batch_first=True)
    with torch.no_grad():
        rnn.weight_hh_l0.mul_(0.3)
    norms = hidden_grad_norms(rnn, torch.randn(2, 40, 2), lambda out: out[:, -1].sum())
    assert decay_ratio(norms) < 1e-6  # the first step hears almost nothing of the loss


def test_recorder_writes_history_and_png(tmp_path):
    torch.manual_seed(0)
    gru = rnnkit.GRU(2, 3, batch_first=True)
    rec = GradFlowRecorder(tmp_path)
    for _ in range(2):
        rec.arm()
        assert rec.armed
        rec.record(gru, torch.randn(2, 5, 2), lambda out: out.sum())
        assert not rec.armed
    lines = (tmp_path / "gradflow.jsonl").read_text().splitlines()
    assert len(lines) == 2 and '"epoch": 2' in lines[1]
    assert (tmp_path / "gradflow.png").read_bytes()[:4] == b"\x89PNG"
