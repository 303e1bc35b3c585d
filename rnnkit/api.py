"""The Python API: ``rnnkit.train`` and ``rnnkit.load``.

Example::

    import rnnkit

    run = rnnkit.train("sentiment", out="runs/rt", train={"epochs": 3}, **{"model.cell": "gru"})
    print(run.report["test"])
    run = rnnkit.load("runs/rt")
    run.predict(["a gripping, beautifully acted thriller"])
    run.evaluate()                       # the test split, as in report.json
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnkit import runs
from rnnkit.config import RunConfig, nest_dotted
from rnnkit.errors import RnnkitError
from rnnkit.rundir import reading_task_files, writing
from rnnkit.tasks import get_task_class
from rnnkit.tasks.base import Task
from rnnkit.tasks.resolve import apply_task_values, config_from_dict, resolve_config


@dataclass
class Run:
    """A trained run, read back from its run directory.

    Attributes:
        run_dir: the run directory.
        config: the resolved config it was trained with.
        task: the task, restored (tokenizer, scaler ... loaded).
        model: the model with the best weights, in eval mode.
        report: ``report.json`` (None if training did not finish).
    """

    run_dir: Path
    config: RunConfig
    task: Task
    model: nn.Module
    report: dict[str, Any] | None

    def predict(self, inputs: str | list[str]) -> list[dict[str, Any]]:
        """The task's prediction for each raw input (a text for text tasks)."""
        self.task.require("predict", "predict")
        if isinstance(inputs, str):
            inputs = [inputs]
        self.model.eval()
        with torch.no_grad():
            return self.task.predict(self.model, list(inputs))

    def evaluate(self, data: str | None = None, split: str = "test") -> dict[str, float]:
        """The task's metrics on ``split`` of the run's data, or of ``data`` (a built-in name
        or a path in the same format; the saved preprocessing is kept)."""
        from rnnkit.training.loop import evaluate_split

        if data is not None:
            self.task.set_data(data)
        return evaluate_split(self.task, self.model, split)


def _as_config(config: RunConfig | dict[str, Any] | str, overrides: dict[str, Any]) -> RunConfig:
    if isinstance(config, RunConfig):
        cfg = config
    elif isinstance(config, dict):
        cfg = config_from_dict(config, origin="config dict")
    elif isinstance(config, str):
        return resolve_config(config, overrides=overrides or None)
    else:
        raise TypeError(f"config: expected a RunConfig, dict or task name, got {type(config)}")
    return apply_task_values(cfg, nest_dotted(overrides), "overrides") if overrides else cfg


def train(
    config: RunConfig | dict[str, Any] | str,
    *,
    out: str | Path | None = None,
    overwrite: bool = False,
    resume: bool = False,
    verbose: bool = True,
    **overrides: Any,
) -> Run:
    """Train a run and return it loaded.

    Args:
        config: a task name (its defaults), a nested dict with a ``task`` key, or a
            :class:`RunConfig`.
        out: the run directory (default ``runs/<task>-<timestamp>``).
        overwrite: replace an existing run directory at ``out``.
        resume: continue the run at ``out`` from its checkpoint; with a task name as
            ``config``, the run's saved config is used (then ``overrides``, e.g. more epochs).
        verbose: print one line per epoch and the test metrics.
        **overrides: config values: sections as dicts (``train={"epochs": 2}``) or dotted
            keys (``**{"train.lr": 1e-3}``), plus ``seed=``, ``device=``.

    Returns:
        The trained :class:`Run` (best weights, eval mode).
    """
    from rnnkit.training.loop import fit, resolve_device

    if resume and isinstance(config, str) and out is not None:
        saved = runs.read_config(out)
        cfg = resolve_config(config, overrides=overrides or None, base=saved)
    else:
        cfg = _as_config(config, overrides)
    resolve_device(cfg.device)  # refuse a missing GPU before creating anything
    task = get_task_class(cfg.task)(cfg)
    with writing(out, cfg.task, overwrite=overwrite, resume=resume) as run_dir:  # locked
        fit(task, run_dir, resume=resume, verbose=verbose)
    return load(run_dir, device=cfg.device)


def load(run_dir: str | Path, *, device: str | None = None) -> Run:
    """Read a run directory back: config, restored task, best weights (eval mode), report.

    Args:
        run_dir: a directory written by :func:`train` / ``rnnkit train``.
        device: where to put the model (default: CPU).
    """
    from rnnkit.training.loop import resolve_device

    run_dir = Path(run_dir)
    device = device or "cpu"
    target = resolve_device(device)
    cfg = dataclasses.replace(runs.read_config(run_dir), device=device)
    task = get_task_class(cfg.task)(cfg)
    with reading_task_files(run_dir):  # a damaged tokenizer/scaler: one line naming it
        task.restore(run_dir)
    model = task.build_model().to(target)
    if not (run_dir / runs.WEIGHTS).is_file():
        raise RnnkitError(f"{run_dir} holds no {runs.WEIGHTS}: training never finished an epoch")
    runs.load_weights(model, run_dir / runs.WEIGHTS)
    model.eval()
    return Run(run_dir, cfg, task, model, runs.read_report(run_dir))
