"""MinGRU / MinLSTM: the parallel scan equals the step loop; lengths, stacking, step()."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit.cells.minrnn import g, log_g, minrnn_sequence
from rnnkit.layers.minrnn import MinGRU, MinLSTM


def test_log_g_is_log_of_g_and_g_is_positive():
    x = torch.linspace(-30, 30, 601, dtype=torch.float64)
    assert (g(x) > 0).all()
    torch.testing.assert_close(log_g(x), torch.log(g(x)))


@pytest.mark.parametrize("kind", ["mingru", "minlstm"])
def test_scan_equals_step_loop_in_float64_with_grads(kind):
    torch.manual_seed(0)
    B, T, I, H = 3, 9, 4, 5
    gates = 2 if kind == "mingru" else 3
    leaves0 = [
        torch.randn(B, T, I, dtype=torch.float64),
        torch.randn(B, H, dtype=torch.float64),  # any sign: h0 enters the scan linearly
        torch.randn(gates * H, I, dtype=torch.float64),
        torch.randn(gates * H, dtype=torch.float64),
    ]
    lengths = torch.tensor([9, 4, 1])
    results = []
    for mode in ("reference", "scan"):
        leaves = [p.clone().requires_grad_() for p in leaves0]
        out, h_n = minrnn_sequence(kind, leaves[0], lengths, leaves[1], *leaves[2:], mode=mode)
        (out.square().sum() + h_n.cos().sum()).backward()
        results.append([out, h_n, *[p.grad for p in leaves]])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    assert (results[1][0][1, 4:] == 0).all()
    assert (results[1][2][2, 1:] == 0).all()  # no gradient reaches padded inputs


def test_scan_is_stable_over_long_sequences_in_float32():
    torch.manual_seed(1)
    rnn = MinGRU(4, 8, batch_first=True)
    x = torch.randn(2, 3000, 4)
    out, _ = rnn(x)
    assert torch.isfinite(out).all()
    ref = MinGRU(4, 8, batch_first=True, backend="reference")
    ref.load_state_dict(rnn.state_dict())
    out_ref, _ = ref(x[:, :300])
    torch.testing.assert_close(out[:, :300], out_ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls", [MinGRU, MinLSTM])
def test_step_by_step_generation_equals_forward(cls):
    torch.manual_seed(2)
    rnn = cls(3, 6, num_layers=3, batch_first=True).double()
    x = torch.randn(2, 8, 3, dtype=torch.float64)
    h0 = torch.randn(3, 2, 6, dtype=torch.float64)
    out, h_n = rnn(x, h0)
    h = h0
    for t in range(8):
        h = rnn.step(x[:, t], h)
        torch.testing.assert_close(h[-1], out[:, t])
    torch.testing.assert_close(h, h_n)


@pytest.mark.parametrize("cls", [MinGRU, MinLSTM])
def test_bidirectional_padded_batch_equals_each_sequence_alone(cls):
    torch.manual_seed(3)
    rnn = cls(3, 4, num_layers=2, bidirectional=True).double()
    x = torch.randn(7, 2, 3, dtype=torch.float64)  # (T, B, I)
    out, h_n = rnn(x, lengths=torch.tensor([7, 5]))
    assert out.shape == (7, 2, 8) and h_n.shape == (4, 2, 4)
    out1, h1 = rnn(x[:5, 1:2])
    torch.testing.assert_close(out1[:, 0], out[:5, 1])
    torch.testing.assert_close(h1[:, 0], h_n[:, 1])
    assert (out[5:, 1] == 0).all()


def test_bad_input_is_refused_clearly():
    rnn = MinGRU(3, 4, bidirectional=True)
    assert rnn(torch.randn(5, 3))[0].shape == (5, 8)  # one unbatched sequence (T, I)
    with pytest.raises(ValueError, match="3-D input"):
        rnn(torch.randn(5, 2, 3, 1))
    with pytest.raises(ValueError, match="bidirectional"):
        rnn.step(torch.randn(2, 3))
    with pytest.raises(ValueError, match="backend"):
        MinLSTM(3, 4, backend="bptt")
    with pytest.raises(ValueError, match="input_size=3"):
        MinLSTM(3, 4)(torch.randn(5, 2, 2))


def test_trace_records_outputs_and_input_gates_of_every_layer():
    torch.manual_seed(4)
    rnn = MinGRU(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    model = torch.nn.Sequential(rnn)
    x, lengths = torch.randn(2, 5, 3), torch.tensor([5, 3])
    with rnnkit.trace(model) as tr:
        out, _ = rnn(x, lengths=lengths)
    rec = tr["0"]
    torch.testing.assert_close(rec.layers[(1, 1)].h, out[..., 4:])
    z = torch.sigmoid(torch.nn.functional.linear(x, rnn.weight_ih_l0, rnn.bias_ih_l0)[..., :4])
    torch.testing.assert_close(rec.layers[(0, 0)].gates["z"][0], z[0])
    assert (rec.layers[(0, 0)].gates["z"][1, 3:] == 0).all()


@pytest.mark.parametrize("cls", [MinGRU, MinLSTM])
def test_options_step_equals_forward_and_auto_says_why_reference(cls: type) -> None:
    """With layer_norm and zoneout (evaluation: the expectation), stepping equals forward;
    the scan takes layer_norm, and zoneout sends auto to the reference, saying why."""
    torch.manual_seed(5)
    model = cls(3, 4, num_layers=2, batch_first=True, layer_norm=True, zoneout=0.25)
    model = model.double().eval()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    out, h_n = model(x)
    assert model.last_backend == "reference" and "scan cannot apply zoneout" in (
        model.backend_reason or ""
    )
    h = None
    for t in range(5):
        h = model.step(x[:, t], h)
        torch.testing.assert_close(h[-1], out[:, t])
    torch.testing.assert_close(h, h_n)
    normed = cls(3, 4, batch_first=True, layer_norm=True).double()
    normed(x)
    assert normed.last_backend == "scan"
