"""The model under ``DistributedDataParallel``, with the task's training step as its forward.

A task's training step may call more of its model than ``forward`` (a loss helper, a
carried TBPTT state, a feature extractor). DDP only synchronises what runs inside the
forward of the module it wraps, so the loop wraps :class:`TrainingStep`, whose forward is
``task.training_step(model, batch)``: every parameter the step uses is seen by DDP, and the
tasks need no change. The optimizer, checkpoints and saved weights keep using the plain
model (the same parameter objects).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from rnnkit.data.batch import Batch

if TYPE_CHECKING:
    from rnnkit.tasks.base import Task


class TrainingStep(nn.Module):
    """``forward(batch) = task.training_step(model, batch)``, the scalar loss.

    Args:
        task: the task whose training step runs.
        model: its model (registered as the submodule ``model``).
    """

    def __init__(self, task: Task, model: nn.Module) -> None:
        super().__init__()
        self.task = task
        self.model = model

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.task.training_step(self.model, batch)


def data_parallel(task: Task, model: nn.Module) -> DistributedDataParallel:
    """``DistributedDataParallel`` over :class:`TrainingStep` (the group must be joined).

    Rank 0's parameters and buffers are broadcast to every rank on construction. The graph
    is declared static (the same parameters take part in every step), which also lets a
    model hold parameters its training step never uses.
    """
    # device_ids=None: DDP leaves the batch alone (the loop moves it, keeping lengths on CPU)
    return DistributedDataParallel(TrainingStep(task, model), device_ids=None, static_graph=True)


__all__ = ["TrainingStep", "data_parallel"]
