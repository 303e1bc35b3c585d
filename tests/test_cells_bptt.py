"""The hand-written backwards: float64 gradcheck, partial needs_input_grad, argument errors."""

from __future__ import annotations

import pytest
import torch
from test_families_specs import CELLS

from rnnkit.cells import (
    GRUBPTT,
    LSTMBPTT,
    ElmanBPTT,
    elman_sequence,
)

B, T, I, H = 3, 5, 4, 3
LENGTHS = torch.tensor([5, 1, 3])  # ragged, unsorted, with a length-1 sequence


def leaf(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64, requires_grad=True)


def weights(gates: int, h_in: int, bias: bool) -> list[torch.Tensor | None]:
    biases = [leaf(gates * H), leaf(gates * H)] if bias else [None, None]
    return [leaf(gates * H, I), leaf(gates * H, h_in), *biases]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_elman_gradcheck(nonlinearity, bias):
    torch.manual_seed(0)
    w_ih, w_hh, b_ih, b_hh = weights(1, H, bias)
    x, h0 = leaf(B, T, I), leaf(B, H)

    def f(x, h0, w_ih, w_hh, *b):
        b_ih, b_hh = b if bias else (None, None)
        return ElmanBPTT.apply(x, LENGTHS, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity)

    tensors = [t for t in (b_ih, b_hh) if t is not None]
    assert torch.autograd.gradcheck(f, (x, h0, w_ih, w_hh, *tensors))


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("proj", [None, 2], ids=["noproj", "proj"])
def test_lstm_gradcheck(proj, bias):
    torch.manual_seed(0)
    h_out = proj or H
    w_ih, w_hh, b_ih, b_hh = weights(4, h_out, bias)
    w_hr = leaf(h_out, H) if proj else None
    x, h0, c0 = leaf(B, T, I), leaf(B, h_out), leaf(B, H)

    def f(x, h0, c0, w_ih, w_hh, *rest):
        rest = list(rest)
        b_ih, b_hh = (rest.pop(0), rest.pop(0)) if bias else (None, None)
        w_hr = rest.pop(0) if proj else None
        return LSTMBPTT.apply(x, LENGTHS, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr)

    rest = [t for t in (b_ih, b_hh, w_hr) if t is not None]
    assert torch.autograd.gradcheck(f, (x, h0, c0, w_ih, w_hh, *rest))


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_gru_gradcheck(bias):
    torch.manual_seed(0)
    w_ih, w_hh, b_ih, b_hh = weights(3, H, bias)
    x, h0 = leaf(B, T, I), leaf(B, H)

    def f(x, h0, w_ih, w_hh, *b):
        b_ih, b_hh = b if bias else (None, None)
        return GRUBPTT.apply(x, LENGTHS, h0, w_ih, w_hh, b_ih, b_hh)

    tensors = [t for t in (b_ih, b_hh) if t is not None]
    assert torch.autograd.gradcheck(f, (x, h0, w_ih, w_hh, *tensors))


def test_gradcheck_full_length_fast_path():
    """With no padding the forward and backward skip masking; check that path too."""
    torch.manual_seed(0)
    full = torch.tensor([T, T, T])
    x, h0, c0 = leaf(B, T, I), leaf(B, H), leaf(B, H)
    w_ih, w_hh, b_ih, b_hh = weights(4, H, True)
    assert torch.autograd.gradcheck(
        lambda x, h0, c0, w_ih, w_hh: LSTMBPTT.apply(x, full, h0, c0, w_ih, w_hh, b_ih, b_hh),
        (x, h0, c0, w_ih, w_hh),
    )
    w_ih, w_hh, b_ih, b_hh = weights(3, H, True)
    assert torch.autograd.gradcheck(
        lambda x, h0, w_ih, w_hh: GRUBPTT.apply(x, full, h0, w_ih, w_hh, b_ih, b_hh),
        (x, h0, w_ih, w_hh),
    )


@pytest.mark.parametrize("family", list(CELLS))
def test_only_some_inputs_need_grad(family):
    """Frozen input and states (needs_input_grad False) still give the reference weight grads."""
    torch.manual_seed(0)
    cell = CELLS[family]
    params = weights(cell.gates, H, True)
    params[0].requires_grad_(False)  # a frozen w_ih
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    c0 = torch.randn(B, H, dtype=torch.float64)
    grads = {}
    for mode in ("reference", "bptt"):
        out, _ = cell.run(x, LENGTHS, [h0, c0][: cell.states], params, mode)
        grads[mode] = torch.autograd.grad(out.square().sum(), params[1:])
    for g_ref, g_bptt in zip(grads["reference"], grads["bptt"]):
        torch.testing.assert_close(g_bptt, g_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("family", list(CELLS))
def test_unknown_mode_is_refused_with_its_name(family):
    x, h = torch.zeros(1, 2, I), torch.zeros(1, H)
    lengths = torch.tensor([2])
    cell = CELLS[family]
    with pytest.raises(ValueError, match="'fused'"):
        cell.run(x, lengths, [h] * cell.states, weights(cell.gates, H, True), "fused")


@pytest.mark.parametrize("mode", ["reference", "bptt"])
def test_unknown_nonlinearity_is_refused_with_its_name(mode):
    x, h = torch.zeros(1, 2, I, dtype=torch.float64), torch.zeros(1, H, dtype=torch.float64)
    with pytest.raises(ValueError, match="'gelu'"):
        elman_sequence(x, torch.tensor([2]), h, *weights(1, H, True), "gelu", mode=mode)


@pytest.mark.parametrize("backward_inside", [False, True], ids=["bwd_outside", "bwd_inside"])
@pytest.mark.parametrize("family", list(CELLS))
def test_bptt_under_autocast_runs_in_float32(family, backward_inside):
    """Autocast would break the preallocated buffers; BPTT runs in float32 under it instead."""
    torch.manual_seed(0)
    cell = CELLS[family]
    params = [p.detach().float().requires_grad_() for p in weights(cell.gates, H, True)]
    x, h = torch.randn(B, T, I), torch.randn(B, H)

    def run():
        out, _ = cell.run(x, LENGTHS, [h] * cell.states, params, "bptt")
        return out

    expected = run()
    expected_grads = torch.autograd.grad(expected.sum(), params)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = run()
        if backward_inside:
            grads = torch.autograd.grad(out.sum(), params)
    if not backward_inside:
        grads = torch.autograd.grad(out.sum(), params)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-7)
    for g, e in zip(grads, expected_grads):
        torch.testing.assert_close(g, e, rtol=1e-6, atol=1e-7)
