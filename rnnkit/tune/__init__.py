"""Hyper-parameter search: ``rnnkit tune TASK`` (Optuna's TPE sampler and median pruner).

Each task declares what may be searched (:meth:`rnnkit.tasks.base.Task.search_space`, a
list of :class:`~rnnkit.tune.space.Param`); :func:`~rnnkit.tune.study.tune` runs a study
with one run directory per trial under the study directory, resumable, and ends with the
best config as YAML for ``rnnkit train --config``, a summary table, an importance plot
and the best trial's test metrics (the test split read once, after the search)::

    from rnnkit.tune import options_from, tune

    report = tune(options_from("adding", overrides=["data.length=50"]), "runs/add-tune",
                  trials=20, minutes=30)
    report["best"]["params"], report["test"]

Importing this package needs no Optuna; running a study does (``pip install 'rnnkit[tune]'``).
"""

from __future__ import annotations

from typing import Any

from rnnkit.tune.space import Param, choice, floats, ints, stack_space

# The study (and with it the training engine) loads on first use: a task declaring its
# search space imports rnnkit.tune.space, which must not pull in the loop.
_STUDY = ("PruningCallback", "StudyOptions", "evaluate_best", "options_from", "tune")


def __getattr__(name: str) -> Any:
    if name in _STUDY:
        from rnnkit.tune import study

        return getattr(study, name)
    raise AttributeError(f"module 'rnnkit.tune' has no attribute {name!r}")


__all__ = [
    "Param",
    "PruningCallback",
    "StudyOptions",
    "choice",
    "evaluate_best",
    "floats",
    "ints",
    "options_from",
    "stack_space",
    "tune",
]
