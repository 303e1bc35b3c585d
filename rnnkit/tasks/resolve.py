"""Resolving a run's config by task name: defaults, YAML, ``--set``, a saved config.

These functions need the task registry (a task declares its config sections and their
defaults), so they live here, above :mod:`rnnkit.config`, which holds only the dataclass
machinery and never imports a task.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
from pathlib import Path
from typing import Any

from rnnkit.config import (
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
from rnnkit.tasks.base import Task

# Keys every task's model section had while one ModelConfig served all heads; a task whose
# model config lacks one (charlm has no pooling) still reads configs that set it.
RETIRED_MODEL_KEYS = ("embedding_dim", "pooling", "head_dropout")


def default_config(task_name: str) -> RunConfig:
    """The config of ``rnnkit train TASK`` before any YAML or ``--set``: the task's
    ``DataConfig()`` and ``ModelConfig()`` with its ``model_defaults``, and the shared
    :class:`~rnnkit.config.TrainConfig` with its ``train_defaults``."""
    cls = get_task_class(task_name)
    return RunConfig(
        task=task_name,
        data=cls.DataConfig(),
        model=update_dataclass(cls.ModelConfig(), dict(cls.model_defaults), prefix="model."),
        train=update_dataclass(TrainConfig(), dict(cls.train_defaults), prefix="train."),
    )


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


def upgrade_keys(
    task: type[Task], values: dict[str, Any], origin: str = "", *, quiet: bool = False
) -> dict[str, Any]:
    """``values`` (a nested dict) with the task's old key names moved to the new ones.

    Each renamed key (``Task.renamed_keys``, e.g. ``data.output`` -> ``model.output``) is
    moved, with a one-line note on stderr naming the new key; setting both names is an
    error. A retired shared model key the task's model config lacks (``model.pooling``
    for charlm) is dropped, with a note unless ``quiet`` (a saved run's config).
    """
    values = copy.deepcopy(values)
    where = f" ({origin})" if origin else ""
    for old, new in task.renamed_keys.items():
        old_section, old_key = old.split(".")
        section = values.get(old_section)
        if not isinstance(section, dict) or old_key not in section:
            continue
        value = section.pop(old_key)
        new_section, new_key = new.split(".")
        target = values.setdefault(new_section, {})
        if not isinstance(target, dict):
            raise RnnkitError(f"config section '{new_section}'{where} must be a mapping")
        if new_key in target:
            raise RnnkitError(
                f"config keys '{old}' and '{new}' are both set{where}; '{old}' is the old "
                f"name of '{new}': keep only '{new}'"
            )
        target[new_key] = value
        _note(f"config key '{old}' is now '{new}'{where}")
    model = values.get("model")
    if isinstance(model, dict):
        fields = {f.name for f in dataclasses.fields(task.ModelConfig)}
        for key in RETIRED_MODEL_KEYS:
            if key in model and key not in fields:
                model.pop(key)
                if not quiet:
                    _note(f"config key 'model.{key}' does not apply to {task.name} runs{where}")
    return values


def apply_task_values(cfg: RunConfig, values: dict[str, Any], origin: str = "") -> RunConfig:
    """:func:`rnnkit.config.apply_values` after :func:`upgrade_keys` for ``cfg``'s task."""
    values = upgrade_keys(get_task_class(cfg.task), values, origin)
    return apply_values(cfg, values, origin)


def config_from_dict(values: dict[str, Any], origin: str = "config") -> RunConfig:
    """A RunConfig from a nested dict that names its task (``config.yaml`` read back).
    Old key names are read (see :func:`upgrade_keys`)."""
    task = values.get("task")
    if not isinstance(task, str):
        raise RnnkitError(f"{origin}: config key 'task' is missing or not a string")
    cfg = default_config(task)
    values = upgrade_keys(get_task_class(task), values, origin, quiet=True)
    return apply_values(cfg, values, origin)


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
        cfg = apply_task_values(cfg, load_yaml(config_file), f"config file {config_file}")
    if overrides:
        if isinstance(overrides, dict):
            overrides = nest_dotted(overrides)
        else:
            overrides = parse_overrides(list(overrides))
        cfg = apply_task_values(cfg, overrides, "--set")
    return cfg


__all__ = [
    "apply_task_values",
    "config_from_dict",
    "default_config",
    "resolve_config",
    "upgrade_keys",
]
