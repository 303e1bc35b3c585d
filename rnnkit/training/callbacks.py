"""Callbacks: what a task, a tool or a user adds to the loop without editing it.

A callback subclasses :class:`Callback` and overrides the hooks it needs; ``fit(...,
callbacks=[...])`` calls them in order, each with the :class:`~rnnkit.training.loop.Session`
(task, model, optimizer, run directory, counters ...)::

    class PrintLR(Callback):
        def on_epoch_end(self, session, row):
            print(row["epoch"], row["lr"])

    rnnkit.training.fit(task, run_dir, callbacks=[PrintLR()])

``train.gradflow=true`` adds :class:`GradFlowCallback`, the one gradient-flow hook of
every task that exposes its recurrent stack (``Task.gradflow_probe``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnkit.errors import RnnkitError

if TYPE_CHECKING:
    from rnnkit.data.batch import Batch
    from rnnkit.tasks.base import Task
    from rnnkit.training.loop import Session


class Callback:
    """Hooks of the training loop; every one does nothing by default."""

    def on_fit_start(self, session: Session) -> None:
        """After the model, optimizer and (on resume) checkpoint are ready."""

    def on_epoch_start(self, session: Session, epoch: int) -> None:
        """Before the first training batch of ``epoch`` (1-based)."""

    def on_batch_start(self, session: Session, batch: Batch) -> None:
        """Before ``task.training_step`` on ``batch`` (already on the device)."""

    def on_epoch_end(self, session: Session, row: dict[str, Any]) -> None:
        """After the epoch's validation, logging and checkpoint; ``row`` is its
        ``metrics.jsonl`` line."""

    def on_fit_end(self, session: Session, report: dict[str, Any]) -> None:
        """After ``report.json`` is written."""


class GradFlowCallback(Callback):
    """``train.gradflow``: measure ``||dL/dh_t||`` over the time steps on the first training
    batch of each epoch (:class:`rnnkit.diagnostics.gradflow.GradFlowRecorder`: an extra
    forward and backward pass that leaves the parameters' gradients untouched), saved as
    ``RUN_DIR/gradflow.jsonl`` and ``gradflow.png``. The task says what to measure:
    ``task.gradflow_probe(model, batch) -> (recurrent, x, loss_fn, state)``."""

    def __init__(self, run_dir: str | Path) -> None:
        from rnnkit.diagnostics.gradflow import GradFlowRecorder

        self.recorder = GradFlowRecorder(run_dir)

    def on_epoch_start(self, session: Session, epoch: int) -> None:
        self.recorder.arm()

    def on_batch_start(self, session: Session, batch: Batch) -> None:
        if self.recorder.armed:
            self.recorder.record(*session.task.gradflow_probe(session.model, batch))


def gradflow_callbacks(task: Task, run_dir: str | Path) -> list[Callback]:
    """``[GradFlowCallback]`` when ``train.gradflow`` is on (refused for a task that does
    not expose its recurrent stack), else ``[]``."""
    if not task.cfg.train.gradflow:
        return []
    if not task.has_gradflow_probe():
        raise RnnkitError(
            f"train.gradflow: the {task.name} task does not expose its recurrent stack for "
            "the gradient-flow recorder; set train.gradflow=false"
        )
    return [GradFlowCallback(run_dir)]


__all__ = ["Callback", "GradFlowCallback", "gradflow_callbacks"]
