"""Distributed data-parallel training: PyTorch's ``DistributedDataParallel`` under
``torchrun`` (or ``rnnkit train --nproc N``), gloo on CPU and nccl on CUDA.

- :mod:`~rnnkit.distributed.context`: join the process group from torchrun's environment,
  rank and world size, the collectives the loop needs (sum, any, broadcast), timeouts.
- :mod:`~rnnkit.distributed.sharding`: each rank's rows of a global batch, and the loss
  weight that makes the averaged gradient equal the one-process gradient.
- :mod:`~rnnkit.distributed.ddp`: the task's training step as the forward of the module
  that ``DistributedDataParallel`` wraps.
- :mod:`~rnnkit.distributed.files`: rank 0 writes the run directory; the others write
  into scratch directories.

See docs/distributed.md for the commands and what is guaranteed.
"""

from __future__ import annotations

from rnnkit.distributed.context import (
    DistContext,
    all_reduce_sum,
    any_rank,
    broadcast_object,
    collective_failure,
    current,
    setup,
    shutdown,
    timeout_s,
)
from rnnkit.distributed.ddp import TrainingStep, data_parallel
from rnnkit.distributed.files import rank_run_dir
from rnnkit.distributed.sharding import shard_batch, shard_rows

__all__ = [
    "DistContext",
    "TrainingStep",
    "all_reduce_sum",
    "any_rank",
    "broadcast_object",
    "collective_failure",
    "current",
    "data_parallel",
    "rank_run_dir",
    "setup",
    "shard_batch",
    "shard_rows",
    "shutdown",
    "timeout_s",
]
