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
    found = task.baselines() if baselines else {}
    best_row = next((r for r in state.rows if r["epoch"] == state.best_epoch), {})
    val = {k[4:]: v for k, v in best_row.items() if k.startswith("val.")}
    return {
        "task": cfg.task,
        "data": task.describe_data(),
        "test": test,
        "val": val,
        "baselines": found,
        "verdict": verdict(cfg.task, test, found, monitor, mode),
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


# metrics where lower is better, for comparing a baseline on a metric that is not the monitor
LOWER = {"loss", "mse", "rmse", "mae", "mase", "smape", "bpc", "perplexity", "nll"}
LOWER |= {"wer", "per", "cer", "ter"}


def verdict(
    task: str,
    test: dict[str, float] | None,
    baselines: dict[str, dict[str, Any]],
    monitor: str,
    mode: str,
) -> str:
    """One line when the model's test score is no better than its best baseline's, with
    what to try next; "" when it beats every baseline (or there is nothing to compare).

    The comparison uses the monitored metric when a baseline reports it, else the first
    test metric a baseline reports (the task's order).

    >>> verdict("tsclass", {"loss": 0.9, "accuracy": 0.70},
    ...         {"1nn_dtw": {"accuracy": 0.72}}, "loss", "min")  # doctest: +NORMALIZE_WHITESPACE
    'the model does no better than the 1nn_dtw baseline on the test split (accuracy 0.7000
    vs 0.7200): try rnnkit tune tsclass, more epochs (train.epochs) or data, or another
    cell (model.cell)'
    """
    if not test or not baselines:
        return ""

    def number(entry: dict[str, Any], metric: str) -> float | None:
        value = entry.get(metric)
        return float(value) if isinstance(value, float | int) else None

    scored = [m for m in test if any(number(b, m) is not None for b in baselines.values())]
    if not scored:
        return ""
    metric = monitor if monitor in scored else scored[0]
    low = mode == "min" if metric == monitor else metric in LOWER
    values = {n: v for n, b in baselines.items() if (v := number(b, metric)) is not None}
    best = sorted(values.items(), key=lambda kv: kv[1], reverse=not low)[0]  # (name, value)
    name = best[0]
    ours, theirs = test[metric], values[name]
    if (ours < theirs) if low else (ours > theirs):
        return ""
    return (
        f"the model does no better than the {name} baseline on the test split ({metric} "
        f"{ours:.4f} vs {theirs:.4f}): try rnnkit tune {task}, more epochs (train.epochs) "
        "or data, or another cell (model.cell)"
    )


__all__ = ["build_report", "verdict"]
