"""Optimizers and learning-rate schedules for :func:`rnnkit.training.loop.fit`.

``train.optimizer``: ``sgd`` (with ``train.momentum``), ``adam``, ``adamw``.
``train.schedule`` (after ``train.warmup_steps`` steps of linear warmup from ~0):

- ``constant``: ``lr``;
- ``cosine``: half a cosine from ``lr`` down to 0 over the remaining optimizer steps;
- ``step``: ``lr * lr_decay ** (epoch // lr_step_epochs)``;
- ``plateau``: ``lr`` times ``lr_decay`` each time the monitored validation metric has not
  improved for ``lr_patience`` epochs.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from rnnkit.config import TrainConfig
from rnnkit.errors import RnnkitError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "step", "plateau")


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer named by ``cfg.optimizer`` over ``model``'s trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise RnnkitError("the model has no trainable parameters")
    if cfg.lr <= 0:
        raise RnnkitError(f"train.lr: expected a positive learning rate, got {cfg.lr}")
    if cfg.weight_decay < 0:  # torch's own message names no key
        raise RnnkitError(f"train.weight_decay: expected a number >= 0, got {cfg.weight_decay}")
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise RnnkitError(f"train.optimizer: {cfg.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")


class Schedule:
    """Sets the learning rate of every parameter group before each optimizer step.

    Call :meth:`step` once per optimizer step (it sets the rate for the *next* step) and
    :meth:`epoch_end` once per epoch with the monitored validation metric. The state
    (``state_dict``) is saved in ``checkpoint.pt``.

    Args:
        optimizer: the optimizer whose groups' ``lr`` this sets.
        cfg: ``schedule``, ``lr``, ``warmup_steps``, ``lr_decay``, ``lr_step_epochs``,
            ``lr_patience``, ``epochs``.
        steps_per_epoch: optimizer steps in one epoch (cosine and step need it).
        mode: ``"min"`` or ``"max"``: which way the plateau metric improves.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        cfg: TrainConfig,
        steps_per_epoch: int,
        mode: str = "min",
    ) -> None:
        if cfg.schedule not in SCHEDULES:
            raise RnnkitError(
                f"train.schedule: {cfg.schedule!r} is not one of {', '.join(SCHEDULES)}"
            )
        if cfg.warmup_steps < 0:
            raise RnnkitError(f"train.warmup_steps: expected >= 0, got {cfg.warmup_steps}")
        if cfg.schedule in ("step", "plateau") and not 0.0 < cfg.lr_decay <= 1.0:
            raise RnnkitError(f"train.lr_decay: expected a value in (0, 1], got {cfg.lr_decay}")
        self.optimizer = optimizer
        self.cfg = cfg
        self.steps_per_epoch = max(int(steps_per_epoch), 1)
        self.total_steps = self.steps_per_epoch * max(cfg.epochs, 1)
        self.mode = mode
        self.step_count = 0  # optimizer steps taken
        self.plateau_factor = 1.0  # plateau: the decays so far
        self.best: float | None = None  # plateau: best metric so far
        self.bad_epochs = 0  # plateau: epochs since the best
        self.resume_note = ""  # set by load_state_dict when the plan changed (see there)
        self._apply()

    def lr_at(self, step: int, epochs: int | None = None) -> float:
        """The learning rate of optimizer step ``step`` (0-based) in a plan over ``epochs``
        (default ``train.epochs``)."""
        cfg = self.cfg
        epochs = max(cfg.epochs if epochs is None else epochs, 1)
        if step < cfg.warmup_steps:
            return cfg.lr * (step + 1) / cfg.warmup_steps
        if cfg.schedule == "cosine":
            span = max(self.steps_per_epoch * epochs - cfg.warmup_steps, 1)
            progress = min((step - cfg.warmup_steps) / span, 1.0)
            return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * progress))
        if cfg.schedule == "step":
            every = cfg.lr_step_epochs or max(epochs // 3, 1)
            epoch = step // self.steps_per_epoch
            return cfg.lr * cfg.lr_decay ** (epoch // every)
        if cfg.schedule == "plateau":
            return cfg.lr * self.plateau_factor
        return cfg.lr

    @property
    def lr(self) -> float:
        """The learning rate of the next optimizer step."""
        return self.lr_at(self.step_count)

    def _apply(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr

    def step(self) -> None:
        """Count one optimizer step and set the rate for the next."""
        self.step_count += 1
        self._apply()

    def epoch_end(self, metric: float) -> None:
        """Plateau: decay when ``metric`` has not improved for ``lr_patience`` epochs."""
        if self.cfg.schedule != "plateau" or not math.isfinite(metric):
            return
        better = self.best is None or (
            metric < self.best if self.mode == "min" else metric > self.best
        )
        if better:
            self.best, self.bad_epochs = metric, 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs >= max(self.cfg.lr_patience, 1):
                self.plateau_factor *= self.cfg.lr_decay
                self.bad_epochs = 0
        self._apply()

    def state_dict(self) -> dict[str, Any]:
        """The counters to save in ``checkpoint.pt``."""
        return {
            "step_count": self.step_count,
            "plateau_factor": self.plateau_factor,
            "best": self.best,
            "bad_epochs": self.bad_epochs,
            "epochs": self.cfg.epochs,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` and set the learning rate accordingly."""
        self.step_count = int(state["step_count"])
        self.plateau_factor = float(state["plateau_factor"])
        self.best = state["best"]
        self.bad_epochs = int(state["bad_epochs"])
        self.resume_note = self._replanned(state.get("epochs"))
        self._apply()

    def _replanned(self, planned: int | None) -> str:
        """A note for a resumed run whose ``train.epochs`` changed under a schedule planned
        over the epochs (cosine; step with ``lr_step_epochs`` = 0); otherwise ""."""
        cfg = self.cfg
        by_epochs = cfg.schedule == "cosine" or (cfg.schedule == "step" and not cfg.lr_step_epochs)
        if not by_epochs or planned is None or planned == cfg.epochs or not self.step_count:
            return ""
        last = self.lr_at(self.step_count - 1, planned)
        return (
            f"note: train.schedule={cfg.schedule} was planned over {planned} epoch(s) and now "
            f"over {cfg.epochs}: the learning rate goes on from where the {cfg.epochs}-epoch "
            f"plan is at step {self.step_count} ({self.lr:.3g}; the last step had {last:.3g}), "
            f"so the weights will differ from a run trained for {cfg.epochs} epochs from the start"
        )


def make_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int, mode: str = "min"
) -> Schedule:
    """The :class:`Schedule` named by ``cfg.schedule``."""
    return Schedule(optimizer, cfg, steps_per_epoch, mode)
