"""The training loop: ``fit(task, run_dir)``, for every task.

It calls only the :class:`rnnkit.tasks.base.Task` protocol, so a task owns its data,
model, loss and metrics, and the loop owns the rest: seeding, the optimizer and schedule,
gradient clipping, early stopping on the monitored validation metric with best-weights
restore, checkpoints that resume exactly, logging (``metrics.jsonl``, TensorBoard, a
progress bar), and the final ``report.json``. One epoch::

    for batch in task.batches("train", shuffle=True, generator=g):
        loss = task.training_step(model, batch)      # scalar
        loss.backward(); clip; optimizer.step(); schedule.step()
    val = task.evaluate(model, "val")                # {"loss": ..., monitor: ...}
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from rnnkit import rundir, runs
from rnnkit.config import to_dict
from rnnkit.errors import RnnkitError
from rnnkit.rundir import first_line, state_dict_mismatch
from rnnkit.training.optim import Schedule, make_optimizer, make_scheduler
from rnnkit.training.seed import (
    deterministic_mode,
    make_generator,
    rng_state,
    seed_everything,
    set_rng_state,
)

if TYPE_CHECKING:  # the loop calls the Task protocol; it never imports the tasks
    from rnnkit.tasks.base import Task

CHECKPOINT_VERSION = 1
# Metrics where lower is better, for a train.monitor that differs from the task's own.
LOWER_IS_BETTER = {"loss", "mse", "rmse", "mae", "mase", "smape", "bpc", "perplexity", "nll"}


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


# ----------------------------------------------------------------------------- helpers


def resolve_device(name: str) -> torch.device:
    """``cfg.device`` as a torch.device, refusing a GPU that is not there."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise RnnkitError(f"device: {name!r} is not a device; expected cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RnnkitError(
            f"device: {name!r} was asked for but CUDA is not available (torch "
            f"{torch.__version__}, cuda build: {torch.version.cuda or 'none'}); use --device cpu"
        )
    return device


def monitor_of(task: Task) -> tuple[str, str]:
    """The validation metric that picks the best epoch, and ``"min"`` or ``"max"``."""
    cfg = task.cfg.train
    name = cfg.monitor or task.monitor
    mode = cfg.monitor_mode
    if not mode:
        if name == task.monitor:
            mode = task.monitor_mode
        else:
            mode = "min" if name in LOWER_IS_BETTER else "max"
    if mode not in ("min", "max"):
        raise RnnkitError(f"train.monitor_mode: expected min or max, got {mode!r}")
    return name, mode


def count_steps(task: Task) -> int:
    """Training batches per epoch (``len`` of the batches, or counted once)."""
    batches = task.batches("train")
    try:
        return len(batches)  # type: ignore[arg-type]
    except TypeError:
        return sum(1 for _ in batches)


def recurrent_backend(model: nn.Module) -> str | None:
    """The backend the model's rnnkit layers ran on last (``last_backend``), if any."""
    found = {getattr(m, "last_backend", None) for m in model.modules()}
    found.discard(None)
    return ",".join(sorted(found)) if found else None


def is_better(value: float, best: float | None, mode: str) -> bool:
    """``value`` improves on ``best`` (NaN never does)."""
    if not math.isfinite(value):
        return False
    return best is None or (value < best if mode == "min" else value > best)


def _progress_enabled(cfg_progress: bool) -> bool:
    return cfg_progress and sys.stderr.isatty()


# ----------------------------------------------------------------------------- one epoch


def run_epoch(
    task: Task,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    generator: torch.Generator,
    device: torch.device,
    *,
    epoch: int,
    steps: int,
    deadline: float | None = None,
    shown: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One pass over the training split; returns the epoch's training statistics.
    ``shown`` is added to the progress bar (e.g. the last validation metric).

    Returns:
        ``{"loss", "grad_norm_mean", "grad_norm_max", "sequences", "timesteps", "seconds",
        "steps", "out_of_time"}``; ``loss`` is the mean over sequences.
    """
    from tqdm import tqdm

    cfg = task.cfg.train
    model.train()
    task.on_epoch_start(model, "train")
    clip = cfg.clip_norm if cfg.clip_norm > 0 else math.inf
    params = [p for p in model.parameters() if p.requires_grad]
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    norm_sum = torch.zeros((), dtype=torch.float64, device=device)
    norm_max = torch.zeros((), dtype=torch.float64, device=device)
    sequences = timesteps = n_steps = 0
    out_of_time = False
    bar = tqdm(
        total=steps,
        desc=f"epoch {epoch}/{cfg.epochs}",
        unit="batch",
        bar_format="{desc} {percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}<{remaining}]{postfix}",
        leave=False,
        disable=not _progress_enabled(cfg.progress),
        file=sys.stderr,
    )
    start = time.perf_counter()
    for batch in task.batches("train", shuffle=True, generator=generator):
        if device.type != "cpu":
            batch = batch.to(device)
        loss = task.training_step(model, batch)  # scalar
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, clip)  # global norm before clipping
        optimizer.step()
        schedule.step()

        n = len(batch)
        total_loss += loss.detach().double() * n
        norm_sum += norm.double()
        norm_max = torch.maximum(norm_max, norm.double())
        sequences += n
        timesteps += int(batch.lengths.sum())
        n_steps += 1
        if not bar.disable:
            elapsed = time.perf_counter() - start
            bar.set_postfix(
                loss=f"{loss.item():.4f}", **(shown or {}), seq_s=f"{sequences / elapsed:.0f}"
            )
            bar.update()
        if deadline is not None and time.monotonic() > deadline:
            out_of_time = True
            break
    seconds = time.perf_counter() - start
    bar.close()
    if n_steps == 0:
        raise RnnkitError("the training split gave no batches: is the data too small?")
    mean_loss = float(total_loss) / max(sequences, 1)
    if not math.isfinite(mean_loss):
        raise RnnkitError(
            f"training diverged: the loss is {mean_loss} in epoch {epoch}; lower train.lr or "
            f"set train.clip_norm (now {cfg.clip_norm})"
        )
    return {
        "loss": mean_loss,
        "grad_norm_mean": float(norm_sum) / n_steps,
        "grad_norm_max": float(norm_max),
        "sequences": sequences,
        "timesteps": timesteps,
        "seconds": seconds,
        "steps": n_steps,
        "out_of_time": out_of_time,
    }


def evaluate_split(task: Task, model: nn.Module, split: str) -> dict[str, float]:
    """The task's metrics on ``split``, with the model in eval mode and no gradients."""
    was_training = model.training
    model.eval()
    task.on_epoch_start(model, split)
    with torch.no_grad():
        metrics = task.evaluate(model, split)
    model.train(was_training)
    return {k: float(v) for k, v in metrics.items()}


# ----------------------------------------------------------------------------- checkpoints


def save_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    generator: torch.Generator,
    state: TrainState,
) -> None:
    """Write ``checkpoint.pt`` atomically: everything needed to continue exactly."""
    ckpt = {
        "version": CHECKPOINT_VERSION,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "generator": generator.get_state(),
        "rng": rng_state(),
        "state": {k: v for k, v in vars(state).items() if k != "rows"},
    }
    from rnnkit.io import atomic_path

    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)


def load_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    generator: torch.Generator,
) -> TrainState:
    """Restore what :func:`save_checkpoint` wrote; returns the loop's counters."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 (any unpickling failure means a bad file)
        raise RnnkitError(f"{path}: damaged, not a readable checkpoint ({first_line(e)})") from None
    if not isinstance(ckpt, dict) or ckpt.get("version", 0) > CHECKPOINT_VERSION:
        raise RnnkitError(f"{path}: written by a newer rnnkit (checkpoint format unknown)")
    try:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
    except (RuntimeError, ValueError, KeyError) as e:
        first = state_dict_mismatch(model.state_dict(), ckpt.get("model", {})) or first_line(e)
        raise RnnkitError(
            f"{path} does not fit the model and optimizer of this config (were model.* or "
            f"train.optimizer changed since?): {first}"
        ) from None
    schedule.load_state_dict(ckpt["schedule"])
    generator.set_state(ckpt["generator"])
    set_rng_state(ckpt["rng"])
    return TrainState(**ckpt["state"])


# ----------------------------------------------------------------------------- logging


class Logger:
    """``metrics.jsonl`` (one line per epoch, rewritten atomically) and TensorBoard."""

    def __init__(self, run_dir: Path, rows: list[dict[str, Any]], tensorboard: bool) -> None:
        self.run_dir = run_dir
        self.rows = rows
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            purge = len(rows) + 1 if rows else None  # drop steps logged after the checkpoint
            self.writer = SummaryWriter(str(run_dir / runs.TENSORBOARD), purge_step=purge)

    def log(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        runs.write_metrics(self.run_dir, self.rows)
        if self.writer is not None:
            for key, value in row.items():
                if key != "epoch" and type(value) in (int, float):
                    self.writer.add_scalar(key.replace(".", "/"), value, row["epoch"])
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _epoch_line(row: dict[str, Any], epochs: int, monitor: str) -> str:
    val = [k for k in row if k.startswith("val.")]
    shown = ["val.loss"] + [f"val.{monitor}"] if f"val.{monitor}" != "val.loss" else ["val.loss"]
    shown += [k for k in val if k not in shown][:2]
    parts = [f"epoch {row['epoch']}/{epochs}", f"train.loss {row['train.loss']:.4f}"]
    parts += [f"{k} {row[k]:.4f}" for k in shown if k in row]
    parts.append(f"grad_norm {row['grad_norm_mean']:.2f}/{row['grad_norm_max']:.2f}")
    parts.append(f"{row['sequences_per_s']:.0f} seq/s")
    parts.append(f"{row['seconds']:.1f}s")
    return "  ".join(parts)


# ----------------------------------------------------------------------------- fit


def fit(task: Task, run_dir: str | Path, *, resume: bool = False, verbose: bool = True) -> dict:
    """Train ``task``'s model, writing everything into ``run_dir``; return ``report.json``.

    ``run_dir`` must exist (see :func:`rnnkit.runs.create_run_dir`). With ``resume``, the
    run continues from ``run_dir/checkpoint.pt`` and ends with the same weights as an
    uninterrupted run with the same config and seed.

    Steps: seed; ``task.prepare(run_dir)``; save ``config.yaml``; build the model; for each
    epoch train, evaluate "val", keep the best weights (``model.safetensors``), log, and
    checkpoint; stop on ``train.epochs``, early stopping or ``train.max_minutes``; reload
    the best weights, evaluate "test", compute the task's baselines, write ``report.json``.
    """
    t0 = time.monotonic()
    run_dir = Path(run_dir)
    cfg = task.cfg
    if cfg.train.epochs < 1:
        raise RnnkitError(f"train.epochs: expected at least 1, got {cfg.train.epochs}")
    if cfg.train.batch_size < 1:
        raise RnnkitError(f"train.batch_size: expected at least 1, got {cfg.train.batch_size}")
    device = resolve_device(cfg.device)
    monitor, mode = monitor_of(task)
    say = print if verbose else (lambda *a, **k: None)

    with deterministic_mode(cfg.train.deterministic):
        seed_everything(cfg.seed)
        runs.write_config(run_dir, cfg)  # marks run_dir as a run directory from the start
        task.prepare(run_dir)
        cfg = task.cfg  # a task may pin what it inferred from the data (e.g. column names)
        runs.write_config(run_dir, cfg)
        model = task.build_model().to(device)
        optimizer = make_optimizer(model, cfg.train)
        steps = count_steps(task)
        schedule = make_scheduler(optimizer, cfg.train, steps, mode)
        generator = make_generator(cfg.seed)
        state = TrainState()
        if resume:
            state = load_checkpoint(
                run_dir / runs.CHECKPOINT, model, optimizer, schedule, generator
            )
            state.rows = runs.rows_up_to(run_dir, state.epoch)
            if state.stopped == "early_stopping":
                say(f"resuming {run_dir}: training had stopped early; evaluating the best epoch")
            else:
                state.stopped = ""
                say(f"resuming {run_dir} after epoch {state.epoch}")
        rundir.setup_done(run_dir)  # every check passed: config and task files go in place
        earlier = state.wall_time_s  # wall time of the sessions before this one
        # train.max_minutes bounds the training itself: data preparation is not counted
        minutes = cfg.train.max_minutes
        deadline = time.monotonic() + 60.0 * minutes if minutes > 0 else None
        logger = Logger(run_dir, state.rows, cfg.train.tensorboard)
        try:
            _train(
                task, model, optimizer, schedule, generator, device, state, logger, run_dir,
                steps=steps, monitor=monitor, mode=mode, deadline=deadline, say=say, t0=t0,
                earlier=earlier,
            )  # fmt: skip
        finally:
            logger.close()

        # ------------------------------------------------------------ best weights -> test
        if (run_dir / runs.WEIGHTS).is_file():
            runs.load_weights(model, run_dir / runs.WEIGHTS)
        else:  # no epoch had a finite validation metric: keep the last weights
            runs.save_weights(model, run_dir / runs.WEIGHTS)
        test = evaluate_split(task, model, "test")
        best_row = next((r for r in state.rows if r["epoch"] == state.best_epoch), {})
        val = {k[4:]: v for k, v in best_row.items() if k.startswith("val.")}
        report = {
            "task": cfg.task,
            "data": task.describe_data(),
            "test": test,
            "val": val,
            "baselines": task.baselines(),
            "anchor": task.anchor,
            "monitor": {"metric": monitor, "mode": mode, "best": state.best},
            "best_epoch": state.best_epoch,
            "epochs": state.epoch,
            "stopped": state.stopped or "epochs",
            "wall_time_s": round(earlier + time.monotonic() - t0, 3),
            "throughput": {
                "sequences_per_s": state.train_sequences / max(state.train_seconds, 1e-9),
                "timesteps_per_s": state.train_timesteps / max(state.train_seconds, 1e-9),
            },
            "backend": state.backend,
            "device": str(device),
            "rnnkit_version": _version(),
            "config": to_dict(cfg),
        }
        from rnnkit.io import write_json

        write_json(run_dir / runs.REPORT, report)
        say("test: " + "  ".join(f"{k} {v:.4f}" for k, v in test.items()))
        return report


def _train(
    task: Task,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    generator: torch.Generator,
    device: torch.device,
    state: TrainState,
    logger: Logger,
    run_dir: Path,
    *,
    steps: int,
    monitor: str,
    mode: str,
    deadline: float | None,
    say: Any,
    t0: float,
    earlier: float,
) -> None:
    """The epochs of :func:`fit` (updates ``state`` in place)."""
    cfg = task.cfg.train
    last = state.rows[-1] if state.rows else {}
    shown = {f"val_{monitor}": f"{last[f'val.{monitor}']:.4f}"} if f"val.{monitor}" in last else {}
    while state.epoch < cfg.epochs and not state.stopped:
        epoch = state.epoch + 1
        lr = schedule.lr
        stats = run_epoch(
            task, model, optimizer, schedule, generator, device,
            epoch=epoch, steps=steps, deadline=deadline, shown=shown,
        )  # fmt: skip
        state.backend = recurrent_backend(model) or state.backend
        val = evaluate_split(task, model, "val")
        if monitor not in val:
            raise RnnkitError(
                f"train.monitor: the task's validation metrics have no {monitor!r}; "
                f"they are: {', '.join(val)}"
            )
        if is_better(val[monitor], state.best, mode):
            state.best, state.best_epoch, state.bad_epochs = val[monitor], epoch, 0
            runs.save_weights(model, run_dir / runs.WEIGHTS)
        else:
            state.bad_epochs += 1
        schedule.epoch_end(val[monitor])

        state.epoch = epoch
        state.train_seconds += stats["seconds"]
        state.train_sequences += stats["sequences"]
        state.train_timesteps += stats["timesteps"]
        state.wall_time_s = earlier + time.monotonic() - t0
        if cfg.early_stopping and state.bad_epochs >= cfg.early_stopping:
            state.stopped = "early_stopping"
        elif stats["out_of_time"] or (deadline is not None and time.monotonic() > deadline):
            state.stopped = "max_minutes"
        row = {
            "epoch": epoch,
            "train.loss": stats["loss"],
            **{f"val.{k}": v for k, v in val.items()},
            "lr": lr,
            "grad_norm_mean": stats["grad_norm_mean"],
            "grad_norm_max": stats["grad_norm_max"],
            "sequences_per_s": stats["sequences"] / max(stats["seconds"], 1e-9),
            "seconds": stats["seconds"],
            "steps": stats["steps"],
            "best": state.best_epoch == epoch,
        }
        logger.log(row)
        shown = {f"val_{monitor}": f"{val[monitor]:.4f}"}
        save_checkpoint(run_dir / runs.CHECKPOINT, model, optimizer, schedule, generator, state)
        say(_epoch_line(row, cfg.epochs, monitor))
        if state.stopped == "early_stopping":
            say(f"early stopping: no better val.{monitor} for {state.bad_epochs} epochs")
        elif state.stopped == "max_minutes":
            say(f"stopping: train.max_minutes={cfg.max_minutes} reached")


def _version() -> str:
    from rnnkit import __version__

    return __version__
