"""Search spaces: what ``rnnkit tune`` may change in a task's config, and over which values.

A task declares its space in :meth:`rnnkit.tasks.base.Task.search_space`, a list of
:class:`Param`, one per config key. The default (:func:`stack_space`) covers what every
recurrent model has: the learning rate (log scale, a decade either side of the task's
default), the batch size, the hidden size, the number of layers, the dropout between
layers and the cell family; a task adds its own keys (``data.max_length`` for texts,
``data.context`` for forecasts ...)::

    def search_space(self) -> list[Param]:
        return [*stack_space(self), choice("data.max_length", 100, 200, 400, 800)]

This module needs nothing beyond the standard library: a task can declare its space
without Optuna installed (only ``rnnkit tune`` itself needs it).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rnnkit.errors import RnnkitError

if TYPE_CHECKING:
    from rnnkit.tasks.base import Task

KINDS = ("float", "int", "choice")


@dataclass(frozen=True)
class Param:
    """One dimension of a search space: a config key and the values to try.

    Attributes:
        key: the dotted config key, e.g. ``"train.lr"``.
        kind: ``"float"`` or ``"int"`` (a range from ``low`` to ``high``, both included;
            ``log`` draws on a log scale) or ``"choice"`` (one of ``choices``).
        low, high: the range (``float`` / ``int``).
        log: draw the range on a log scale.
        choices: the values of a ``"choice"`` (bool, int, float or str).
    """

    key: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Param {self.key}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"Param {self.key}: a choice needs at least one value")
        if self.kind != "choice" and not self.low <= self.high:
            raise ValueError(f"Param {self.key}: low {self.low} > high {self.high}")
        if self.log and self.kind != "choice" and self.low <= 0:
            raise ValueError(f"Param {self.key}: a log range needs low > 0, got {self.low}")

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is one of this dimension's values."""
        if self.kind == "choice":
            return any(type(value) is type(c) and value == c for c in self.choices)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind == "int" and value != int(value):
            return False
        return self.low <= value <= self.high

    def describe(self) -> str:
        """``train.lr: 1e-04 .. 1e-02 (log)`` or ``model.cell: lstm | gru``."""
        if self.kind == "choice":
            return f"{self.key}: " + " | ".join(str(c) for c in self.choices)
        scale = " (log)" if self.log else ""
        return f"{self.key}: {self.low:g} .. {self.high:g}{scale}"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready description (``study.json``)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v not in ((), False)} | {
            "kind": self.kind
        }


def floats(key: str, low: float, high: float, *, log: bool = False) -> Param:
    """A float range ``[low, high]`` (``log``: drawn on a log scale)."""
    return Param(key, "float", float(low), float(high), log)


def ints(key: str, low: int, high: int, *, log: bool = False) -> Param:
    """An integer range ``[low, high]``, both included."""
    return Param(key, "int", int(low), int(high), log)


def choice(key: str, *values: Any) -> Param:
    """One of ``values`` (bool, int, float or str)."""
    return Param(key, "choice", choices=tuple(values))


def _with_default(values: Sequence[Any], default: Any) -> tuple[Any, ...]:
    """``values`` with the task's ``default`` added (sorted when all are numbers)."""
    out = list(dict.fromkeys([*values, default]))
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in out):
        out.sort()
    return tuple(out)


def stack_space(
    task: Task, *, cells: Sequence[str] = ("lstm", "gru"), max_layers: int = 3
) -> list[Param]:
    """The search space of the recurrent stack and the loop, centred on ``task``'s config.

    * ``train.lr``: log scale, from a tenth to ten times the task's learning rate (at
      most 0.1);
    * ``train.batch_size``: 16, 32, 64, 128 and the task's own;
    * ``model.hidden_size``: 32, 64, 128, 256 and the task's own;
    * ``model.num_layers``: 1 .. ``max_layers``;
    * ``model.dropout``: 0 .. 0.5 (between layers; no effect with one layer);
    * ``model.cell``: ``cells`` and the task's own.
    """
    cfg = task.cfg
    lr = cfg.train.lr
    space = [
        floats("train.lr", lr / 10, min(lr * 10, 0.1), log=True),
        choice("train.batch_size", *_with_default((16, 32, 64, 128), cfg.train.batch_size)),
        choice("model.hidden_size", *_with_default((32, 64, 128, 256), cfg.model.hidden_size)),
        ints("model.num_layers", 1, max(max_layers, cfg.model.num_layers)),
        floats("model.dropout", 0.0, 0.5),
        choice("model.cell", *dict.fromkeys([cfg.model.cell, *cells])),
    ]
    return space


# ----------------------------------------------------------------------------- checks


def check_space(space: Sequence[Param], keys: set[str], task: str) -> None:
    """Refuse a space whose keys are not config keys of the task, or given twice."""
    seen: set[str] = set()
    for p in space:
        if not isinstance(p, Param):
            raise RnnkitError(f"the {task} search space holds {p!r}, not a Param")
        if p.key not in keys:
            raise RnnkitError(f"the {task} search space names {p.key!r}, not a config key")
        if p.key in seen:
            raise RnnkitError(f"the {task} search space names {p.key!r} twice")
        seen.add(p.key)


def clean_value(value: Any) -> Any:
    """A sampled value as a plain Python value (a float that is a whole number stays a float)."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.6g}")
    return value


__all__ = [
    "KINDS",
    "Param",
    "check_space",
    "choice",
    "clean_value",
    "floats",
    "ints",
    "stack_space",
]
