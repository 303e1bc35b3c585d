"""Right padding: zero outputs, held states, and no gradient (nor influence) from padded steps."""

from __future__ import annotations

import pytest
import torch
from test_families_specs import CELLS

B, T, I, H = 4, 7, 3, 5
LENGTHS = torch.tensor([7, 2, 5, 1])


def run(family: str, x: torch.Tensor, lengths: torch.Tensor, mode: str, params, states):
    """``(out, final states)`` of one family."""
    return CELLS[family].run(x, lengths, states, params, mode)


def setup(family: str):
    torch.manual_seed(0)
    gates = CELLS[family].gates
    params = [
        torch.randn(gates * H, I, dtype=torch.float64, requires_grad=True),
        torch.randn(gates * H, H, dtype=torch.float64, requires_grad=True) * 0.5,
        torch.randn(gates * H, dtype=torch.float64, requires_grad=True),
        torch.randn(gates * H, dtype=torch.float64, requires_grad=True),
    ]
    n_states = CELLS[family].states
    states = [torch.randn(B, H, dtype=torch.float64) for _ in range(n_states)]
    x = torch.randn(B, T, I, dtype=torch.float64)
    return params, states, x


def padded(lengths: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` bool, True at padded steps."""
    return torch.arange(T)[None, :] >= lengths[:, None]


@pytest.mark.parametrize("mode", ["reference", "bptt"])
@pytest.mark.parametrize("family", list(CELLS))
def test_outputs_are_zero_at_padding_and_final_state_is_last_real_step(family, mode):
    params, states, x = setup(family)
    out, finals = run(family, x, LENGTHS, mode, params, states)
    assert torch.equal(out[padded(LENGTHS)], torch.zeros_like(out[padded(LENGTHS)]))
    for b, n in enumerate(LENGTHS.tolist()):
        alone_out, alone_finals = run(
            family,
            x[b : b + 1, :n],
            torch.tensor([n]),
            mode,
            params,
            [s[b : b + 1] for s in states],
        )
        torch.testing.assert_close(out[b : b + 1, :n], alone_out, rtol=1e-12, atol=1e-12)
        for f, fa in zip(finals, alone_finals):
            torch.testing.assert_close(f[b : b + 1], fa, rtol=1e-12, atol=1e-12)
        if CELLS[family].states == 1:  # h_n is the output at the last real step
            assert torch.equal(finals[0][b], out[b, n - 1])


@pytest.mark.parametrize("mode", ["reference", "bptt"])
@pytest.mark.parametrize("family", list(CELLS))
def test_padded_inputs_get_zero_gradient_and_change_nothing(family, mode):
    params, states, x = setup(family)
    pad = padded(LENGTHS)
    grads = []
    results = []
    for fill in (0.0, 100.0):  # garbage in the padding must not matter
        xi = x.masked_fill(pad[..., None], fill).requires_grad_()
        out, finals = run(family, xi, LENGTHS, mode, params, states)
        loss = out.sin().sum() + sum(f.cos().sum() for f in finals)
        g = torch.autograd.grad(loss, [xi, *params])
        assert torch.equal(g[0][pad], torch.zeros_like(g[0][pad]))  # exactly zero
        grads.append(g)
        results.append((out, *finals))
    for a, b in zip(results[0], results[1]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=0.0)
    for a, b in zip(grads[0], grads[1]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("family", list(CELLS))
def test_gradient_of_a_held_final_state_reaches_the_last_real_step(family):
    """d h_n / d x[b, t] is zero for t >= lengths[b] and non-zero at the last real step."""
    params, states, x = setup(family)
    x = x.requires_grad_()
    _, finals = run(family, x, LENGTHS, "bptt", params, states)
    (g,) = torch.autograd.grad(finals[0].sum(), [x])
    for b, n in enumerate(LENGTHS.tolist()):
        assert g[b, n - 1].abs().sum() > 0
        assert torch.equal(g[b, n:], torch.zeros_like(g[b, n:]))
