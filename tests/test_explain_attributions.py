"""Attributions: completeness of Integrated Gradients, gradient x input, neuron selection."""

from __future__ import annotations

import pytest
import torch

from rnnkit.explain import feature_correlations, grad_x_input, integrated_gradients, select_neurons
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier


def _classifier(**model) -> SequenceClassifier:
    torch.manual_seed(0)
    cfg = ClassifierConfig(hidden_size=16, num_layers=2, embedding_dim=8, **model)
    return SequenceClassifier.from_config(cfg, num_classes=2, vocab_size=40).eval()


@pytest.mark.parametrize("model", [{}, {"cell": "gru", "bidirectional": True, "pooling": "mean"}])
def test_integrated_gradients_is_complete_on_a_recurrent_classifier(model):
    clf = _classifier(**model)
    with torch.no_grad():  # scale up the head so the logit moves a lot along the path
        clf.head.weight.mul_(20.0)
    ids = torch.randint(1, 40, (1, 12))
    lengths = torch.tensor([12])
    x = clf.embed(ids).detach()  # (1, T, E)
    base = clf.embed(torch.zeros_like(ids)).detach()  # [PAD] rows: zeros

    def fn(emb, lengths):
        return clf.forward_from_embeddings(emb, lengths)[:, 0]

    a = integrated_gradients(fn, x, base, extra=(lengths,))
    diff = a.output - a.baseline_output
    assert abs(diff) > 0.05  # a non-trivial change to explain
    assert a.scores.shape == (12,)
    assert abs(a.total - diff) == pytest.approx(abs(a.delta), abs=1e-5)
    assert a.relative_delta <= 0.01  # the stated tolerance
    with torch.no_grad():
        assert a.output == pytest.approx(float(fn(x, lengths)[0]), abs=1e-5)
        assert a.baseline_output == pytest.approx(float(fn(base, lengths)[0]), abs=1e-5)


def test_fewer_steps_leave_a_larger_gap_and_the_automatic_choice_closes_it():
    # f(x) = sum(x^4) along the straight path: Gauss-Legendre with 1 point is far off.
    def fn(x):
        return (x**4).sum(dim=(1, 2))

    x = torch.linspace(0.5, 2.0, 6).reshape(1, 3, 2)
    coarse = integrated_gradients(fn, x, n_steps=1)
    auto = integrated_gradients(fn, x, rtol=1e-4)
    assert coarse.relative_delta > 0.01
    assert auto.relative_delta <= 1e-4
    assert auto.n_steps >= 2
    # exact per-step attribution of sum(x^4) from 0 is x^4 itself
    assert torch.allclose(auto.scores, (x**4).sum(-1)[0], rtol=1e-3)


def test_a_steep_path_is_integrated_where_it_turns():
    # f flips from -1 to +1 within 1/1000 of the path from 0 to x
    def fn(x):
        return torch.tanh(2000 * (x.sum(dim=(1, 2)) - 0.3))

    x = torch.full((1, 4, 2), 1 / 8)
    uniform = integrated_gradients(fn, x, n_steps=1024)
    auto = integrated_gradients(fn, x)
    assert uniform.relative_delta > 0.05  # evenly spread points miss the turn
    assert auto.relative_delta <= 0.01
    assert auto.segments > 1 and auto.n_steps < 1024
    quarter = (auto.output - auto.baseline_output) / 4  # by symmetry, equal shares
    assert torch.allclose(auto.scores, torch.full((4,), quarter), rtol=1e-2)


def test_grad_x_input_equals_the_hand_computed_product():
    w = torch.tensor([[0.5, -2.0], [1.5, 3.0], [-1.0, 0.25]])  # (T, D)

    def fn(x):
        return (x * w).sum(dim=(1, 2)) + (x[:, 0, 0] * x[:, 1, 1])

    x = torch.tensor([[[1.0, 2.0], [-1.0, 0.5], [2.0, 4.0]]])
    a = grad_x_input(fn, x)
    grad = w.clone()
    grad[0, 0] += x[0, 1, 1]
    grad[1, 1] += x[0, 0, 0]
    assert torch.allclose(a.scores, (x[0] * grad).sum(-1))
    assert a.delta is None


def test_attribution_inputs_are_checked():
    def fn(x):
        return x.sum(dim=(1, 2))

    with pytest.raises(ValueError, match=r"x must be a \(1, T, D\) tensor"):
        integrated_gradients(fn, torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="baseline must have the shape of x"):
        integrated_gradients(fn, torch.zeros(1, 3, 4), torch.zeros(1, 2, 4))
    with pytest.raises(TypeError, match="floating point"):
        grad_x_input(fn, torch.zeros(1, 3, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="n_steps must be >= 1"):
        integrated_gradients(fn, torch.zeros(1, 3, 4), n_steps=0)


def test_select_neurons_finds_the_unit_that_tracks_a_character_class():
    text = 'He said "to be, or not" (aside) then left.\nAnd so on'
    g = torch.Generator().manual_seed(0)
    states = 0.1 * torch.randn(len(text), 6, generator=g)  # (T, H) noise
    states[:, 4] = torch.tensor([1.0 if c.isspace() else -1.0 for c in text])
    inside, quoted = False, []
    for c in text:
        inside = (not inside) if c == '"' else inside
        quoted.append(0.8 if inside else -0.8)
    states[:, 1] = torch.tensor(quoted) + 0.05 * torch.randn(len(text), generator=g)
    corr = feature_correlations(text, states)
    assert float(corr["whitespace"][4]) == pytest.approx(1.0, abs=1e-5)
    picks = select_neurons(text, states, k=3)
    assert [p.unit for p in picks[:2]] == [4, 1]
    assert "whitespace" in picks[0].reason and "inside quotes" in picks[1].reason
    assert len({p.unit for p in picks}) == 3
    with pytest.raises(ValueError, match="T = len"):
        feature_correlations(text[:-1], states)
