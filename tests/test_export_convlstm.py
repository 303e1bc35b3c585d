"""ONNX export of ConvLSTM1d / ConvLSTM2d layers (Scan over a convolutional cell) against rnnkit."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

import rnnkit
from rnnkit.deploy import export_model


def run(layer, x, lengths):
    """ONNX Runtime's (output, h_n, c_n) for ``layer``'s exported graph."""
    proto, io = export_model(layer)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(["output", "h_n", "c_n"], {"inputs": x.numpy(), "lengths": lengths.numpy()})


def assert_same(layer, x, lengths):
    with torch.no_grad():
        out, (h_n, c_n) = layer(x, lengths=lengths)
    for got, want in zip(run(layer, x, lengths), (out, h_n, c_n), strict=True):
        assert got.shape == tuple(want.shape)
        np.testing.assert_allclose(got, want.numpy(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_convlstm2d_equals_the_layer_on_ragged_batches(num_layers, bidirectional):
    torch.manual_seed(0)
    layer = rnnkit.ConvLSTM2d(
        2, 3, kernel_size=3, num_layers=num_layers, batch_first=True, bidirectional=bidirectional
    ).eval()
    for T, space in ((1, (4, 5)), (6, (3, 7))):  # every axis dynamic: one graph, two shapes
        x = torch.randn(4, T, 2, *space)
        lengths = torch.tensor([1, max(1, T // 2), T, min(3, T)])
        assert_same(layer, x, lengths)


def test_convlstm1d_time_major_without_bias_and_a_wide_kernel():
    torch.manual_seed(1)
    layer = rnnkit.ConvLSTM1d(3, 4, kernel_size=5, bias=False, bidirectional=True).eval()
    x = torch.randn(9, 3, 3, 8)  # (T, B, C, L): the layer is time-major
    assert_same(layer, x, torch.tensor([9, 2, 5]))


def test_convlstm_padding_is_zero_and_states_come_from_the_last_real_step():
    torch.manual_seed(2)
    layer = rnnkit.ConvLSTM1d(2, 3, batch_first=True).eval()
    x = torch.randn(2, 5, 2, 6)
    out, h_n, c_n = run(layer, x, torch.tensor([2, 5]))
    assert np.all(out[0, 2:] == 0)
    alone = run(layer, x[:1, :2], torch.tensor([2]))  # the short sequence by itself
    np.testing.assert_allclose(out[0, :2], alone[0][0], atol=1e-6)
    np.testing.assert_allclose(h_n[:, 0], alone[1][:, 0], atol=1e-6)
    np.testing.assert_allclose(c_n[:, 0], alone[2][:, 0], atol=1e-6)


def test_convlstm_io_description_names_the_layout():
    _, io = export_model(rnnkit.ConvLSTM2d(3, 8, num_layers=2, bidirectional=True))
    assert io["inputs"][0]["shape"] == ["time", "batch", 3, "height", "width"]
    assert io["outputs"][0]["shape"] == ["time", "batch", 16, "height", "width"]
    assert io["outputs"][1]["shape"] == [4, "batch", 8, "height", "width"]
