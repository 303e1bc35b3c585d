"""rnnkit.LSTM / GRU / RNN with cell options: backends agree, options compose, masks behave."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit.layers.options import dropout_mask, zoneout_weights

ALL_OPTIONS = {"layer_norm": True, "recurrent_dropout": 0.3, "zoneout": 0.2, "weight_drop": 0.25}
LAYERS = [
    (rnnkit.LSTM, {**ALL_OPTIONS, "peephole": True}),
    (rnnkit.GRU, ALL_OPTIONS),
    (rnnkit.RNN, ALL_OPTIONS),
]


def _run(layer, x, hx, lengths, seed):
    torch.manual_seed(seed)  # the same masks for every backend
    out, h = layer(x, hx, lengths=lengths)
    states = h if isinstance(h, tuple) else (h,)
    loss = out.square().sum() + sum(s.sin().sum() for s in states)
    grads = torch.autograd.grad(loss, [x, *layer.parameters()])
    return [out, *states, *grads]


@pytest.mark.parametrize(("cls", "options"), LAYERS)
@pytest.mark.parametrize("training", [True, False])
def test_bptt_equals_reference_with_layers_directions_lengths_and_states(cls, options, training):
    torch.manual_seed(0)
    layer = cls(3, 4, num_layers=2, bidirectional=True, batch_first=True, **options).double()
    layer.train(training)
    x = torch.randn(3, 6, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([6, 2, 4])
    h0 = torch.randn(4, 3, 4, dtype=torch.float64)
    hx = (h0, torch.randn(4, 3, 4, dtype=torch.float64)) if cls is rnnkit.LSTM else h0
    results = []
    for backend in ("reference", "bptt", "auto"):
        layer.backend = backend
        results.append(_run(layer, x, hx, lengths, seed=1))
    assert layer.last_backend == "bptt"  # auto picks the hand-written BPTT
    for ref, got in zip(results[0], results[1]):
        torch.testing.assert_close(got, ref)
    for ref, got in zip(results[1], results[2]):
        torch.testing.assert_close(got, ref)
    assert (results[0][0][1, 2:] == 0).all()  # zero outputs at padding


@pytest.mark.parametrize(("cls", "options"), LAYERS)
def test_padded_sequence_in_eval_equals_the_sequence_alone(cls, options):
    torch.manual_seed(2)
    layer = cls(3, 4, num_layers=2, bidirectional=True, **options).double().eval()
    x = torch.randn(5, 2, 3, dtype=torch.float64)  # (T, B, I)
    out, h = layer(x, lengths=torch.tensor([5, 3]))
    alone, h1 = layer(x[:3, 1:2])
    torch.testing.assert_close(alone[:, 0], out[:3, 1])
    h, h1 = (h[0], h1[0]) if isinstance(h, tuple) else (h, h1)
    torch.testing.assert_close(h1[:, 0], h[:, 1])


def test_options_off_is_exactly_the_plain_layer_and_native_still_runs():
    torch.manual_seed(3)
    plain = rnnkit.GRU(3, 4)
    layer = rnnkit.GRU(3, 4, layer_norm=False, zoneout=0.0)
    layer.load_state_dict(plain.state_dict())
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(layer(x)[0], plain(x)[0])
    assert layer.last_backend == "native"


def test_layer_norm_parameters_have_clear_names_and_init():
    lstm = rnnkit.LSTM(3, 4, bidirectional=True, layer_norm=True, peephole=True)
    names = dict(lstm.named_parameters())
    for n in ["ln_ih_weight_l0", "ln_hh_bias_l0_reverse", "ln_c_weight_l0", "weight_ci_l0"]:
        assert n in names
    assert names["ln_ih_weight_l0"].shape == (16,) and names["ln_c_bias_l0"].shape == (4,)
    assert (names["ln_hh_weight_l0"] == 1).all() and (names["ln_hh_bias_l0"] == 0).all()
    gru = rnnkit.GRU(3, 4, layer_norm=True)
    assert "ln_c_weight_l0" not in dict(gru.named_parameters())


def _identity_relu_rnn(**options):
    """RNN with W_ih = 0, W_hh = I, no bias, relu: h_t = relu(W'(h_{t-1} * d)) exposes masks."""
    rnn = rnnkit.RNN(2, 64, nonlinearity="relu", bias=False, batch_first=True, **options)
    with torch.no_grad():
        rnn.weight_ih_l0.zero_()
        rnn.weight_hh_l0.copy_(torch.eye(64))
    return rnn


def test_recurrent_dropout_one_mask_per_sequence_reused_at_every_step():
    torch.manual_seed(4)
    rnn = _identity_relu_rnn(recurrent_dropout=0.5)
    out, _ = rnn(torch.zeros(3, 5, 2), torch.ones(1, 3, 64))
    alive = out != 0  # (B, T, H): units whose mask is 1
    assert (alive == alive[:, :1]).all()  # the same mask at every step ...
    assert not (alive[0] == alive[1]).all()  # ... but a different one per sequence
    for t in range(5):  # surviving units are scaled by 1 / (1 - p) at every step
        torch.testing.assert_close(
            out[:, t][alive[:, t]], torch.full_like(out[:, t][alive[:, t]], 2.0 ** (t + 1))
        )
    rnn.eval()  # no mask in evaluation
    torch.testing.assert_close(
        rnn(torch.zeros(3, 5, 2), torch.ones(1, 3, 64))[0], torch.ones(3, 5, 64)
    )


def test_weight_drop_one_mask_per_forward_pass_shared_by_the_batch():
    torch.manual_seed(5)
    rnn = _identity_relu_rnn(weight_drop=0.5)
    out, _ = rnn(torch.zeros(3, 5, 2), torch.ones(1, 3, 64))
    alive = out != 0
    assert (alive == alive[:1, :1]).all()  # one mask of W_hh for every sequence and step
    assert 0 < alive[0, 0].sum() < 64
    out2, _ = rnn(torch.zeros(3, 5, 2), torch.ones(1, 3, 64))
    assert not ((out2 != 0) == alive).all()  # a new mask on the next forward pass
    rnn.eval()
    torch.testing.assert_close(
        rnn(torch.zeros(3, 5, 2), torch.ones(1, 3, 64))[0], torch.ones(3, 5, 64)
    )


def test_zoneout_fresh_mask_per_step_and_expectation_in_eval():
    torch.manual_seed(6)
    rnn = _identity_relu_rnn(zoneout=0.5)
    with torch.no_grad():
        rnn.weight_hh_l0.mul_(0.5)  # h~ = h / 2, so kept units stay at 1 and updated ones halve
    out, _ = rnn(torch.zeros(2, 6, 2), torch.ones(1, 2, 64))
    kept_first = out[:, 0] == 1
    assert 0 < kept_first.sum() < 128
    assert not (((out[:, 1] / out[:, 0]) == 1) == kept_first).all()  # a new mask at step 2
    rnn.eval()  # the expectation: h = p * h_prev + (1 - p) * h~ = 0.75 h_prev
    out, _ = rnn(torch.zeros(1, 3, 2), torch.ones(1, 1, 64))
    torch.testing.assert_close(out[0, :, 0], torch.tensor([0.75, 0.75**2, 0.75**3]))


def test_masks_preserve_the_expectation():
    torch.manual_seed(7)
    like = torch.empty(0)
    d = dropout_mask((200, 500), 0.3, like)
    values = d.unique()
    assert len(values) == 2 and values[0] == 0 and values[1].item() == pytest.approx(1 / 0.7)
    assert abs(d.mean().item() - 1.0) < 0.01
    z = zoneout_weights((200, 500), 0.3, like, training=True)
    assert abs(z.mean().item() - 0.3) < 0.01
    assert zoneout_weights((200, 500), 0.3, like, training=False).item() == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: rnnkit.GRU(3, 4, peephole=True), "peephole applies to LSTM only"),
        (lambda: rnnkit.RNN(3, 4, peephole=True), "peephole applies to LSTM only"),
        (lambda: rnnkit.LSTM(3, 4, zoneout=1.0), "zoneout"),
        (lambda: rnnkit.GRU(3, 4, recurrent_dropout=-0.1), "recurrent_dropout"),
        (lambda: rnnkit.LSTM(3, 4, weight_drop=1.5), "weight_drop"),
        (lambda: rnnkit.LSTM(3, 4, layer_norm=True, backend="native"), "native"),
        (lambda: rnnkit.LSTM(3, 4, proj_size=2, peephole=True, backend="scan"), "no lstm cell"),
    ],
)
def test_bad_options_are_refused_with_the_option_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_native_refused_at_run_time_too():
    lstm = rnnkit.LSTM(3, 4, zoneout=0.1)
    lstm.backend = "native"
    with pytest.raises(ValueError, match="cannot apply zoneout"):
        lstm(torch.randn(2, 1, 3))
