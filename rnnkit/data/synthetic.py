"""The classic long-range memory problems, generated on the fly from a seeded generator.

- **Adding problem** (Hochreiter & Schmidhuber 1997; the layout of Le et al. 2015 and
  Arjovsky et al. 2016): each step carries two features, a value drawn from U(0, 1) and a
  marker. Exactly two steps are marked, one in the first half of the sequence and one in
  the second half; the target is the sum of the two marked values. Always answering 1
  (the mean of the target) gives an MSE of Var(U1 + U2) = 1/6 ~ 0.167.
- **Copy memory** (Arjovsky et al. 2016): ten symbols drawn from 8 (ids 1..8), then
  ``T - 1`` blanks (id 0), a delimiter (id 9), and ten more blanks; the sequence is
  ``T + 20`` long. The target is blank everywhere except the last ten steps, which must
  reproduce the ten symbols. A memoryless model that predicts blanks and then guesses
  uniformly scores a cross-entropy of ``10 ln 8 / (T + 20)`` per step.
"""

from __future__ import annotations

import math

import torch

BLANK = 0  # copy memory: the blank symbol
N_SYMBOLS = 8  # copy memory: symbols 1..8 are copied
DELIMITER = N_SYMBOLS + 1  # copy memory: "now reproduce the symbols"
N_COPY = 10  # copy memory: how many symbols to remember
COPY_VOCAB = N_SYMBOLS + 2  # blank, 8 symbols, delimiter


def adding_problem(
    n: int, length: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` sequences of the adding problem of length ``T = length``.

    Returns:
        ``inputs`` ``(n, T, 2)`` float32 (value, marker) and ``targets`` ``(n,)`` float32,
        the sum of the two marked values.
    """
    if length < 2:
        raise ValueError(f"the adding problem needs a length of at least 2, got {length}")
    half = length // 2
    values = torch.rand(n, length, generator=generator)  # (n, T)
    first = torch.randint(0, half, (n,), generator=generator)  # in the first half
    second = torch.randint(half, length, (n,), generator=generator)  # in the second half
    rows = torch.arange(n)
    markers = torch.zeros(n, length)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    targets = values[rows, first] + values[rows, second]  # (n,)
    return torch.stack([values, markers], dim=-1), targets


def copy_memory(
    n: int, length: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` sequences of the copy memory problem with ``T = length`` blanks to wait through.

    Returns:
        ``inputs`` and ``targets``, both ``(n, T + 20)`` int64 symbol ids in
        ``[0, COPY_VOCAB)``.
    """
    if length < 1:
        raise ValueError(f"the copy memory problem needs a length of at least 1, got {length}")
    total = length + 2 * N_COPY
    symbols = torch.randint(1, N_SYMBOLS + 1, (n, N_COPY), generator=generator)  # (n, 10)
    inputs = torch.full((n, total), BLANK, dtype=torch.int64)
    inputs[:, :N_COPY] = symbols
    inputs[:, length + N_COPY - 1] = DELIMITER  # after T - 1 blanks
    targets = torch.full((n, total), BLANK, dtype=torch.int64)
    targets[:, -N_COPY:] = symbols
    return inputs, targets


def adding_baseline_mse() -> float:
    """The MSE of always answering 1 (the mean target): Var(U1 + U2) = 1/6."""
    return 1.0 / 6.0


def copy_baseline_loss(length: int) -> float:
    """Cross-entropy per step of the memoryless strategy: ``10 ln 8 / (T + 20)``."""
    return N_COPY * math.log(N_SYMBOLS) / (length + 2 * N_COPY)


__all__ = [
    "BLANK",
    "COPY_VOCAB",
    "DELIMITER",
    "N_COPY",
    "N_SYMBOLS",
    "adding_baseline_mse",
    "adding_problem",
    "copy_baseline_loss",
    "copy_memory",
]
