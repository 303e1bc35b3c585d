"""ConvLSTM1d / 2d: 1x1 kernels reduce to torch.nn.LSTM per position; lengths; errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnkit.cells.convlstm import convlstm_step
from rnnkit.layers.convlstm import ConvLSTM1d, ConvLSTM2d


def test_kernel_1_equals_torch_lstm_at_every_pixel():
    torch.manual_seed(0)
    conv = ConvLSTM2d(3, 4, kernel_size=1, batch_first=True).double()
    lstm = nn.LSTM(3, 4, batch_first=True).double()
    w = conv.weight_l0[:, :, 0, 0]  # (4 C_h, C_in + C_h)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(w[:, :3])
        lstm.weight_hh_l0.copy_(w[:, 3:])
        lstm.bias_ih_l0.copy_(conv.bias_l0)
        lstm.bias_hh_l0.zero_()
    x = torch.randn(2, 5, 3, 2, 3, dtype=torch.float64)  # (B, T, C, H, W)
    out, (h_n, c_n) = conv(x)
    pixels = x.permute(0, 3, 4, 1, 2).reshape(12, 5, 3)  # every pixel is a sequence
    ref, (h_ref, c_ref) = lstm(pixels)
    torch.testing.assert_close(out.permute(0, 3, 4, 1, 2).reshape(12, 5, 4), ref)
    torch.testing.assert_close(h_n[0].permute(0, 2, 3, 1).reshape(12, 4), h_ref[0])
    torch.testing.assert_close(c_n[0].permute(0, 2, 3, 1).reshape(12, 4), c_ref[0])


def test_1d_stack_with_lengths_equals_stepping_by_hand():
    torch.manual_seed(1)
    conv = ConvLSTM1d(2, 3, kernel_size=3, num_layers=2).double()  # time major
    x = torch.randn(6, 2, 2, 7, dtype=torch.float64)  # (T, B, C, L)
    out, (h_n, c_n) = conv(x, lengths=torch.tensor([6, 4]))
    assert out.shape == (6, 2, 3, 7) and h_n.shape == (2, 2, 3, 7)
    inp = x[:4, 1:2]
    for layer in range(2):
        h = c = torch.zeros(1, 3, 7, dtype=torch.float64)
        hs = []
        for t in range(4):
            h, c = convlstm_step(
                inp[t], h, c, getattr(conv, f"weight_l{layer}"), getattr(conv, f"bias_l{layer}")
            )
            hs.append(h)
        inp = torch.stack(hs)
        torch.testing.assert_close(h_n[layer, 1], h[0])
        torch.testing.assert_close(c_n[layer, 1], c[0])
    torch.testing.assert_close(out[:4, 1], inp[:, 0])
    assert (out[4:, 1] == 0).all()


def test_gradients_flow_and_rectangular_kernels_keep_the_shape():
    conv = ConvLSTM2d(1, 2, kernel_size=(1, 3), batch_first=True)
    x = torch.randn(1, 3, 1, 5, 4, requires_grad=True)
    out, _ = conv(x)
    assert out.shape == (1, 3, 2, 5, 4)
    out.sum().backward()
    assert x.grad.abs().sum() > 0 and conv.weight_l0.grad.abs().sum() > 0


def test_wrong_rank_names_the_expected_layout():
    with pytest.raises(ValueError, match=r"5-D input \(B, T, C, H, W\)"):
        ConvLSTM2d(3, 4, batch_first=True)(torch.randn(2, 5, 3, 8))
    with pytest.raises(ValueError, match=r"4-D input \(T, B, C, L\)"):
        ConvLSTM1d(3, 4)(torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match="in_channels=3"):
        ConvLSTM1d(3, 4)(torch.randn(2, 5, 2, 8))
    with pytest.raises(ValueError, match="kernel_size"):
        ConvLSTM2d(3, 4, kernel_size=(3, 3, 3))
    with pytest.raises(ValueError, match="odd"):
        ConvLSTM1d(3, 4, kernel_size=2)


def test_backend_argument_through_the_registry() -> None:
    """ConvLSTM takes ``backend=`` as the other families: a registered backend serving
    ``convlstm`` runs and ``last_backend`` / ``backend_reason`` say so; another is refused
    with the list of what would work."""
    import rnnkit

    layer = rnnkit.ConvLSTM1d(2, 3, backend="reference", batch_first=True)
    layer(torch.randn(2, 4, 2, 5))
    assert layer.last_backend == "reference" and layer.backend_reason == "reference: asked for"
    auto = rnnkit.ConvLSTM2d(2, 3, batch_first=True)
    auto(torch.randn(2, 3, 2, 4, 4))
    assert auto.last_backend == "reference" and auto.backend_reason.startswith("auto -> ")
    with pytest.raises(ValueError, match=r"backend must be one of 'auto', 'reference'.*'bptt'"):
        rnnkit.ConvLSTM1d(2, 3, backend="bptt")
