"""IndRNN: the hand-written BPTT equals autograd over the step; layer semantics."""

from __future__ import annotations

import pytest
import torch

from rnnkit.cells.indrnn import IndRNNRecurrence, indrnn_sequence, indrnn_step
from rnnkit.layers.indrnn import IndRNN


def test_bptt_gradcheck_float64_with_padding():
    torch.manual_seed(0)
    B, T, H = 3, 5, 4
    xp = torch.randn(B, T, H, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.float64)
    h0 = torch.rand(B, H, dtype=torch.float64, requires_grad=True)
    u = torch.empty(H, dtype=torch.float64).uniform_(-1, 1).requires_grad_()
    assert torch.autograd.gradcheck(IndRNNRecurrence.apply, (xp, mask, h0, u))


def test_bptt_equals_reference_outputs_states_and_grads():
    torch.manual_seed(1)
    B, T, I, H = 4, 7, 3, 5
    x = torch.randn(B, T, I, dtype=torch.float64)
    mask = (torch.arange(T)[None] < torch.tensor([7, 5, 2, 1])[:, None]).double()
    params = [
        torch.randn(H, I, dtype=torch.float64),
        torch.rand(H, dtype=torch.float64),
        torch.randn(H, dtype=torch.float64),
    ]
    h0 = torch.randn(B, H, dtype=torch.float64)
    results = []
    for mode in ("reference", "bptt"):
        leaves = [p.clone().requires_grad_() for p in [x, h0, *params]]
        xx, hh, w, u, b = leaves
        out, h_n = indrnn_sequence(xx, mask, hh, w, u, b, mode=mode)
        (out.square().sum() + h_n.sin().sum()).backward()
        results.append([out, h_n, *[leaf.grad for leaf in leaves]])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b)
    assert (results[0][0][3, 1:] == 0).all()  # zero outputs at padding


def test_layer_equals_stepping_by_hand_and_holds_state():
    torch.manual_seed(2)
    rnn = IndRNN(3, 6, batch_first=True).double()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    lengths = torch.tensor([5, 3])
    out, h_n = rnn(x, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        h = torch.zeros(6, dtype=torch.float64)
        for t in range(n):
            h = indrnn_step(
                x[b, t][None], h[None], rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_l0
            )[0]
            torch.testing.assert_close(out[b, t], h)
        torch.testing.assert_close(h_n[0, b], h)
        assert (out[b, n:] == 0).all()


def test_bidirectional_stack_shapes_and_reverse_within_length():
    torch.manual_seed(3)
    rnn = IndRNN(3, 4, num_layers=2, bidirectional=True).double()
    x = torch.randn(6, 2, 3, dtype=torch.float64)  # (T, B, I)
    out, h_n = rnn(x, lengths=torch.tensor([6, 4]))
    assert out.shape == (6, 2, 8) and h_n.shape == (4, 2, 4)
    # sequence 1 alone (length 4) gives the same numbers as inside the padded batch
    out1, h1 = rnn(x[:4, 1:2])
    torch.testing.assert_close(out1[:, 0], out[:4, 1])
    torch.testing.assert_close(h1[:, 0], h_n[:, 1])


def test_recurrent_weights_are_bounded_and_constrain_clamps():
    rnn = IndRNN(2, 8, recurrent_max=IndRNN.bound(10), recurrent_init=(0.5, 3.0))
    assert rnn.weight_hh_l0.abs().max() <= 2**0.1 + 1e-7
    with torch.no_grad():
        rnn.weight_hh_l0.fill_(5.0)
    rnn.constrain_()
    torch.testing.assert_close(rnn.weight_hh_l0, torch.full((8,), 2**0.1))


def test_last_layer_init_range():
    rnn = IndRNN(2, 64, num_layers=2, recurrent_max=None, last_layer_init=(0.9, 1.0))
    assert rnn.weight_hh_l1.min() >= 0.9 and rnn.weight_hh_l0.max() <= 1.0


@pytest.mark.parametrize(
    ("kwargs", "call", "match"),
    [
        ({}, lambda m: m(torch.randn(4, 2, 3, 1)), "3-D input"),
        ({}, lambda m: m(torch.randn(4, 3), lengths=torch.tensor([4])), "unbatched"),
        ({}, lambda m: m(torch.randn(4, 2, 5)), "input_size=3"),
        ({}, lambda m: m(torch.randn(4, 2, 3), lengths=torch.tensor([4, 9])), r"\[1, 4\]"),
        ({}, lambda m: m(torch.randn(4, 2, 3), torch.zeros(1, 3, 4)), "hx of shape"),
        ({"backend": "native"}, None, "backend"),
        ({"dropout": 1.0}, None, "dropout"),
        ({"recurrent_max": "x"}, None, "a finite number > 0 or None, got 'x'"),
        ({"recurrent_max": True}, None, "recurrent_max"),
        ({"recurrent_max": float("nan")}, None, "recurrent_max"),
        ({"recurrent_max": 0}, None, "recurrent_max"),
    ],
)
def test_bad_input_is_refused_clearly(kwargs, call, match):
    with pytest.raises(ValueError, match=match):
        m = IndRNN(3, 4, **kwargs)
        call(m)


def test_unbatched_sequence_equals_a_batch_of_one():
    torch.manual_seed(5)
    rnn = IndRNN(3, 4, num_layers=2).double()
    x, h0 = torch.randn(6, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    out, h_n = rnn(x, h0)
    out_b, h_b = rnn(x[:, None], h0[:, None])
    torch.testing.assert_close(out, out_b[:, 0])
    torch.testing.assert_close(h_n, h_b[:, 0])


def test_recurrent_max_takes_any_real_number():
    """A numpy scalar bound (np.float32, np.int64) is a number like any other."""
    import numpy as np

    for bound, expected in ((np.float32(1.5), 1.5), (np.int64(2), 2.0), (1.5, 1.5)):
        rnn = IndRNN(3, 4, recurrent_max=bound)
        assert rnn.recurrent_max == expected and type(rnn.recurrent_max) is float
