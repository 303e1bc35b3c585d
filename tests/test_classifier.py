"""SequenceClassifier: padding never matters, the split at the embeddings, heads and losses."""

import pytest
import torch
import torch.nn.functional as F

from rnnkit.errors import RnnkitError
from rnnkit.models.classifier import POOLINGS, ClassifierConfig, SequenceClassifier
from rnnkit.models.stack import make_recurrent

LENGTHS = torch.tensor([5, 2, 3])


def small(pooling="last", bidirectional=False, cell="lstm", num_classes=2, **kw):
    cfg = ClassifierConfig(
        cell=cell,
        hidden_size=8,
        embedding_dim=6,
        num_layers=2,
        pooling=pooling,
        bidirectional=bidirectional,
    )
    torch.manual_seed(0)
    return SequenceClassifier.from_config(cfg, num_classes=num_classes, **kw).eval()


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_changes_nothing_and_gets_no_gradient(pooling, bidirectional):
    model = small(pooling, bidirectional, vocab_size=20)
    x = torch.randint(1, 20, (3, 5))
    noisy = x.clone()
    noisy[1, 2:], noisy[2, 3:] = 7, 9  # other ids in the padded slots
    logits = model(x, LENGTHS)
    assert logits.shape == (3, 1)
    torch.testing.assert_close(model(noisy, LENGTHS), logits)
    # each sequence alone, cut to its length, gives the same logit
    for b, n in enumerate(LENGTHS.tolist()):
        torch.testing.assert_close(model(x[b : b + 1, :n], LENGTHS[b : b + 1]), logits[b : b + 1])
    emb = model.embed(x).detach().requires_grad_()
    model.forward_from_embeddings(emb, LENGTHS).sum().backward()
    assert emb.grad[1, 2:].abs().max() == 0 and emb.grad[2, 3:].abs().max() == 0
    assert emb.grad[0].abs().max() > 0


def test_embed_then_forward_from_embeddings_is_forward():
    model = small("attention", vocab_size=20)
    x = torch.randint(1, 20, (3, 5))
    torch.testing.assert_close(
        model.forward_from_embeddings(model.embed(x), LENGTHS), model(x, LENGTHS)
    )
    torch.testing.assert_close(model(x), model(x, torch.tensor([5, 5, 5])))


def test_binary_head_is_one_logit_with_bce():
    model = small(vocab_size=20)
    x, y = torch.randint(1, 20, (3, 5)), torch.tensor([1, 0, 1])
    logits = model(x, LENGTHS)
    expected = F.binary_cross_entropy_with_logits(logits[:, 0], y.float())
    torch.testing.assert_close(model.loss(logits, y), expected)
    probs = model.probabilities(logits)
    torch.testing.assert_close(probs[:, 1], torch.sigmoid(logits[:, 0]))
    torch.testing.assert_close(probs.sum(1), torch.ones(3))


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_linear_encoder_multiclass_with_other_cells(cell):
    model = small("mean", True, cell=cell, num_classes=4, input_size=3)
    x, y = torch.randn(3, 5, 3), torch.tensor([0, 3, 2])
    logits = model(x, LENGTHS)
    assert logits.shape == (3, 4)
    torch.testing.assert_close(model.loss(logits, y), F.cross_entropy(logits, y))
    torch.testing.assert_close(model.probabilities(logits), torch.softmax(logits, 1))


def test_the_classic_model_trains_on_a_separable_toy_task():
    torch.manual_seed(0)
    x = torch.randint(2, 10, (64, 7))
    y = (x == 2).any(1).long()  # label: does token 2 appear?
    model = small("max", vocab_size=10).train()
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    lengths = torch.full((64,), 7)
    first = model.loss(model(x, lengths), y).item()
    for _ in range(40):
        opt.zero_grad()
        loss = model.loss(model(x, lengths), y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="pooling must be one of"):
        SequenceClassifier(torch.nn.Identity(), 4, 2, vocab_size=5, pooling="sum")
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        SequenceClassifier(torch.nn.Identity(), 4, 1, vocab_size=5)
    with pytest.raises(ValueError, match="exactly one of vocab_size"):
        SequenceClassifier(torch.nn.Identity(), 4, 2)
    with pytest.raises(RnnkitError, match="model.pooling: 'sum'"):
        SequenceClassifier.from_config(ClassifierConfig(pooling="sum"), num_classes=2, vocab_size=5)
    with pytest.raises(RnnkitError, match="model.cell: 'tcn' is not one of"):
        make_recurrent(ClassifierConfig(cell="tcn"), 4)
