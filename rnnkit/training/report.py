"""``report.json``: what a finished run says about itself (see docs/training.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rnnkit.config import to_dict

if TYPE_CHECKING:
    import torch

    from rnnkit.tasks.base import Task
    from rnnkit.training.checkpoint import TrainState


def build_report(
    task: Task,
    state: TrainState,
    test: dict[str, float] | None,
    *,
    monitor: str,
    mode: str,
    device: torch.device,
    wall_time_s: float,
    baselines: bool = True,
) -> dict[str, Any]:
    """The report of a run whose best weights scored ``test`` on the test split: the task's
    metrics, the validation metrics of the best epoch, baselines, anchor, how training
    stopped, wall time, throughput, backend, device, version and the resolved config.
    ``test=None`` and ``baselines=False`` for a run that must not read the test split
    (a trial of ``rnnkit tune``)."""
    from rnnkit import __version__

    cfg = task.cfg
    best_row = next((r for r in state.rows if r["epoch"] == state.best_epoch), {})
    val = {k[4:]: v for k, v in best_row.items() if k.startswith("val.")}
    return {
        "task": cfg.task,
        "data": task.describe_data(),
        "test": test,
        "val": val,
        "baselines": task.baselines() if baselines else {},
        "anchor": task.anchor,
        "monitor": {"metric": monitor, "mode": mode, "best": state.best},
        "best_epoch": state.best_epoch,
        "epochs": state.epoch,
        "stopped": state.stopped or "epochs",
        "wall_time_s": round(wall_time_s, 3),
        "throughput": {
            "sequences_per_s": state.train_sequences / max(state.train_seconds, 1e-9),
            "timesteps_per_s": state.train_timesteps / max(state.train_seconds, 1e-9),
        },
        "backend": state.backend,
        "device": str(device),
        "rnnkit_version": __version__,
        "config": to_dict(cfg),
    }


__all__ = ["build_report"]
