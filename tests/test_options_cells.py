"""Extended cells: the hand-written BPTT equals autograd over the step, for every option."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnkit.cells.extended import extended_sequence, extended_step
from rnnkit.cells.gru import gru_sequence
from rnnkit.cells.lstm import lstm_sequence

B, T, I, H = 3, 5, 2, 3
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
LENGTHS = torch.tensor([5, 3, 1])


def _leaves(kind, ln, peep, seed=0, proj=0, bias=True):
    """Parameters and states of one cell as float64 leaves, keyed by name (``proj``: the
    LSTM projection's size, ``w_hr`` (proj, H))."""
    g = torch.Generator().manual_seed(seed)
    G, H_out = GATES[kind] * H, proj or H
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    p = {"x": r(B, T, I), "h0": r(B, H_out), "w_ih": r(G, I), "w_hh": r(G, H_out) * 0.7}
    if bias:
        p |= {"b_ih": r(G), "b_hh": r(G)}
    if proj:
        p["w_hr"] = r(proj, H) * 0.7
    if kind == "lstm":
        p["c0"] = r(B, H)
    if ln:
        p |= {"lg_ih": 1 + 0.2 * r(G), "lb_ih": r(G), "lg_hh": 1 + 0.2 * r(G), "lb_hh": r(G)}
        if kind == "lstm":
            p |= {"lg_c": 1 + 0.2 * r(H), "lb_c": r(H)}
    if peep:
        p |= {"w_ci": r(H), "w_cf": r(H), "w_co": r(H)}
    return p


def _run(kind, p, masks, mode, nonlinearity="tanh"):
    opt = lambda *k: tuple(p[n] for n in k) if k[0] in p else None  # noqa: E731
    return extended_sequence(
        kind, p["x"], LENGTHS, p["h0"], p.get("c0"), p["w_ih"], p["w_hh"], p.get("b_ih"),
        p.get("b_hh"), ln_ih=opt("lg_ih", "lb_ih"), ln_hh=opt("lg_hh", "lb_hh"),
        ln_c=opt("lg_c", "lb_c"), peephole=opt("w_ci", "w_cf", "w_co"), mode=mode,
        nonlinearity=nonlinearity, w_hr=p.get("w_hr"), **masks,
    )  # fmt: skip


def _masks(kind, seed=1, h_out=H):
    g = torch.Generator().manual_seed(seed)
    m = {
        "rec_mask": (torch.rand(B, h_out, generator=g) > 0.3).double() / 0.7,
        "zoneout_h": (torch.rand(B, T, h_out, generator=g) < 0.4).double(),
    }
    if kind == "lstm":
        m["zoneout_c"] = (torch.rand(B, T, H, generator=g) < 0.4).double()
    return m


CASES = [
    (kind, ln, peep, stoch)
    for kind, ln, peep, stoch in itertools.product(GATES, [False, True], [False, True], [0, 1])
    if not (peep and kind != "lstm")
]


@pytest.mark.parametrize(("kind", "ln", "peep", "stochastic"), CASES)
def test_bptt_equals_reference_outputs_states_and_grads(kind, ln, peep, stochastic):
    p0 = _leaves(kind, ln, peep)
    masks = _masks(kind) if stochastic else {}
    results = []
    for mode in ("reference", "bptt"):
        p = {k: v.clone().requires_grad_() for k, v in p0.items()}
        out, h_n, c_n = _run(kind, p, masks, mode)
        loss = out.square().sum() + h_n.sin().sum() + (c_n.cos().sum() if c_n is not None else 0)
        loss.backward()
        results.append([out, h_n] + [p[k].grad for k in sorted(p)])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b)
    assert (results[1][0][2, 1:] == 0).all()  # zero outputs at padding


@pytest.mark.parametrize("kind", list(GATES))
def test_gradcheck_float64_all_options_with_fixed_masks(kind):
    p = _leaves(kind, True, kind == "lstm")
    names = sorted(p)
    masks = _masks(kind)

    def f(*tensors):
        out, h_n, c_n = _run(kind, dict(zip(names, tensors)), masks, "bptt")
        return (out, h_n) if c_n is None else (out, h_n, c_n)

    inputs = [p[k].requires_grad_() for k in names]
    assert torch.autograd.gradcheck(f, inputs)


@pytest.mark.parametrize("stochastic", [0, 1])
@pytest.mark.parametrize("ln, peep", [(False, False), (True, False), (False, True), (True, True)])
def test_lstm_projection_bptt_equals_reference(ln, peep, stochastic):
    """Every option with proj_size: h (B, H_out) projected, c (B, H); the masks on h."""
    p0 = _leaves("lstm", ln, peep, proj=2)
    masks = _masks("lstm", h_out=2) if stochastic else {}
    results = []
    for mode in ("reference", "bptt"):
        p = {k: v.clone().requires_grad_() for k, v in p0.items()}
        out, h_n, c_n = _run("lstm", p, masks, mode)
        assert out.shape == (B, T, 2) and h_n.shape == (B, 2) and c_n.shape == (B, H)
        loss = out.square().sum() + h_n.sin().sum() + c_n.cos().sum()
        loss.backward()
        results.append([out, h_n, c_n] + [p[k].grad for k in sorted(p)])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b)
    w_hr_grad = results[1][3 + sorted(p0).index("w_hr")]
    assert w_hr_grad.abs().sum() > 0


def test_gradcheck_float64_lstm_projection_with_all_options():
    p = _leaves("lstm", True, True, proj=2)
    names = sorted(p)
    masks = _masks("lstm", h_out=2)

    def f(*tensors):
        return _run("lstm", dict(zip(names, tensors)), masks, "bptt")

    assert torch.autograd.gradcheck(f, [p[k].requires_grad_() for k in names], fast_mode=True)


@pytest.mark.parametrize("kind", ["gru", "rnn"])
def test_gradcheck_float64_without_biases(kind):
    p = _leaves(kind, True, False, bias=False)
    names = sorted(p)
    masks = _masks(kind)

    def f(*tensors):
        out, h_n, c_n = _run(kind, dict(zip(names, tensors)), masks, "bptt")
        return (out, h_n) if c_n is None else (out, h_n, c_n)

    assert torch.autograd.gradcheck(f, [p[k].requires_grad_() for k in names], fast_mode=True)


def test_relu_elman_bptt_equals_reference():
    p0 = _leaves("rnn", True, False)
    res = []
    for mode in ("reference", "bptt"):
        p = {k: v.clone().requires_grad_() for k, v in p0.items()}
        out, h_n, _ = _run("rnn", p, _masks("rnn"), mode, nonlinearity="relu")
        (out.sum() + h_n.square().sum()).backward()
        res.append([out, *[p[k].grad for k in sorted(p)]])
    for a, b in zip(*res):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_without_options_equals_the_classic_cell(kind):
    p = _leaves(kind, False, False)
    out, h_n, c_n = _run(kind, p, {}, "bptt")
    if kind == "lstm":
        ref = lstm_sequence(p["x"], LENGTHS, p["h0"], p["c0"], p["w_ih"], p["w_hh"], p["b_ih"],
                            p["b_hh"])  # fmt: skip
        torch.testing.assert_close(c_n, ref[2])
    else:
        ref = gru_sequence(p["x"], LENGTHS, p["h0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"])
    torch.testing.assert_close(out, ref[0])
    torch.testing.assert_close(h_n, ref[1])


def test_zoneout_expectation_weights_blend_the_states():
    """With keep weight p the step returns p * h_prev + (1 - p) * h~ exactly."""
    p = _leaves("gru", False, False)
    x_t, h = p["x"][:, 0], p["h0"]
    args = (x_t, h, None, p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"])
    new, _ = extended_step("gru", *args)
    blended, _ = extended_step("gru", *args, keep_h=torch.full_like(h, 0.3))
    torch.testing.assert_close(blended, 0.3 * h + 0.7 * new)


def test_bad_arguments():
    p = _leaves("gru", False, False)
    with pytest.raises(ValueError, match="peephole applies to LSTM only"):
        extended_sequence("gru", p["x"], None, p["h0"], None, p["w_ih"], p["w_hh"], None, None,
                          peephole=(p["h0"][0],) * 3)  # fmt: skip
    with pytest.raises(ValueError, match="kind"):
        extended_sequence("xlstm", p["x"], None, p["h0"], None, p["w_ih"], p["w_hh"], None, None)
    with pytest.raises(ValueError, match="w_hr .projection. applies to the LSTM only"):
        extended_sequence("gru", p["x"], None, p["h0"], None, p["w_ih"], p["w_hh"], None, None,
                          w_hr=p["w_hh"])  # fmt: skip
    with pytest.raises(ValueError, match="mode must be"):
        extended_sequence("gru", p["x"], None, p["h0"], None, p["w_ih"], p["w_hh"], None, None,
                          mode="fast")  # fmt: skip
