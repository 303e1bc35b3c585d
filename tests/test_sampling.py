"""Temperature, top-k and top-p sampling."""

from __future__ import annotations

import pytest
import torch

from rnnkit.sampling import filter_logits, sample_next


def _draws(logits, n=2000, seed=0, **kw):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([sample_next(logits, generator=g, **kw) for _ in range(n)])


def test_fixed_seed_reproduces_the_draws():
    logits = torch.randn(4, 10, generator=torch.Generator().manual_seed(1))
    a = _draws(logits, n=50, seed=3, temperature=0.8, top_k=5, top_p=0.9)
    b = _draws(logits, n=50, seed=3, temperature=0.8, top_k=5, top_p=0.9)
    c = _draws(logits, n=50, seed=4, temperature=0.8, top_k=5, top_p=0.9)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_top_k_keeps_exactly_the_k_largest():
    logits = torch.tensor([[0.1, 3.0, -1.0, 2.0, 0.5, 1.0]])
    kept = torch.isfinite(filter_logits(logits, top_k=3))
    assert kept.tolist() == [[False, True, False, True, False, True]]
    assert set(_draws(logits, n=500, top_k=3).flatten().tolist()) == {1, 3, 5}


def test_top_p_keeps_the_smallest_nucleus():
    probs = torch.tensor([[0.5, 0.05, 0.3, 0.15]])
    logits = probs.log()
    kept = torch.isfinite(filter_logits(logits, top_p=0.75))
    assert kept.tolist() == [[True, False, True, False]]  # 0.5 + 0.3 >= 0.75
    kept = torch.isfinite(filter_logits(logits, top_p=0.81))
    assert kept.tolist() == [[True, False, True, True]]
    kept = torch.isfinite(filter_logits(logits, top_p=0.01))
    assert kept.tolist() == [[True, False, False, False]]  # the top symbol always stays


def test_temperature_towards_zero_is_argmax_and_one_follows_softmax():
    logits = torch.tensor([[1.0, 1.5, 0.2], [2.0, -1.0, 1.9]])
    assert sample_next(logits, temperature=0).tolist() == [1, 0]
    assert (_draws(logits, n=200, temperature=1e-4) == torch.tensor([1, 0])).all()
    draws = _draws(logits[:1], n=4000, temperature=1.0).flatten()
    freq = torch.bincount(draws, minlength=3).float() / draws.numel()
    torch.testing.assert_close(freq, torch.softmax(logits[0], -1), atol=0.03, rtol=0)


@pytest.mark.parametrize(
    "kw, message",
    [({"temperature": -1.0}, "temperature"), ({"top_k": 0}, "top_k"), ({"top_p": 1.5}, "top_p")],
)
def test_bad_sampling_arguments_are_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        sample_next(torch.zeros(1, 3), **kw)
