"""The registry of tasks: ``rnnkit train NAME`` looks NAME up here.

Each entry is ``name -> "module:Class"`` so that importing rnnkit stays cheap and a task's
optional dependencies are only needed when the task is used. A task declares what it can
do (``Task.capabilities``); :func:`tasks_with` lists the tasks that can do one thing.
"""

from __future__ import annotations

import importlib

from rnnkit.errors import RnnkitError
from rnnkit.tasks.base import CAPABILITIES, Task

TASKS: dict[str, str] = {
    "sentiment": "rnnkit.tasks.sentiment:SentimentTask",
    "forecast": "rnnkit.tasks.forecast:ForecastTask",
    "tsclass": "rnnkit.tasks.tsclass:TSClassTask",
    "charlm": "rnnkit.tasks.charlm:CharLMTask",
    "adding": "rnnkit.tasks.adding:AddingTask",
    "copy": "rnnkit.tasks.copy:CopyTask",
    "selective_copy": "rnnkit.tasks.selective_copy:SelectiveCopyTask",
    "smnist": "rnnkit.tasks.smnist:SequentialMNISTTask",
    "g2p": "rnnkit.tasks.g2p:G2PTask",
    "array_classification": "rnnkit.tasks.arrays:ArrayClassificationTask",
    "array_regression": "rnnkit.tasks.arrays:ArrayRegressionTask",
    "array_text": "rnnkit.tasks.arrays:ArrayTextTask",
    "array_forecast": "rnnkit.tasks.arrays_forecast:ArrayForecastTask",
    "translate": "rnnkit.tasks.translate:TranslateTask",
    "speech": "rnnkit.tasks.speech:SpeechTask",
}


def get_task_class(name: str) -> type[Task]:
    """The Task subclass registered as ``name``; a clear error for unknown names."""
    if name not in TASKS:
        raise RnnkitError(f"unknown task {name!r}; expected one of: {', '.join(sorted(TASKS))}")
    module_name, class_name = TASKS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def tasks_with(capability: str) -> list[str]:
    """The registered task names that support ``capability`` (sorted); importing each
    task's module, so call it for messages and listings, not on a hot path."""
    return sorted(name for name in TASKS if get_task_class(name).supports(capability))


__all__ = ["CAPABILITIES", "TASKS", "Task", "get_task_class", "tasks_with"]
