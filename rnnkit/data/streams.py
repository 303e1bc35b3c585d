"""Stream batching for truncated backpropagation through time (TBPTT).

A long text of ``N`` ids is cut into ``B`` parallel *streams* of ``L = (N - 1) // B``
consecutive steps each (stream ``b`` reads positions ``b*L .. b*L + L - 1`` and predicts the
symbol after each). The streams are consumed together in consecutive *chunks* of ``k``
steps (``k = data.bptt``)::

    stream 0: | chunk 0 | chunk 1 | chunk 2 | ...     the state of stream b after chunk j
    stream 1: | chunk 0 | chunk 1 | chunk 2 | ...     is the initial state of stream b in
    ...                                               chunk j+1 (detached: gradients stop)

so batch ``j`` row ``b`` continues exactly where batch ``j-1`` row ``b`` stopped. Where a
document begins inside a stream, ``extras["reset"]`` is True at that step: the carried
state is zeroed before reading it, and the target of the step before it (which would
predict the first symbol of the next document from the previous one) is ignored
(``IGNORE_INDEX``).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from rnnkit.data.batch import Batch
from rnnkit.data.corpus import TextSplit
from rnnkit.errors import RnnkitError

IGNORE_INDEX = -100  # targets not scored (torch.nn.functional.cross_entropy's default)


class StreamBatches:
    """The TBPTT batches of one split, re-iterable.

    Each :class:`~rnnkit.data.batch.Batch` has ``inputs`` ``(B, k)`` int64 ids, ``targets``
    ``(B, k)`` int64 next ids (``IGNORE_INDEX`` where not scored), ``lengths`` ``(B,)`` all
    ``k``, and ``extras["reset"]`` ``(B, k)`` bool (reset the state before this step). The
    last chunk is shorter when ``k`` does not divide ``L``.

    Args:
        split: the ids and document starts of one split.
        n_streams: ``B``, the number of parallel streams.
        bptt: ``k``, the number of steps per chunk (the truncation length).
        name: what to call the split in error messages.

    Raises:
        RnnkitError: the split is too short for ``B`` streams of at least ``k`` steps.
    """

    def __init__(self, split: TextSplit, n_streams: int, bptt: int, name: str = "data") -> None:
        if n_streams < 1:
            raise RnnkitError(f"the number of streams must be >= 1, got {n_streams}")
        if bptt < 1:
            raise RnnkitError(f"data.bptt must be >= 1, got {bptt}")
        n = len(split)
        length = (n - 1) // n_streams
        if length < bptt:
            raise RnnkitError(
                f"data.bptt={bptt} is longer than the {name} data allows: {n} symbols in "
                f"{n_streams} streams give {max(length, 0)} steps per stream; use a smaller "
                f"data.bptt or batch size, or more text"
            )
        self.n_streams, self.bptt, self.length = n_streams, bptt, length
        used = n_streams * length
        ids = split.ids
        starts = torch.zeros(n + 1, dtype=torch.bool)
        starts[split.doc_starts] = True
        self.inputs = ids[:used].view(n_streams, length)  # (B, L)
        targets = ids[1 : used + 1].clone()
        targets[starts[1 : used + 1]] = IGNORE_INDEX  # never predict across documents
        self.targets = targets.view(n_streams, length)  # (B, L)
        self.reset = starts[:used].view(n_streams, length)  # (B, L)

    def __len__(self) -> int:
        return -(-self.length // self.bptt)

    @property
    def n_targets(self) -> int:
        """How many symbols are scored in one pass."""
        return int((self.targets != IGNORE_INDEX).sum())

    def __iter__(self) -> Iterator[Batch]:
        b = self.n_streams
        for j in range(0, self.length, self.bptt):
            x = self.inputs[:, j : j + self.bptt]
            yield Batch(
                inputs=x,
                lengths=torch.full((b,), x.shape[1], dtype=torch.int64),
                targets=self.targets[:, j : j + self.bptt],
                extras={"reset": self.reset[:, j : j + self.bptt]},
            )


__all__ = ["IGNORE_INDEX", "StreamBatches"]
