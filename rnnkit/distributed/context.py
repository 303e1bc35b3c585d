"""The process group of a distributed run: who this process is, and the few collectives
the training loop needs.

``torchrun`` (or ``rnnkit train --nproc N``, which uses the same machinery) starts one
process per rank and describes the job in environment variables: ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``. :func:`setup` reads them and joins the
process group (``gloo`` on CPU, ``nccl`` on CUDA); without them the run is one process and
every helper here is a no-op, so the loop calls them unconditionally::

    ctx = setup(torch.device("cpu"))       # DistContext(rank=0, world_size=1) outside torchrun
    total = all_reduce_sum(torch.tensor([loss_sum, n]))   # summed over the ranks
    val = broadcast_object(metrics if ctx.is_main else None)   # rank 0's value everywhere

Every collective has a timeout (``RNNKIT_DIST_TIMEOUT`` seconds, default 1800): a rank
that died makes the others fail with an error instead of waiting forever.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from rnnkit.errors import RnnkitError, positive_env

# what torchrun sets for every worker; all of them are needed to join the group
ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
TIMEOUT_VAR = "RNNKIT_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class DistContext:
    """This process's place in a distributed run.

    Attributes:
        rank: 0 .. world_size - 1; rank 0 writes the run directory and prints.
        world_size: the number of processes (1: not distributed).
        local_rank: the rank among the processes of this node (picks the GPU).
        backend: ``"gloo"`` or ``"nccl"``; None when not distributed.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0 (the one that writes and prints)."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """Whether there is more than one process."""
        return self.world_size > 1

    def device_for(self, device: torch.device) -> torch.device:
        """``device`` for this rank: ``cuda`` becomes ``cuda:LOCAL_RANK`` when distributed."""
        if self.enabled and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device


_CURRENT = DistContext()
_JOINED = 0  # process groups this process has joined (the same count on every rank)


def current() -> DistContext:
    """The context :func:`setup` made (one process until it is called)."""
    return _CURRENT


def timeout_s() -> float:
    """The collectives' timeout in seconds (``RNNKIT_DIST_TIMEOUT``, default 1800)."""
    return positive_env(TIMEOUT_VAR, DEFAULT_TIMEOUT_S)


def _env_int(name: str) -> int:
    raw = os.environ[name]
    try:
        return int(raw)
    except ValueError:
        raise RnnkitError(f"{name}={raw!r}: expected an integer (set by torchrun)") from None


def _attempt_store(rank: int, world: int, timeout: datetime.timedelta, joined: int) -> dist.Store:
    """The key-value store at ``MASTER_ADDR:MASTER_PORT`` that the ranks meet in, under a
    prefix of this attempt of the job (``TORCHELASTIC_RESTART_COUNT``) and of this group
    (``joined``: how many groups these processes joined before).

    torchrun's agent serves the store and keeps it across elastic restarts and across the
    groups one process joins in turn (torch names every default group alike): without the
    prefix, the workers would read the addresses that the workers of a failed attempt, or
    of the group before, published, and fail to connect or wait forever."""
    host, port = os.environ["MASTER_ADDR"], _env_int("MASTER_PORT")
    agent_store = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    store = dist.TCPStore(
        host, port, world, is_master=rank == 0 and not agent_store, timeout=timeout
    )
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    return dist.PrefixStore(f"rnnkit/attempt_{attempt}/group_{joined}", store)


def setup(device: torch.device) -> DistContext:
    """Join the process group that torchrun's environment describes (once per process).

    Args:
        device: the training device; ``cuda`` selects ``nccl`` and this rank's GPU,
            anything else ``gloo``.

    Returns:
        The :class:`DistContext`; ``world_size == 1`` when ``WORLD_SIZE`` is unset or 1.

    Raises:
        RnnkitError: ``WORLD_SIZE`` > 1 but another of :data:`ENV_VARS` is missing, or the
            rendezvous failed (unreachable ``MASTER_ADDR``, timeout).
    """
    global _CURRENT, _JOINED
    if _CURRENT.enabled:
        return _CURRENT
    world = _env_int("WORLD_SIZE") if os.environ.get("WORLD_SIZE") else 1
    if world <= 1:
        return _CURRENT
    missing = [name for name in ENV_VARS if not os.environ.get(name)]
    if missing:
        raise RnnkitError(
            f"WORLD_SIZE={world} but {', '.join(missing)} not set: start distributed runs "
            "with torchrun or rnnkit train --nproc N"
        )
    rank, local_rank = _env_int("RANK"), _env_int("LOCAL_RANK")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        timeout = datetime.timedelta(seconds=timeout_s())
        try:
            store = _attempt_store(rank, world, timeout, _JOINED)
            _JOINED += 1
            dist.init_process_group(
                backend, store=store, rank=rank, world_size=world, timeout=timeout
            )
        except (RuntimeError, ValueError) as e:
            where = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
            raise RnnkitError(
                f"rank {rank}: could not join the {backend} group at {where}: {e}"
            ) from None
    _CURRENT = DistContext(rank, world, local_rank, backend)
    return _CURRENT


def shutdown() -> None:
    """Leave the process group (if :func:`setup` joined one)."""
    global _CURRENT
    if _CURRENT.enabled and dist.is_initialized():
        dist.destroy_process_group()
    _CURRENT = DistContext()


# ----------------------------------------------------------------------------- collectives


def _collective_error(what: str, e: BaseException) -> RnnkitError:
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return RnnkitError(
        f"rank {_CURRENT.rank}: {what} across {_CURRENT.world_size} processes failed (another "
        f"process ended, or none answered within {TIMEOUT_VAR}={timeout_s():g}s): {first}"
    )


def collective_failure(e: BaseException) -> RnnkitError | None:
    """The one-line error for ``e`` when it is a collective that failed because another
    rank ended (e.g. gloo's "Connection reset by peer" inside DDP's gradient all-reduce),
    else None."""
    if not _CURRENT.enabled:
        return None
    text = str(e)
    markers = ("gloo", "nccl", "connection reset", "connection closed", "timed out", "timeout")
    if isinstance(e, dist.DistError) or any(m in text.lower() for m in markers):
        return _collective_error("training", e)
    return None


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over the ranks, in place (every rank gets the sum); returns it."""
    if _CURRENT.enabled:
        try:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        except (RuntimeError, dist.DistBackendError) as e:
            raise _collective_error("summing", e) from None
    return tensor


def any_rank(flag: bool, device: torch.device | None = None) -> bool:
    """Whether ``flag`` is true on at least one rank (the same answer on every rank)."""
    if not _CURRENT.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device or torch.device("cpu"))
    return bool(all_reduce_sum(t).item() > 0)


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` (any picklable value) on every rank."""
    if not _CURRENT.enabled:
        return obj
    box = [obj]
    try:
        dist.broadcast_object_list(box, src=src)
    except (RuntimeError, dist.DistBackendError) as e:
        raise _collective_error("broadcasting", e) from None
    return box[0]


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "ENV_VARS",
    "TIMEOUT_VAR",
    "DistContext",
    "all_reduce_sum",
    "any_rank",
    "broadcast_object",
    "collective_failure",
    "current",
    "setup",
    "shutdown",
    "timeout_s",
]
