"""Each rank's share of a batch, and the weight that keeps its gradient exact.

Every rank draws the same global batches (same data, same seed, same shuffling
generator: the order depends on the seed only, never on the number of processes) and
trains on its rows of each: rank ``r`` of ``W`` takes rows ``r, r + W, r + 2W, ...``.
Strided rows keep the ranks' padded lengths alike where a batch is sorted by length
(bucketed text), and give each rank the same streams in every chunk of a TBPTT split
(the character language model carries each stream's state from chunk to chunk).

``DistributedDataParallel`` averages the ranks' gradients. A rank's loss is the mean over
its ``n_r`` rows, so it is scaled by ``W * n_r / n`` (:func:`shard_batch`'s weight): the
average is then the gradient of the mean over all ``n`` rows of the global batch, the same
as one process training on the whole batch. The weight is exactly 1 when ``W`` divides
``n``. A final batch with fewer rows than ranks leaves some ranks without a row: those
train on the batch's first row with weight 0 (every rank must take part in each step).
"""

from __future__ import annotations

import torch

from rnnkit.data.batch import Batch


def shard_rows(n: int, rank: int, world_size: int) -> torch.Tensor:
    """The rows of an ``n``-row batch that ``rank`` trains on: ``(n_r,)`` int64."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside 0..{world_size - 1}")
    return torch.arange(min(rank, n), n, world_size, dtype=torch.int64)  # empty if rank >= n


def shard_batch(batch: Batch, rank: int, world_size: int) -> tuple[Batch, float]:
    """``rank``'s rows of ``batch`` and the weight of its loss.

    Args:
        batch: the global batch, every tensor with the batch dimension first
            (inputs ``(B, T, ...)``, lengths ``(B,)``, targets ``(B, ...)``, extras ``(B, ...)``).
        rank, world_size: this process and the number of processes.

    Returns:
        ``(shard, weight)``: the shard holds rows ``rank::world_size`` (``(n_r, T, ...)``);
        ``weight = world_size * n_r / B`` (0 for a rank left without a row, whose shard is
        then row 0).
    """
    n = len(batch)
    if world_size == 1:
        return batch, 1.0
    rows = shard_rows(n, rank, world_size)
    weight = world_size * len(rows) / n
    if len(rows) == 0:
        rows, weight = torch.zeros(1, dtype=torch.int64), 0.0

    def take(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.index_select(0, rows.to(t.device))

    shard = Batch(
        inputs=batch.inputs.index_select(0, rows.to(batch.inputs.device)),
        lengths=batch.lengths.index_select(0, rows),
        targets=take(batch.targets),
        extras={k: v.index_select(0, rows.to(v.device)) for k, v in batch.extras.items()},
    )
    return shard, weight


__all__ = ["shard_batch", "shard_rows"]
