"""Under torchrun: join the process group, leave it, and join again in the same processes
(as ``tests/ddp_worker.py ... --then ...`` does), rank 0 arriving late the second time.
Prints ``rejoined N`` on every rank whose second group answered."""

from __future__ import annotations

import os
import time

import torch

from rnnkit import distributed


def main() -> None:
    """Join, leave and join again three times; print ``rejoined RANK``."""
    ctx = distributed.current()

    for attempt in range(3):
        ctx = distributed.setup(torch.device("cpu"))
        if attempt and ctx.is_main:
            time.sleep(2.0)  # the other rank reads the store before rank 0 publishes again
        total = distributed.all_reduce_sum(torch.tensor([float(ctx.rank + 1)]))
        assert float(total) == 3.0, float(total)
        assert distributed.broadcast_object(attempt if ctx.is_main else None) == attempt
        distributed.shutdown()
    os.write(1, f"rejoined {ctx.rank}\n".encode())  # one write: the ranks share stdout


if __name__ == "__main__":
    main()
