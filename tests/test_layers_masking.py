"""What ``lengths`` means, checked without torch.nn: a padded batch gives, for every sequence,
exactly what that sequence gives alone (both directions), zero outputs at padding, and
results that do not depend on what the padding holds."""

from __future__ import annotations

import pytest
import torch

import rnnkit

BACKENDS = ("native", "bptt", "reference")
LAYERS = {
    "LSTM": lambda backend: rnnkit.LSTM(
        3, 4, num_layers=2, bidirectional=True, proj_size=2, batch_first=True, backend=backend
    ),
    "GRU": lambda backend: rnnkit.GRU(3, 4, bidirectional=True, batch_first=True, backend=backend),
    "RNN": lambda backend: rnnkit.RNN(
        3, 4, num_layers=2, bidirectional=True, batch_first=True, backend=backend
    ),
}
LENGTHS = torch.tensor([2, 5, 1, 4])


def _final(hx):
    return hx[0] if isinstance(hx, tuple) else hx


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("family", sorted(LAYERS))
def test_each_sequence_as_if_alone(family: str, backend: str) -> None:
    torch.manual_seed(0)
    layer = LAYERS[family](backend).double()
    x = torch.randn(len(LENGTHS), 5, 3, dtype=torch.float64)
    out, hx = layer(x, lengths=LENGTHS)  # (B, T, 2*H_out)
    assert layer.last_backend == backend
    for b, n in enumerate(LENGTHS.tolist()):
        alone_out, alone_hx = layer(x[b : b + 1, :n])  # the sequence, unpadded
        torch.testing.assert_close(out[b : b + 1, :n], alone_out)
        # h_n at its last real step; the reverse direction started at that step
        for s, s_alone in zip(
            hx if isinstance(hx, tuple) else (hx,),
            alone_hx if isinstance(alone_hx, tuple) else (alone_hx,),
            strict=True,
        ):
            torch.testing.assert_close(s[:, b : b + 1], s_alone)
        assert torch.count_nonzero(out[b, n:]) == 0  # zero at padded steps


@pytest.mark.parametrize("backend", BACKENDS)
def test_padding_content_changes_nothing(backend: str) -> None:
    torch.manual_seed(0)
    layer = LAYERS["LSTM"](backend)
    x = torch.randn(len(LENGTHS), 5, 3)
    junk = x.clone()
    pad = torch.arange(5)[None, :] >= LENGTHS[:, None]  # (B, T)
    junk[pad] = 1e3 * torch.randn(int(pad.sum()), 3)
    out, (h, c) = layer(x, lengths=LENGTHS)
    out_junk, (h_junk, c_junk) = layer(junk, lengths=LENGTHS)
    torch.testing.assert_close(out, out_junk)
    torch.testing.assert_close(h, h_junk)
    torch.testing.assert_close(c, c_junk)


@pytest.mark.parametrize("backend", BACKENDS)
def test_full_lengths_equal_no_lengths(backend: str) -> None:
    torch.manual_seed(0)
    layer = LAYERS["GRU"](backend)
    x = torch.randn(4, 5, 3)
    out, h = layer(x, lengths=torch.full((4,), 5, dtype=torch.int64))
    out_plain, h_plain = layer(x)
    torch.testing.assert_close(out, out_plain)
    torch.testing.assert_close(h, h_plain)


def test_padding_gets_no_gradient_and_time_major_lengths_work() -> None:
    torch.manual_seed(0)
    layer = rnnkit.LSTM(3, 4, bidirectional=True, backend="bptt")  # time-major
    x = torch.randn(5, len(LENGTHS), 3, requires_grad=True)  # (T, B, I)
    out, (h, _) = layer(x, lengths=LENGTHS)
    (out.sum() + h.sum()).backward()
    pad = torch.arange(5)[:, None] >= LENGTHS[None, :]  # (T, B)
    assert torch.count_nonzero(out[pad]) == 0
    assert torch.count_nonzero(x.grad[pad]) == 0
    assert torch.count_nonzero(x.grad[~pad]) > 0
