"""The runner and the padded-sequence helpers that every family shares: one lengths rule,
one reversal, the reverse direction within lengths, tracing for every family."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import rnnkit
from rnnkit.cells.padded import last_step, reverse_padded, step_mask

B, T, I, H = 2, 5, 3, 4


class _Cell(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(I + H, H)
        self.input_size, self.hidden_size = I, H

    def initial_state(self, batch: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        return torch.zeros(batch, H, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.tanh(self.lin(torch.cat([x, h], -1)))
        return h, h


def _families() -> dict[str, tuple[nn.Module, torch.Tensor]]:
    """Every layer family, batch first, with an input (B, T, ...)."""
    seq = torch.randn(B, T, I)
    return {
        "LSTM": (rnnkit.LSTM(I, H, batch_first=True), seq),
        "GRU": (rnnkit.GRU(I, H, batch_first=True), seq),
        "RNN": (rnnkit.RNN(I, H, batch_first=True), seq),
        "IndRNN": (rnnkit.IndRNN(I, H, batch_first=True), seq),
        "MinGRU": (rnnkit.MinGRU(I, H, batch_first=True), seq),
        "MinLSTM": (rnnkit.MinLSTM(I, H, batch_first=True), seq),
        "ConvLSTM1d": (rnnkit.ConvLSTM1d(I, H, batch_first=True), torch.randn(B, T, I, 6)),
        "Recurrent": (rnnkit.Recurrent(_Cell(), batch_first=True), seq),
    }


BAD_LENGTHS = [
    ("5, 2", TypeError, r"lengths must be a tensor or a list of 2 ints, shape \(2,\), got str"),
    ([5.0, 2.0], TypeError, r"lengths must hold ints .* got 5.0 in it"),
    (torch.tensor([5.0, 2.0]), TypeError, r"lengths must hold integers .* got dtype torch.float32"),
    (torch.tensor([True, True]), TypeError, r"lengths must hold integers .* dtype torch.bool"),
    ([5, 2, 1], ValueError, r"lengths must have shape \(2,\)"),
    (torch.tensor([5, 2, 1]), ValueError, r"lengths must have shape \(2,\)"),
    (torch.tensor([0, 2]), ValueError, r"every length must be >= 1, .*\[1, 5\]"),
    (torch.tensor([6, 2]), ValueError, r"lengths must not exceed .* T=5, .*\[1, 5\]"),
]


@pytest.mark.parametrize("family", list(_families()))
def test_every_family_takes_lengths_in_the_same_forms(family: str) -> None:
    """A list, a tuple, a numpy array or a tensor of any integer dtype, as
    ``pack_padded_sequence`` takes them: the same outputs and states as int64 lengths."""
    layer, x = _families()[family]
    want = layer(x, lengths=torch.tensor([5, 2]))
    for lengths in ([5, 2], (5, 2), np.array([5, 2]), torch.tensor([5, 2], dtype=torch.int32)):
        got = layer(x, lengths=lengths)
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("family", list(_families()))
@pytest.mark.parametrize("lengths,error,match", BAD_LENGTHS)
def test_every_family_refuses_bad_lengths_with_the_same_message(family, lengths, error, match):
    layer, x = _families()[family]
    with pytest.raises(error, match=f"{family}: {match}"):
        layer(x, lengths=lengths)


@pytest.mark.parametrize("family", list(_families()))
def test_every_family_is_traced_and_tracing_changes_nothing(family: str) -> None:
    layer, x = _families()[family]
    lengths = torch.tensor([5, 3])
    plain, _ = layer(x, lengths=lengths)
    with rnnkit.trace(layer) as tr:
        out, _ = layer(x, lengths=lengths)
    torch.testing.assert_close(out, plain, rtol=0, atol=0)
    rec = tr[""].layers[(0, 0)]
    torch.testing.assert_close(rec.h, out.detach())
    assert (rec.h[1, 3:] == 0).all()
    for gate in rec.gates.values():
        assert gate.shape[:2] == (B, T) and (gate[1, 3:] == 0).all()


def test_indrnn_and_convlstm_trace_gates_that_give_their_outputs() -> None:
    torch.manual_seed(0)
    ind = rnnkit.IndRNN(I, H, batch_first=True, bidirectional=True).double()
    x, lengths = torch.randn(B, T, I, dtype=torch.float64), torch.tensor([5, 3])
    with rnnkit.trace(ind) as tr:
        out, _ = ind(x, lengths=lengths)
    for d in (0, 1):
        rec = tr[""].layers[(0, d)]
        torch.testing.assert_close(torch.relu(rec.gates["pre"]), out[..., d * H : (d + 1) * H])
    conv = rnnkit.ConvLSTM1d(I, H, batch_first=True, bidirectional=True).double()
    xc = torch.randn(B, T, I, 6, dtype=torch.float64)
    with rnnkit.trace(conv) as tr:
        out, (h_n, c_n) = conv(xc, lengths=lengths)
    for d in (0, 1):
        rec = tr[""].layers[(0, d)]
        want = out[:, :, d * H : (d + 1) * H]
        torch.testing.assert_close(rec.gates["o"] * torch.tanh(rec.c), want)
        torch.testing.assert_close(last_step(rec.c, lengths) if d == 0 else rec.c[:, 0], c_n[d])


def test_convlstm_reverse_direction_reads_each_sequence_backwards_within_its_length() -> None:
    torch.manual_seed(1)
    bi = rnnkit.ConvLSTM1d(I, H, num_layers=2, batch_first=True, bidirectional=True).double()
    assert "weight_l1_reverse" in dict(bi.named_parameters())
    assert bi.weight_l1.shape[1] == 2 * H + H
    x, lengths = torch.randn(B, T, I, 6, dtype=torch.float64), torch.tensor([5, 2])
    out, (h_n, c_n) = bi(x, lengths=lengths)
    assert out.shape == (B, T, 2 * H, 6) and h_n.shape == (4, B, H, 6)
    one = rnnkit.ConvLSTM1d(I, H, batch_first=True).double()
    one.load_state_dict({"weight_l0": bi.weight_l0_reverse, "bias_l0": bi.bias_l0_reverse})
    back, (h_b, _) = one(reverse_padded(x, lengths), lengths=lengths)
    first = rnnkit.ConvLSTM1d(I, H, batch_first=True, bidirectional=True).double()
    first.load_state_dict({k: v for k, v in bi.state_dict().items() if "_l0" in k})
    out0, (h0, _) = first(x, lengths=lengths)
    torch.testing.assert_close(out0[:, :, H:], reverse_padded(back, lengths))
    torch.testing.assert_close(h0[1], h_b[0])
    torch.testing.assert_close(h0, h_n[:2])


def test_padded_helpers_on_any_rank() -> None:
    x = torch.arange(2 * 4 * 3 * 2).view(2, 4, 3, 2)
    lengths = torch.tensor([4, 2])
    r = reverse_padded(x, lengths)
    assert torch.equal(r[1, :2], x[1, [1, 0]]) and torch.equal(r[1, 2:], x[1, 2:])
    assert torch.equal(reverse_padded(r, lengths), x)
    assert torch.equal(last_step(x, lengths), torch.stack([x[0, 3], x[1, 1]]))
    assert step_mask(lengths, 4).tolist() == [[True] * 4, [True, True, False, False]]
