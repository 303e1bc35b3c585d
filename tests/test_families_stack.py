"""model.cell = indrnn | mingru | minlstm (and options) through make_recurrent."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit.config import ModelConfig
from rnnkit.errors import RnnkitError
from rnnkit.models.stack import make_recurrent, output_size


@pytest.mark.parametrize(
    ("cell", "cls"),
    [("indrnn", rnnkit.IndRNN), ("mingru", rnnkit.MinGRU), ("minlstm", rnnkit.MinLSTM)],
)
def test_every_family_builds_a_batch_first_stack_with_lengths(cell, cls):
    cfg = ModelConfig(cell=cell, hidden_size=6, num_layers=2, bidirectional=True, dropout=0.1)
    stack = make_recurrent(cfg, 3)
    assert isinstance(stack, cls) and stack.batch_first
    out, _ = stack(torch.randn(2, 5, 3), lengths=torch.tensor([5, 2]))
    assert out.shape == (2, 5, output_size(cfg))
    assert (out[1, 2:] == 0).all()


def test_lstm_options_reach_the_layer():
    cfg = ModelConfig(cell="lstm", hidden_size=4, num_layers=1, layer_norm=True, zoneout=0.1)
    stack = make_recurrent(cfg, 3)
    assert stack.layer_norm and stack.zoneout == 0.1
    out, _ = stack(torch.randn(2, 5, 3), lengths=torch.tensor([5, 2]))
    assert stack.last_backend == "bptt" and out.shape == (2, 5, 4)


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        (ModelConfig(cell="mingru", layer_norm=True), "model.layer_norm"),
        (ModelConfig(cell="indrnn", backend="native"), "model.backend='native'"),
        (ModelConfig(cell="gru", peephole=True), "peephole"),
    ],
)
def test_options_a_family_does_not_take_are_refused(cfg, match):
    with pytest.raises((RnnkitError, ValueError), match=match):
        make_recurrent(cfg, 3)
