"""The adding and copy memory generators: layout and statistics."""

from __future__ import annotations

import math

import torch

from rnnkit.data.synthetic import (
    BLANK,
    DELIMITER,
    N_COPY,
    adding_baseline_mse,
    adding_problem,
    copy_baseline_loss,
    copy_memory,
)


def test_adding_two_markers_one_in_each_half_and_target_is_their_sum():
    x, y = adding_problem(500, 30, torch.Generator().manual_seed(0))
    assert x.shape == (500, 30, 2) and y.shape == (500,)
    markers = x[..., 1]
    assert torch.equal(markers.sum(1), torch.full((500,), 2.0))
    assert set(markers.unique().tolist()) == {0.0, 1.0}
    assert (markers[:, :15].sum(1) == 1).all() and (markers[:, 15:].sum(1) == 1).all()
    torch.testing.assert_close(y, (x[..., 0] * markers).sum(1))
    assert x[..., 0].min() >= 0 and x[..., 0].max() < 1


def test_adding_baseline_is_the_variance_of_the_target():
    _, y = adding_problem(20000, 10, torch.Generator().manual_seed(1))
    mse_of_one = ((y - 1) ** 2).mean().item()
    assert abs(mse_of_one - adding_baseline_mse()) < 0.01
    assert abs(adding_baseline_mse() - 0.1667) < 1e-3


def test_adding_same_seed_same_data():
    a = adding_problem(4, 10, torch.Generator().manual_seed(5))
    b = adding_problem(4, 10, torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_copy_memory_layout():
    T = 12
    x, y = copy_memory(300, T, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (300, T + 20)
    symbols = x[:, :N_COPY]
    assert symbols.min() >= 1 and symbols.max() <= 8
    assert (x[:, N_COPY : N_COPY + T - 1] == BLANK).all()  # T - 1 blanks
    assert (x[:, N_COPY + T - 1] == DELIMITER).all()  # then the delimiter
    assert (x[:, -N_COPY:] == BLANK).all()  # then ten blanks
    assert (y[:, : T + N_COPY] == BLANK).all() and torch.equal(y[:, -N_COPY:], symbols)
    assert len(symbols.unique()) == 8


def test_copy_baseline_formula():
    assert abs(copy_baseline_loss(1000) - 0.0204) < 1e-4
    assert copy_baseline_loss(100) == 10 * math.log(8) / 120
