"""``checkpoint.pt``: everything needed to continue a run exactly, written atomically.

The file holds the model and optimizer state, the schedule, the shuffling generator, the
Python / NumPy / torch RNG states and the loop's counters (:class:`TrainState`), under a
format number (:data:`CHECKPOINT_VERSION`). A later rnnkit reads every format up to its
own; a checkpoint of a newer format is refused with a clear message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnkit.errors import RnnkitError
from rnnkit.rundir import first_line, state_dict_mismatch
from rnnkit.training.optim import Schedule
from rnnkit.training.seed import rng_state, set_rng_state

CHECKPOINT_VERSION = 1


@dataclass
class TrainState:
    """The loop's counters; saved in ``checkpoint.pt`` with the model and optimizer."""

    epoch: int = 0  # epochs completed
    best: float | None = None  # best value of the monitored validation metric
    best_epoch: int = 0  # the epoch (1-based) that reached it
    bad_epochs: int = 0  # epochs since the best (early stopping)
    stopped: str = ""  # "" while training; "early_stopping" | "max_minutes" | "epochs"
    train_seconds: float = 0.0  # time spent in training steps (for throughput)
    train_sequences: int = 0  # training sequences processed
    train_timesteps: int = 0  # real (unpadded) time steps processed
    wall_time_s: float = 0.0  # wall time of earlier sessions of this run (resume)
    backend: str | None = None  # the recurrent backend the training steps ran on
    rows: list[dict[str, Any]] = field(default_factory=list)  # metrics.jsonl lines


def save_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    generator: torch.Generator,
    state: TrainState,
    scaler: torch.amp.GradScaler | None = None,
) -> None:
    """Write ``checkpoint.pt`` atomically: everything needed to continue exactly (with
    ``train.precision=fp16`` the gradient scaler's scale and growth counter too)."""
    ckpt = {
        "version": CHECKPOINT_VERSION,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "optimizer_class": type(optimizer).__name__,  # a resume refuses another one
        "schedule": schedule.state_dict(),
        "generator": generator.get_state(),
        "rng": rng_state(),
        "state": {k: v for k, v in vars(state).items() if k != "rows"},
    }
    if scaler is not None:
        ckpt["scaler"] = scaler.state_dict()
    from rnnkit.io import atomic_path

    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)


def load_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    generator: torch.Generator,
    scaler: torch.amp.GradScaler | None = None,
) -> TrainState:
    """Restore what :func:`save_checkpoint` wrote; returns the loop's counters.

    ``scaler`` (fp16) takes the saved scale when the checkpoint has one; a checkpoint of
    an fp32/bf16 run (or of an rnnkit before the scaler was saved) leaves it at its
    default scale."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 (any unpickling failure means a bad file)
        raise RnnkitError(f"{path}: damaged, not a readable checkpoint ({first_line(e)})") from None
    if not isinstance(ckpt, dict):
        raise RnnkitError(f"{path}: not an rnnkit checkpoint (it holds a {type(ckpt).__name__})")
    if ckpt.get("version", 0) > CHECKPOINT_VERSION:
        found = ckpt.get("version")
        raise RnnkitError(
            f"{path}: written by a newer rnnkit (checkpoint format {found}; this rnnkit "
            f"reads formats up to {CHECKPOINT_VERSION}): upgrade rnnkit to resume it"
        )
    saved_class = ckpt.get("optimizer_class")  # absent in checkpoints before it was saved
    if saved_class is not None and saved_class != type(optimizer).__name__:
        raise RnnkitError(
            f"{path} holds {saved_class} optimizer state, and this config builds "
            f"{type(optimizer).__name__} (train.optimizer changed since?): its moments "
            f"cannot carry over; resume with the run's train.optimizer, or train a new run"
        )
    # the config's hyper-parameters (weight decay, momentum, betas ...) as this command
    # gives them: load_state_dict would put the saved ones back (the schedule sets lr)
    fresh = [
        {k: v for k, v in g.items() if k not in ("params", "lr")} for g in optimizer.param_groups
    ]
    try:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        for group, values in zip(optimizer.param_groups, fresh, strict=True):
            group.update(values)
    except (RuntimeError, ValueError, KeyError) as e:
        first = state_dict_mismatch(model.state_dict(), ckpt.get("model", {})) or first_line(e)
        raise RnnkitError(
            f"{path} does not fit the model and optimizer of this config (were model.* or "
            f"train.optimizer changed since?): {first}"
        ) from None
    schedule.load_state_dict(ckpt["schedule"])
    generator.set_state(ckpt["generator"])
    set_rng_state(ckpt["rng"])
    if scaler is not None and "scaler" in ckpt:
        scaler.load_state_dict(ckpt["scaler"])
    return TrainState(**ckpt["state"])


__all__ = ["CHECKPOINT_VERSION", "TrainState", "load_checkpoint", "save_checkpoint"]
