"""Bad arguments are refused at the layer's boundary with one message naming the argument,
the value and what was expected (never an error from inside a matrix product)."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import rnnkit


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"hidden_size": 0}, ValueError, r"hidden_size must be >= 1, got 0"),
        ({"num_layers": 0}, ValueError, r"num_layers must be >= 1, got 0"),
        ({"input_size": "3"}, TypeError, r"input_size must be an int, got '3'"),
        ({"num_layers": 2.0}, TypeError, r"num_layers must be an int, got 2.0"),
        ({"dropout": 1.0}, ValueError, r"dropout must be a float in \[0, 1\), got 1.0"),
        ({"dropout": -0.1}, ValueError, r"dropout must be a float in \[0, 1\), got -0.1"),
        ({"proj_size": 4}, ValueError, r"proj_size must be smaller than hidden_size \(4\), got 4"),
        ({"proj_size": -1}, ValueError, r"proj_size must be >= 0, got -1"),
        ({"backend": "fast"}, ValueError, r"backend must be one of 'auto', .*, got 'fast'"),
        ({"bias": "yes"}, TypeError, r"bias must be a bool, got 'yes'"),
        ({"bidirectional": 2}, TypeError, r"bidirectional must be a bool, got 2"),
    ],
)
def test_constructor_arguments(kwargs: dict, error: type, pattern: str) -> None:
    args = {"input_size": 3, "hidden_size": 4, **kwargs}
    with pytest.raises(error, match=pattern):
        rnnkit.LSTM(**args)


def test_nonlinearity_and_lonely_dropout() -> None:
    with pytest.raises(ValueError, match=r"nonlinearity must be one of 'tanh', 'relu', got 'gelu'"):
        rnnkit.RNN(3, 4, nonlinearity="gelu")
    with pytest.warns(UserWarning, match="dropout.*num_layers=1"):  # as torch.nn warns
        rnnkit.GRU(3, 4, dropout=0.2)


LSTM = rnnkit.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)
GRU = rnnkit.GRU(3, 4)
X = torch.randn(2, 5, 3)  # (B, T, I) for the batch_first LSTM


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: LSTM(torch.randn(2, 5, 3, 1)), ValueError, r"input must be 2-D .* got 4-D"),
        (lambda: LSTM(torch.randn(3)), ValueError, r"input must be 2-D .* got 1-D"),
        (
            lambda: LSTM(torch.randn(2, 0, 3)),
            ValueError,
            r"input must have at least one time step, got shape \(2, 0, 3\)",
        ),
        (
            lambda: LSTM(torch.randn(2, 5, 7)),
            ValueError,
            r"input.size\(-1\) must equal "
            r"input_size=3, got 7",
        ),
        (
            lambda: LSTM(torch.ones(2, 5, 3, dtype=torch.int64)),
            TypeError,
            r"input must be a floating-point tensor, got dtype torch.int64",
        ),
        (lambda: LSTM([[0.0] * 3] * 5), TypeError, r"input must be a torch.Tensor .* got list"),
        (
            lambda: LSTM(X.double()),
            TypeError,
            r"input has dtype torch.float64 but the layer's "
            r"parameters are torch.float32",
        ),
        (
            lambda: LSTM(X, lengths=torch.tensor([5, 6])),
            ValueError,
            r"lengths must not exceed the sequence length T=5, got a length of 6",
        ),
        (
            lambda: LSTM(X, lengths=torch.tensor([0, 5])),
            ValueError,
            r"every length must be >= 1, got a length of 0",
        ),
        (
            lambda: LSTM(X, lengths=torch.tensor([5.0, 4.0])),
            TypeError,
            r"lengths must hold integers .* got dtype torch.float32",
        ),
        (
            lambda: LSTM(X, lengths=torch.tensor([[5], [4]])),
            ValueError,
            r"lengths must have shape \(2,\), .* got \(2, 1\)",
        ),
        (
            lambda: LSTM(X, lengths=torch.tensor([5, 4, 3])),
            ValueError,
            r"lengths must have shape \(2,\), .* got \(3,\)",
        ),
        (lambda: LSTM(X, lengths="5,4"), TypeError, r"lengths must be a tensor or a list"),
        (
            lambda: LSTM(X[0], lengths=torch.tensor([5])),
            ValueError,
            r"lengths is for a batch of sequences",
        ),
        (
            lambda: LSTM(
                pack_padded_sequence(X, torch.tensor([5, 4]), batch_first=True),
                lengths=torch.tensor([5, 4]),
            ),
            ValueError,
            r"lengths must be None for a PackedSequence input",
        ),
        (
            lambda: LSTM(X, (torch.zeros(4, 2, 4), torch.zeros(2, 2, 4))),
            ValueError,
            r"hx\[1\] \(c_0\) must have shape \(4, 2, 4\), got \(2, 2, 4\)",
        ),
        (
            lambda: LSTM(X, torch.zeros(4, 2, 4)),
            TypeError,
            r"hx must be a tuple \(h_0, c_0\) of two tensors, got Tensor",
        ),
        (
            lambda: LSTM(X[0], (torch.zeros(4, 2, 4), torch.zeros(4, 2, 4))),
            ValueError,
            r"hx\[0\] \(h_0\) must have shape \(4, 4\), got \(4, 2, 4\)",
        ),
        (
            lambda: GRU(torch.randn(5, 2, 3), torch.zeros(1, 3, 4)),
            ValueError,
            r"GRU: hx must have shape \(1, 2, 4\), got \(1, 3, 4\)",
        ),
        (
            lambda: GRU(torch.randn(5, 2, 3), torch.zeros(1, 2, 4, dtype=torch.float64)),
            TypeError,
            r"hx has dtype torch.float64",
        ),
    ],
)
def test_forward_arguments(call, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        call()


@pytest.mark.parametrize("backend", ["native", "bptt", "reference"])
def test_empty_batch_runs_on_every_backend(backend: str) -> None:
    layer = rnnkit.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True, backend=backend)
    out, h = layer(torch.randn(0, 5, 3), lengths=torch.zeros(0, dtype=torch.int64))
    assert out.shape == (0, 5, 8) and h.shape == (4, 0, 4)
