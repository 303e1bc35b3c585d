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
- **Selective copy** (Gu & Dao 2023, "Mamba", section 3.1; Feng et al. 2024, "Were RNNs
  all we needed?"): ``k`` symbols drawn from ``V`` are scattered at random positions of
  ``T`` steps of noise (id 0), followed by ``k`` marker steps (id ``V + 1``) during which
  the symbols must be reproduced in their order. Unlike copy memory, where the symbols sit
  at fixed places, the model must decide from the content which inputs to keep: a
  time-invariant recurrence cannot solve it. Guessing gets ``1 / V`` of the symbols right.
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


def selective_copy(
    n: int, length: int, n_tokens: int, n_symbols: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` sequences of the selective copy task.

    Args:
        n: sequences to draw.
        length: ``T``, the steps over which the symbols are scattered (``T >= n_tokens``).
        n_tokens: ``k``, the symbols to remember.
        n_symbols: ``V``, the alphabet: symbols are ids ``1..V``; 0 is noise, ``V + 1`` the
            marker "reproduce now".
        generator: the seeded source of randomness.

    Returns:
        ``inputs`` and ``targets``, both ``(n, T + k)`` int64 ids in ``[0, V + 2)``:
        the targets are 0 except over the last ``k`` steps, which hold the symbols in the
        order they appeared.
    """
    if n_tokens < 1 or n_symbols < 1:
        raise ValueError(
            f"selective copy needs n_tokens >= 1 and n_symbols >= 1, got {n_tokens} and "
            f"{n_symbols}"
        )
    if length < n_tokens:
        raise ValueError(
            f"selective copy scatters {n_tokens} symbols over {length} steps: the length "
            f"must be at least n_tokens"
        )
    total = length + n_tokens
    symbols = torch.randint(1, n_symbols + 1, (n, n_tokens), generator=generator)  # (n, k)
    # k distinct positions in [0, T) per sequence, in increasing order: the k smallest of
    # T uniform keys.
    keys = torch.rand(n, length, generator=generator)  # (n, T)
    positions = keys.argsort(dim=1)[:, :n_tokens].sort(dim=1).values  # (n, k)
    inputs = torch.zeros(n, total, dtype=torch.int64)
    inputs.scatter_(1, positions, symbols)
    inputs[:, length:] = n_symbols + 1  # the markers
    targets = torch.zeros(n, total, dtype=torch.int64)
    targets[:, length:] = symbols
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
    "selective_copy",
]
