"""The registry of tasks: ``rnnkit train NAME`` looks NAME up here.

Each entry is ``name -> "module:Class"`` so that importing rnnkit stays cheap and a task's
optional dependencies are only needed when the task is used.
"""

from __future__ import annotations

import importlib

from rnnkit.errors import RnnkitError
from rnnkit.tasks.base import Task

TASKS: dict[str, str] = {
    "sentiment": "rnnkit.tasks.sentiment:SentimentTask",
    "forecast": "rnnkit.tasks.forecast:ForecastTask",
    "tsclass": "rnnkit.tasks.tsclass:TSClassTask",
    "charlm": "rnnkit.tasks.charlm:CharLMTask",
    "adding": "rnnkit.tasks.adding:AddingTask",
    "copy": "rnnkit.tasks.copy:CopyTask",
    "smnist": "rnnkit.tasks.smnist:SequentialMNISTTask",
}


def get_task_class(name: str) -> type[Task]:
    """The Task subclass registered as ``name``; a clear error for unknown names."""
    if name not in TASKS:
        raise RnnkitError(f"unknown task {name!r}; expected one of: {', '.join(sorted(TASKS))}")
    module_name, class_name = TASKS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


__all__ = ["TASKS", "Task", "get_task_class"]
