"""The training loop: ``fit(task, run_dir)``, for every task.

It calls only the :class:`rnnkit.tasks.base.Task` protocol, so a task owns its data,
model, loss and metrics, and the loop owns the rest: seeding, the optimizer and schedule,
gradient clipping, early stopping on the monitored validation metric with best-weights
restore, checkpoints that resume exactly (:mod:`rnnkit.training.checkpoint`), logging
(:mod:`rnnkit.training.logger`), the final ``report.json`` (:mod:`rnnkit.training.report`)
and callbacks (:mod:`rnnkit.training.callbacks`). One epoch::

    for batch in task.batches("train", shuffle=True, generator=g):
        loss = task.training_step(model, batch)      # scalar
        loss.backward(); clip; optimizer.step(); schedule.step()
    val = task.evaluate(model, "val")                # {"loss": ..., monitor: ...}

Under ``torchrun`` (:mod:`rnnkit.distributed`) every rank runs this same loop: each trains
on its rows of every global batch (``train.batch_size`` is the global batch) through
``DistributedDataParallel``, the epoch's training statistics are summed over the ranks,
rank 0 evaluates and its validation metrics are broadcast (so every rank takes the same
best-epoch and early-stopping decisions), and only rank 0 writes the run directory.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from rnnkit import distributed, rundir, runs
from rnnkit.errors import RnnkitError
from rnnkit.training.callbacks import Callback, gradflow_callbacks
from rnnkit.training.checkpoint import (  # noqa: F401 (re-exported: the loop's checkpoint API)
    CHECKPOINT_VERSION,
    TrainState,
    load_checkpoint,
    save_checkpoint,
)
from rnnkit.training.logger import Logger, epoch_line
from rnnkit.training.optim import Schedule, make_optimizer, make_scheduler
from rnnkit.training.precision import Precision, make_precision, mixed_precision, to_fp32
from rnnkit.training.progress import ProgressLines, interval_from_env
from rnnkit.training.report import build_report
from rnnkit.training.seed import (
    deterministic_mode,
    make_generator,
    rng_state,
    seed_everything,
    set_rng_state,
)

if TYPE_CHECKING:  # the loop calls the Task protocol; it never imports the tasks
    from rnnkit.tasks.base import Task

# Metrics where lower is better, for a train.monitor that differs from the task's own.
LOWER_IS_BETTER = {"loss", "mse", "rmse", "mae", "mase", "smape", "bpc", "perplexity", "nll"}


@dataclass
class Session:
    """One call of :func:`fit`: what is trained, where, and how it goes.

    Callbacks receive it; it is also the one argument of the loop's own steps.

    Attributes:
        task, model, optimizer, schedule, generator, device: what is trained, on what.
        run_dir: the run directory.
        state: the loop's counters (saved in the checkpoint).
        logger: ``metrics.jsonl`` and TensorBoard.
        steps: training batches per epoch.
        monitor, mode: the validation metric that picks the best epoch, ``min`` or ``max``.
        deadline: ``time.monotonic()`` after which training stops (``train.max_minutes``).
        callbacks: called at the hooks of :class:`~rnnkit.training.callbacks.Callback`.
        say: prints a line (a no-op when not verbose).
        t0: ``time.monotonic()`` when this session started; ``earlier``: the wall time of
            the sessions before it (resume).
        dist: this process's rank and the world size (:mod:`rnnkit.distributed`).
        ddp: the ``DistributedDataParallel`` training step when ``dist.world_size > 1``.
        precision: ``train.precision`` (autocast, gradient scaler).
    """

    task: Task
    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    generator: torch.Generator
    device: torch.device
    run_dir: Path
    state: TrainState
    logger: Logger
    steps: int
    monitor: str
    mode: str
    deadline: float | None = None
    callbacks: list[Callback] = field(default_factory=list)
    say: Callable[..., None] = print
    t0: float = 0.0
    earlier: float = 0.0
    dist: distributed.DistContext = field(default_factory=distributed.DistContext)
    ddp: nn.Module | None = None
    precision: Precision = field(default_factory=Precision)

    def call(self, hook: str, *args: Any) -> None:
        """Call ``hook`` (e.g. ``"on_epoch_end"``) on every callback, in order."""
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    def wall_time(self) -> float:
        """Seconds of this run so far, earlier sessions included."""
        return self.earlier + time.monotonic() - self.t0


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
    found = {b for m in model.modules() if (b := getattr(m, "last_backend", None)) is not None}
    return ",".join(sorted(found)) if found else None


def is_better(value: float, best: float | None, mode: str) -> bool:
    """``value`` improves on ``best`` (NaN never does)."""
    if not math.isfinite(value):
        return False
    return best is None or (value < best if mode == "min" else value > best)


def breaks_tie(val: dict[str, float], state: TrainState, monitor: str) -> bool:
    """``val`` ties the best monitored value so far and has a lower validation loss.

    On a small validation split accuracy moves in steps of ``1/N`` and ties across many
    epochs; the loss still tells the epochs apart, so a tie goes to the lower loss (and
    does not count as an epoch without improvement)."""
    if monitor == "loss" or state.best is None or val.get(monitor) != state.best:
        return False
    best_row = next((r for r in state.rows if r["epoch"] == state.best_epoch), None)
    loss, best_loss = val.get("loss"), (best_row or {}).get("val.loss")
    if loss is None or best_loss is None or not math.isfinite(loss):
        return False
    return loss < best_loss


def _progress_enabled(cfg_progress: bool) -> bool:
    return cfg_progress and sys.stderr.isatty()


# ----------------------------------------------------------------------------- one epoch


def run_epoch(session: Session, epoch: int, shown: dict[str, str] | None = None) -> dict[str, Any]:
    """One pass over the training split; returns the epoch's training statistics.
    ``shown`` is added to the progress bar (e.g. the last validation metric).

    Returns:
        ``{"loss", "grad_norm_mean", "grad_norm_max", "sequences", "timesteps", "seconds",
        "steps", "out_of_time"}``; ``loss`` is the mean over sequences (of every rank).
    """
    from tqdm import tqdm

    task, model, device, dist = session.task, session.model, session.device, session.dist
    optimizer, schedule, deadline = session.optimizer, session.schedule, session.deadline
    cfg = task.cfg.train
    model.train()
    task.on_epoch_start(model, "train")
    session.call("on_epoch_start", epoch)
    clip = cfg.clip_norm if cfg.clip_norm > 0 else math.inf
    scaler = session.precision.scaler
    params = [p for p in model.parameters() if p.requires_grad]
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    norm_sum = torch.zeros((), dtype=torch.float64, device=device)
    norm_max = torch.zeros((), dtype=torch.float64, device=device)
    sequences = timesteps = n_steps = 0
    out_of_time = False
    bar = tqdm(
        total=session.steps,
        desc=f"epoch {epoch}/{cfg.epochs}",
        unit="batch",
        bar_format="{desc} {percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}<{remaining}]{postfix}",
        leave=False,
        disable=not (_progress_enabled(cfg.progress) and dist.is_main),
        file=sys.stderr,
    )
    # a log (stderr not a terminal) gets a plain line every 30 s instead of the bar
    lines = None
    if cfg.progress and dist.is_main and not sys.stderr.isatty():
        lines = ProgressLines(
            session.steps, f"epoch {epoch}/{cfg.epochs}", every=interval_from_env()
        )
    start = time.perf_counter()
    for batch in task.batches("train", shuffle=True, generator=session.generator):
        # this rank's rows; weight makes DDP's averaged gradient that of the whole batch
        batch, weight = distributed.shard_batch(batch, dist.rank, dist.world_size)
        if device.type != "cpu":
            batch = batch.to(device)
        session.call("on_batch_start", batch)
        # scalar; under DDP the same task.training_step, with the gradients averaged
        with session.precision.autocast():
            loss = task.training_step(model, batch) if session.ddp is None else session.ddp(batch)
        loss = to_fp32(loss)  # a bf16 / fp16 loss in float32 (float64 stays float64)
        optimizer.zero_grad(set_to_none=True)
        scaled = loss if weight == 1.0 else loss * weight
        if scaler is not None:  # fp16: scale the loss up, the gradients back before clipping
            scaler.scale(scaled).backward()
            scaler.unscale_(optimizer)
        else:
            scaled.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, clip)  # global norm before clipping
        if scaler is not None and not bool(torch.isfinite(norm)):
            norm = torch.zeros_like(norm)  # an overflow: the scaler skips this step
        if scaler is not None:
            scaler.step(optimizer)  # skipped when the gradients overflowed
            scaler.update()
        else:
            optimizer.step()
        schedule.step()

        n = len(batch) if weight else 0  # rows this rank trained on
        total_loss += loss.detach().double() * n
        norm_sum += norm.double()
        norm_max = torch.maximum(norm_max, norm.double())
        sequences += n
        timesteps += int(batch.lengths.sum()) if n else 0
        n_steps += 1
        if not bar.disable:
            elapsed = time.perf_counter() - start
            bar.set_postfix(
                loss=f"{loss.item():.4f}", **(shown or {}), seq_s=f"{sequences / elapsed:.0f}"
            )
            bar.update()
        elif lines is not None and lines.due():
            lines.show(n_steps, loss.item(), sequences / (time.perf_counter() - start))
        if deadline is not None and distributed.any_rank(time.monotonic() > deadline, device):
            out_of_time = True
            break
    seconds = time.perf_counter() - start
    bar.close()
    if dist.enabled:  # the epoch of all ranks (the gradients, hence their norms, agree)
        counts = torch.tensor([sequences, timesteps], dtype=torch.float64, device=device)
        sums = distributed.all_reduce_sum(torch.cat([total_loss[None], counts]))  # (3,)
        total_loss, sequences, timesteps = sums[0], int(sums[1]), int(sums[2])
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


# ----------------------------------------------------------------------------- fit


def fit(
    task: Task,
    run_dir: str | Path,
    *,
    resume: bool = False,
    verbose: bool = True,
    callbacks: Sequence[Callback] = (),
    final_test: bool = True,
) -> dict[str, Any]:
    """Train ``task``'s model, writing everything into ``run_dir``; return ``report.json``.

    ``run_dir`` must exist (see :func:`rnnkit.runs.create_run_dir`). With ``resume``, the
    run continues from ``run_dir/checkpoint.pt`` and ends with the same weights as an
    uninterrupted run with the same config and seed. ``callbacks`` are called at the
    loop's hooks (:class:`~rnnkit.training.callbacks.Callback`), after the gradient-flow
    recorder that ``train.gradflow`` adds.

    Steps: seed; ``task.prepare(run_dir)``; save ``config.yaml``; build the model; for each
    epoch train, evaluate "val", keep the best weights (``model.safetensors``), log, and
    checkpoint; stop on ``train.epochs``, early stopping or ``train.max_minutes``; reload
    the best weights, evaluate "test", compute the task's baselines, write ``report.json``.
    With ``final_test=False`` (a trial of ``rnnkit tune``) neither the test split nor the
    baselines are read: the report's ``test`` is null and its ``baselines`` empty.
    """
    t0 = time.monotonic()
    run_dir = Path(run_dir)
    cfg = task.cfg
    if cfg.train.epochs < 1:
        raise RnnkitError(f"train.epochs: expected at least 1, got {cfg.train.epochs}")
    if cfg.train.batch_size < 1:
        raise RnnkitError(f"train.batch_size: expected at least 1, got {cfg.train.batch_size}")
    if cfg.seed < 0:  # numpy's own message names no key
        raise RnnkitError(f"seed: expected an integer >= 0, got {cfg.seed}")
    dist = distributed.setup(resolve_device(cfg.device))  # one process outside torchrun
    device = dist.device_for(resolve_device(cfg.device))
    if cfg.train.batch_size < dist.world_size:
        raise RnnkitError(
            f"train.batch_size={cfg.train.batch_size} is smaller than the {dist.world_size} "
            "processes; it is the global batch, split over the processes"
        )
    monitor, mode = monitor_of(task)
    precision = make_precision(cfg.train.precision, device)
    say = print if verbose and dist.is_main else (lambda *a, **k: None)
    shared = (runs.CHECKPOINT, runs.METRICS, rundir.DATA_RECORD) if resume else ()

    # rank 0 writes run_dir; the other ranks write into scratch directories
    with (
        deterministic_mode(cfg.train.deterministic),
        distributed.rank_run_dir(run_dir, shared) as run_dir,
    ):
        seed_everything(cfg.seed)
        runs.write_config(run_dir, cfg)  # marks run_dir as a run directory from the start
        task.prepare(run_dir)
        cfg = task.cfg  # a task may pin what it inferred from the data (e.g. column names)
        runs.write_config(run_dir, cfg)
        _record_data(task, run_dir, resume=resume, is_main=dist.is_main)
        model = task.build_model().to(device)
        optimizer = make_optimizer(model, cfg.train)
        steps = count_steps(task)
        schedule = make_scheduler(optimizer, cfg.train, steps, mode)
        generator = make_generator(cfg.seed)
        state = TrainState()
        if resume:
            from rnnkit.config import to_dict

            with rundir.naming_config_changes(run_dir, to_dict(cfg)):  # a misfit names keys
                state = load_checkpoint(
                    run_dir / runs.CHECKPOINT, model, optimizer, schedule, generator,
                    precision.scaler,
                )  # fmt: skip
            if state.epoch > cfg.train.epochs:  # config.yaml would say fewer than it did
                raise RnnkitError(
                    f"cannot resume {run_dir}: it has trained {state.epoch} epochs, and "
                    f"train.epochs={cfg.train.epochs} asks for fewer; resume with --epochs "
                    f"{state.epoch} (to finish it) or more, or read it with rnnkit evaluate"
                )
            state.rows = runs.rows_up_to(run_dir, state.epoch)
            _forget_lost_best(run_dir, state, cfg.train.epochs, dist.is_main)
            if state.stopped == "early_stopping":
                say(f"resuming {run_dir}: training had stopped early; evaluating the best epoch")
            else:
                state.stopped = ""
                say(f"resuming {run_dir} after epoch {state.epoch}")
            if schedule.resume_note:
                say(schedule.resume_note)
        _check_monitor(task, model, state, monitor, dist)
        flow = gradflow_callbacks(task, run_dir)  # train.gradflow refused before writing
        ddp = distributed.data_parallel(task, model) if dist.enabled else None
        rundir.setup_done(run_dir)  # every check passed: config and task files go in place
        # train.max_minutes bounds the training itself: data preparation is not counted
        minutes = cfg.train.max_minutes
        deadline = time.monotonic() + 60.0 * minutes if minutes > 0 else None
        session = Session(
            task, model, optimizer, schedule, generator, device, run_dir, state,
            Logger(run_dir, state.rows, cfg.train.tensorboard), steps, monitor, mode,
            deadline=deadline, callbacks=[*flow, *callbacks], say=say,
            t0=t0, earlier=state.wall_time_s, dist=dist, ddp=ddp, precision=precision,
        )  # fmt: skip
        session.call("on_fit_start")
        try:
            with mixed_precision(model, precision):  # the recurrence accumulates in fp32
                _train(session)
        except RuntimeError as e:  # DDP's all-reduce when another rank ended: one line
            if (failure := distributed.collective_failure(e)) is None:
                raise
            raise failure from None
        finally:
            session.logger.close()

        # ------------------------------------------------------------ best weights -> test
        if (run_dir / runs.WEIGHTS).is_file():
            runs.load_weights(model, run_dir / runs.WEIGHTS)
        else:  # no epoch had a finite validation metric: keep the last weights
            runs.save_weights(model, run_dir / runs.WEIGHTS, epoch=state.epoch)
        final_test = final_test and dist.is_main  # rank 0 reports; the others get its report
        no_test = final_test and task.split_size("test") == 0  # e.g. data.test_fraction=0
        test = evaluate_split(task, model, "test") if final_test and not no_test else None
        report = build_report(
            task, state, test, monitor=monitor, mode=mode, device=device,
            wall_time_s=session.wall_time(), baselines=final_test and not no_test,
        )  # fmt: skip
        if dist.enabled:
            report["distributed"] = {"world_size": dist.world_size, "backend": dist.backend}
        from rnnkit.io import write_json

        write_json(run_dir / runs.REPORT, report)
        report = distributed.broadcast_object(report)
        say(f"data: {report['data']}")
        if test is not None:
            say("test: " + "  ".join(f"{k} {v:.4f}" for k, v in test.items()))
        elif no_test:
            say("test: no test split (the data holds none); report.json has no test metrics")
        for name, scores in report["baselines"].items():
            shown = [f"{k} {v:.4f}" for k, v in scores.items() if k in (test or {})]
            say(f"baseline {name}: " + ("  ".join(shown) or scores.get("note", "")))
        if report["verdict"]:
            say(report["verdict"])
        session.call("on_fit_end", report)
        return report


def _check_monitor(
    task: Task, model: nn.Module, state: TrainState, monitor: str, dist: Any
) -> None:
    """Refuse a ``train.monitor`` that the task's validation metrics lack before anything
    is written (an ``--overwrite`` would have removed the old run, a resume rewritten its
    config): by the run's metrics.jsonl on a resume, else by one validation pass of the
    untrained model (the RNG states are kept, so the training is the same)."""
    if not task.cfg.train.monitor or monitor == task.monitor:
        return
    known = [k[4:] for k in (state.rows[-1] if state.rows else {}) if k.startswith("val.")]
    if not known:
        saved = rng_state()
        val = evaluate_split(task, model, "val") if dist.is_main else None
        set_rng_state(saved)
        known = list(distributed.broadcast_object(val))
    if monitor not in known:
        raise RnnkitError(
            f"train.monitor: the task's validation metrics have no {monitor!r}; they are: "
            f"{', '.join(known)}"
        )


def _forget_lost_best(run_dir: Path, state: TrainState, epochs: int, is_main: bool) -> None:
    """On a resume, weights of an epoch after the checkpoint's (a run killed after that
    epoch's best weights went in place, before its checkpoint) are from an epoch that is
    redone: the best is chosen again from there, so the weights file and the report agree
    on the best epoch. With no epoch left to train the resume is refused in one line."""
    lost = runs.weights_epoch(run_dir / runs.WEIGHTS) if is_main else None
    lost = distributed.broadcast_object(lost)  # every rank decides the same
    if lost is None or lost <= state.epoch:
        return
    what = (
        f"{runs.WEIGHTS} holds the weights of epoch {lost}, which the checkpoint (epoch "
        f"{state.epoch}) never reached (the run was stopped between the two)"
    )
    if state.stopped == "early_stopping" or state.epoch >= epochs:
        raise RnnkitError(
            f"cannot resume {run_dir}: {what}, and no epoch is left to train; resume with "
            f"--epochs {lost} or more"
        )
    if is_main:
        print(f"note: {what}; the best epoch is chosen again from epoch {state.epoch + 1} on",
              file=sys.stderr)  # fmt: skip
    state.best = None


def _record_data(task: Task, run_dir: Path, *, resume: bool, is_main: bool) -> None:
    """Record the digest of the data the run trains on (``data.json``), and on a resume
    refuse data whose digest differs from the record (:func:`rundir.check_resume_data`).

    Rank 0 hashes the data and hands its record to the other ranks. A resume of a run
    without a record (written before rnnkit kept one) writes none: the older checks apply.
    """
    from rnnkit.config import data_key
    from rnnkit.io import write_json

    try:
        key = data_key(task.cfg.data)
    except RnnkitError:
        return
    value = getattr(task.cfg.data, key)
    now = rundir.data_identity(value, f"data.{key}", task.data_files) if is_main else None
    now = distributed.broadcast_object(now)
    if resume and not rundir.check_resume_data(run_dir, now):
        return
    if now is not None:
        write_json(run_dir / rundir.DATA_RECORD, now)


def _train(session: Session) -> None:
    """The epochs of :func:`fit` (updates ``session.state`` in place)."""
    task, model, state, monitor = session.task, session.model, session.state, session.monitor
    cfg = task.cfg.train
    last = state.rows[-1] if state.rows else {}
    shown = {f"val_{monitor}": f"{last[f'val.{monitor}']:.4f}"} if f"val.{monitor}" in last else {}
    # a resumed run's report.json describes the weights of the last session's end: it goes
    # before this session writes an epoch (killed before the new report, the run says it
    # is unfinished instead of reporting other weights' epochs, best epoch and metrics)
    old_report = session.run_dir / runs.REPORT if state.rows else None
    while state.epoch < cfg.epochs and not state.stopped:
        epoch = state.epoch + 1
        lr = session.schedule.lr
        stats = run_epoch(session, epoch, shown)
        state.backend = recurrent_backend(model) or state.backend
        # rank 0 evaluates; every rank decides on its numbers (best epoch, early stopping)
        val = evaluate_split(task, model, "val") if session.dist.is_main else None
        val = distributed.broadcast_object(val)
        if monitor not in val:
            raise RnnkitError(
                f"train.monitor: the task's validation metrics have no {monitor!r}; "
                f"they are: {', '.join(val)}"
            )
        if old_report is not None:
            old_report.unlink(missing_ok=True)
            old_report = None
        if is_better(val[monitor], state.best, session.mode) or breaks_tie(val, state, monitor):
            state.best, state.best_epoch, state.bad_epochs = val[monitor], epoch, 0
            runs.save_weights(model, session.run_dir / runs.WEIGHTS, epoch=epoch)
        else:
            state.bad_epochs += 1
        session.schedule.epoch_end(val[monitor])

        state.epoch = epoch
        state.train_seconds += stats["seconds"]
        state.train_sequences += stats["sequences"]
        state.train_timesteps += stats["timesteps"]
        state.wall_time_s = session.wall_time()
        deadline = session.deadline
        late = deadline is not None and distributed.any_rank(time.monotonic() > deadline)
        if stats["out_of_time"]:  # the epoch was cut short
            state.stopped = "max_minutes"
        elif epoch >= cfg.epochs:  # the limit, even where patience ran out at the same time
            state.stopped = "epochs"
        elif cfg.early_stopping and state.bad_epochs >= cfg.early_stopping:
            state.stopped = "early_stopping"
        elif late:
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
        session.logger.log(row)
        shown = {f"val_{monitor}": f"{val[monitor]:.4f}"}
        save_checkpoint(
            session.run_dir / runs.CHECKPOINT, model, session.optimizer, session.schedule,
            session.generator, state, session.precision.scaler,
        )  # fmt: skip
        session.say(epoch_line(row, cfg.epochs, monitor))
        if state.stopped == "early_stopping":
            session.say(f"early stopping: no better val.{monitor} for {state.bad_epochs} epochs")
        elif state.stopped == "max_minutes":
            session.say(f"stopping: train.max_minutes={cfg.max_minutes} reached")
        session.call("on_epoch_end", row)
