"""Recurrent(cell): the wrapper equals stepping the cell by hand (Flax style)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnkit.cells.padded import reverse_padded as flip_padded
from rnnkit.layers.recurrent import Recurrent


class TanhCell(nn.Module):
    """h_t = tanh(W [x_t, h_{t-1}]); output 2 * h_t (so output and state differ)."""

    def __init__(self, i: int, h: int) -> None:
        super().__init__()
        self.h = h
        self.lin = nn.Linear(i + h, h)

    def initial_state(self, batch, device, dtype):
        return torch.zeros(batch, self.h, device=device, dtype=dtype)

    def forward(self, x, h):
        h = torch.tanh(self.lin(torch.cat([x, h], -1)))
        return 2 * h, h


class TupleCell(nn.Module):
    """An LSTMCell with a (h, c) tuple state and no initial_state."""

    def __init__(self, i: int, h: int) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(i, h)

    def forward(self, x, state):
        h, c = self.cell(x, state)
        return h, (h, c)


def test_equals_stepping_the_cell_by_hand_with_lengths():
    torch.manual_seed(0)
    cell = TanhCell(3, 5).double()
    layer = Recurrent(cell, batch_first=True)
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    lengths = torch.tensor([6, 2, 4])
    out, h_n = layer(x, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        h = torch.zeros(1, 5, dtype=torch.float64)
        for t in range(n):
            y, h = cell(x[b : b + 1, t], h)
            torch.testing.assert_close(out[b, t], y[0])
        assert (out[b, n:] == 0).all()
        torch.testing.assert_close(h_n[b], h[0])


def test_tuple_state_hx_and_time_major_match_torch_lstm():
    torch.manual_seed(1)
    cell = TupleCell(3, 4).double()
    ref = nn.LSTM(3, 4).double()
    ref.weight_ih_l0, ref.weight_hh_l0 = cell.cell.weight_ih, cell.cell.weight_hh
    ref.bias_ih_l0, ref.bias_hh_l0 = cell.cell.bias_ih, cell.cell.bias_hh
    x = torch.randn(5, 2, 3, dtype=torch.float64)  # (T, B, I)
    h0, c0 = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    out, (h, c) = Recurrent(cell)(x, (h0, c0))
    out_ref, (h_ref, c_ref) = ref(x, (h0[None], c0[None]))
    torch.testing.assert_close(out, out_ref)
    torch.testing.assert_close(h, h_ref[0])
    torch.testing.assert_close(c, c_ref[0])


def test_bidirectional_stack_uses_separate_cells_and_reverses_within_lengths():
    torch.manual_seed(2)
    layer = Recurrent(
        lambda layer: TanhCell(3 if layer == 0 else 8, 4).double(),
        num_layers=2,
        bidirectional=True,
        batch_first=True,
    )
    assert len(layer.cells) == 4
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    lengths = torch.tensor([5, 3])
    out, finals = layer(x, lengths=lengths)
    assert out.shape == (2, 5, 8) and len(finals) == 4
    # the reverse direction of layer 0 equals its cell run forward over the reversed input
    back, _ = Recurrent(layer.cells[1], batch_first=True)(flip_padded(x, lengths), lengths=lengths)
    one_layer = Recurrent(lambda _: TanhCell(3, 4).double(), bidirectional=True, batch_first=True)
    one_layer.cells.load_state_dict(layer.cells[:2].state_dict())
    out0, _ = one_layer(x, lengths=lengths)
    torch.testing.assert_close(out0[..., 4:], flip_padded(back, lengths))
    # a padded sequence gives what it gives alone
    alone, _ = layer(x[1:, :3])
    torch.testing.assert_close(alone[0], out[1, :3])


def test_flip_padded_reverses_within_length_and_is_its_own_inverse():
    x = torch.arange(8.0).view(2, 4, 1)
    lengths = torch.tensor([4, 2])
    y = flip_padded(x, lengths)
    assert y[:, :, 0].tolist() == [[3, 2, 1, 0], [5, 4, 6, 7]]
    torch.testing.assert_close(flip_padded(y, lengths), x)


def test_clear_errors():
    with pytest.raises(ValueError, match="factory"):
        Recurrent(TanhCell(3, 4), num_layers=2)
    with pytest.raises(ValueError, match="initial_state"):
        Recurrent(TupleCell(3, 4))(torch.randn(5, 2, 3))
    with pytest.raises(ValueError, match=r"\(T, B, \*features\)"):
        Recurrent(TanhCell(3, 4))(torch.randn(5, 3))
    with pytest.raises(ValueError, match="lengths"):
        Recurrent(TanhCell(3, 4))(torch.randn(5, 2, 3), lengths=torch.tensor([5, 0]))
