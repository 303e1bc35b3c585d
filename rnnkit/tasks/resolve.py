"""Resolving a run's config by task name: defaults, YAML, ``--set``, a saved config.

These functions need the task registry (a task declares its config sections and their
defaults), so they live here, above :mod:`rnnkit.config`, which holds only the dataclass
machinery and never imports a task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnkit.config import (
    ModelConfig,
    RunConfig,
    TrainConfig,
    apply_values,
    load_yaml,
    nest_dotted,
    parse_overrides,
    update_dataclass,
)
from rnnkit.errors import RnnkitError
from rnnkit.tasks import get_task_class


def default_config(task_name: str) -> RunConfig:
    """The config of ``rnnkit train TASK`` before any YAML or ``--set``: the task's
    ``DataConfig()`` and its ``model_defaults`` / ``train_defaults`` applied to the shared
    :class:`ModelConfig` / :class:`TrainConfig` defaults."""
    cls = get_task_class(task_name)
    return RunConfig(
        task=task_name,
        data=cls.DataConfig(),
        model=update_dataclass(ModelConfig(), dict(cls.model_defaults), prefix="model."),
        train=update_dataclass(TrainConfig(), dict(cls.train_defaults), prefix="train."),
    )


def config_from_dict(values: dict[str, Any], origin: str = "config") -> RunConfig:
    """A RunConfig from a nested dict that names its task (``config.yaml`` read back)."""
    task = values.get("task")
    if not isinstance(task, str):
        raise RnnkitError(f"{origin}: config key 'task' is missing or not a string")
    return apply_values(default_config(task), values, origin)


def resolve_config(
    task: str,
    config_file: str | Path | None = None,
    overrides: list[str] | dict[str, Any] | None = None,
    *,
    base: RunConfig | None = None,
) -> RunConfig:
    """The resolved config of a run, in this order: ``base`` (or :func:`default_config`),
    then the YAML ``config_file``, then ``overrides`` (``["train.lr=3e-4", ...]`` as given to
    ``--set``, or a nested dict; dotted dict keys are split)."""
    cfg = base if base is not None else default_config(task)
    if cfg.task != task:
        raise RnnkitError(f"the run directory holds a {cfg.task!r} run, not {task!r}")
    if config_file is not None:
        cfg = apply_values(cfg, load_yaml(config_file), f"config file {config_file}")
    if overrides:
        if isinstance(overrides, dict):
            overrides = nest_dotted(overrides)
        else:
            overrides = parse_overrides(list(overrides))
        cfg = apply_values(cfg, overrides, "--set")
    return cfg


__all__ = ["config_from_dict", "default_config", "resolve_config"]
