"""Variable-length token sequences -> padded :class:`Batch` es, bucketed by length.

A recurrent layer given ``lengths`` skips padding, but a batch still costs about
``B x max(lengths)`` steps of work. Bucketing keeps similar lengths together: the
examples are shuffled, cut into chunks of ``bucket_batches`` batches, each chunk is
sorted by length and cut into batches, and the batch order is shuffled again. Every
example appears exactly once per epoch; the order is random but fixed by the
``torch.Generator`` passed in, so two runs with the same seed see the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from rnnkit.data.batch import Batch


def batch_indices(
    n: int, batch_size: int, *, shuffle: bool = False, generator: torch.Generator | None = None
) -> Iterator[torch.Tensor]:
    """The example indices of each batch of one pass over ``n`` examples.

    Args:
        n: the number of examples.
        batch_size: the most examples per batch (the last batch may hold fewer).
        shuffle: a random order drawn from ``generator`` (one ``torch.randperm(n)``);
            otherwise ``0, 1, ..., n-1``.
        generator: the source of randomness for ``shuffle`` (default: torch's global one).

    Yields:
        ``(B,)`` int64 index tensors, B <= ``batch_size``; together every index once.

    Example:
        >>> [t.tolist() for t in batch_indices(5, 2)]
        [[0, 1], [2, 3], [4]]
    """
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)  # (n,)
    for i in range(0, n, batch_size):
        yield order[i : i + batch_size]


class FixedLengthBatches:
    """A re-iterable of batches of equal-length sequences, in order.

    Args:
        inputs: ``(N, T, ...)`` sequences, all of ``T`` steps.
        targets: ``(N, ...)`` their targets.
        batch_size: the most sequences per batch (the last batch may hold fewer).

    Each batch is ``Batch(inputs (B, T, ...), lengths (B,) int64 all T, targets (B, ...))``.

    Example:
        >>> batches = FixedLengthBatches(torch.zeros(5, 3, 1), torch.arange(5), 2)
        >>> len(batches), [b.lengths.tolist() for b in batches]
        (3, [[3, 3], [3, 3], [3]])
    """

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor, batch_size: int) -> None:
        self.inputs, self.targets, self.batch_size = inputs, targets, batch_size

    def __len__(self) -> int:
        return -(-len(self.inputs) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        steps = self.inputs.shape[1]
        for i in range(0, len(self.inputs), self.batch_size):
            x = self.inputs[i : i + self.batch_size]  # (B, T, ...)
            lengths = torch.full((len(x),), steps, dtype=torch.int64)  # (B,)
            yield Batch(x, lengths, self.targets[i : i + len(x)])


class BucketedBatches:
    """A re-iterable of padded batches of token-id sequences.

    Args:
        sequences: N token-id sequences (each non-empty).
        targets: ``(N,)`` int64 labels (or None, for prediction).
        batch_size: the most sequences per batch.
        shuffle: a new random bucketed order every pass; otherwise batches of the
            examples sorted by length (the fewest pad steps).
        generator: the source of randomness for ``shuffle`` (default: torch's global one).
        bucket_batches: batches per sorting chunk when shuffling; 1 is plain random
            batching, larger values pad less but mix lengths less.
        pad_id: the id used for padding.

    Each batch is ``Batch(inputs (B, T) int64, lengths (B,) int64, targets (B,) int64,
    extras={"index": (B,) int64 positions in sequences})``, T = max length in the batch.
    """

    def __init__(
        self,
        sequences: Sequence[Sequence[int]],
        targets: torch.Tensor | None = None,
        *,
        batch_size: int = 64,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        bucket_batches: int = 50,
        pad_id: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if bucket_batches < 1:
            raise ValueError(f"bucket_batches must be >= 1, got {bucket_batches}")
        if targets is not None and len(targets) != len(sequences):
            raise ValueError(f"{len(sequences)} sequences but {len(targets)} targets")
        self.lengths = torch.tensor([len(s) for s in sequences], dtype=torch.int64)  # (N,)
        if len(sequences) and int(self.lengths.min()) < 1:
            raise ValueError("every sequence must hold at least one token")
        # all ids in one padded (N, T_max) tensor: a batch is then a cheap index + slice
        self.ids = torch.full(
            (len(sequences), int(self.lengths.max()) if len(sequences) else 1), pad_id
        )
        for i, seq in enumerate(sequences):
            self.ids[i, : len(seq)] = torch.as_tensor(seq, dtype=torch.int64)
        self.targets = targets
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.bucket_batches = bucket_batches

    def __len__(self) -> int:
        """Number of batches per pass."""
        return -(-len(self.lengths) // self.batch_size)

    def order(self) -> list[torch.Tensor]:
        """The example indices of each batch, for one pass."""
        n, bs = len(self.lengths), self.batch_size
        if not self.shuffle:
            by_length = torch.argsort(self.lengths, stable=True)
            return list(torch.split(by_length, bs))
        perm = torch.randperm(n, generator=self.generator)  # (N,)
        chunk = bs * self.bucket_batches
        batches: list[torch.Tensor] = []
        for start in range(0, n, chunk):
            idx = perm[start : start + chunk]
            idx = idx[torch.argsort(self.lengths[idx], stable=True)]  # sort within the chunk
            batches.extend(torch.split(idx, bs))
        shuffled = torch.randperm(len(batches), generator=self.generator).tolist()
        return [batches[i] for i in shuffled]

    def __iter__(self) -> Iterator[Batch]:
        for idx in self.order():
            lengths = self.lengths[idx]  # (B,)
            inputs = self.ids[idx, : int(lengths.max())]  # (B, T)
            targets = None if self.targets is None else self.targets[idx]
            yield Batch(inputs=inputs, lengths=lengths, targets=targets, extras={"index": idx})


def padding_fraction(batches: BucketedBatches) -> float:
    """Share of the ``B x T`` slots of one pass over ``batches`` that are padding."""
    slots = real = 0
    for idx in batches.order():
        lengths = batches.lengths[idx]
        slots += len(idx) * int(lengths.max())
        real += int(lengths.sum())
    return 1.0 - real / max(slots, 1)
