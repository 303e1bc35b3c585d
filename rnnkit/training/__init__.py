"""Training: the engine (:func:`fit`), callbacks, optimizers and schedules, seeding.

``fit(task, run_dir, *, resume=False, verbose=True, callbacks=())`` is the one public
entry of the engine; it is split into :mod:`~rnnkit.training.loop` (the epochs),
:mod:`~rnnkit.training.checkpoint`, :mod:`~rnnkit.training.logger`,
:mod:`~rnnkit.training.report` and :mod:`~rnnkit.training.callbacks`.

The state carrying of truncated BPTT lives in :mod:`rnnkit.models.state` (re-exported as
``rnnkit.training.tbptt``): tasks and models never import this package.
"""

from __future__ import annotations

from rnnkit.training.callbacks import Callback
from rnnkit.training.loop import Session, evaluate_split, fit
from rnnkit.training.optim import Schedule, make_optimizer, make_scheduler
from rnnkit.training.seed import make_generator, seed_everything

__all__ = [
    "Callback",
    "Schedule",
    "Session",
    "evaluate_split",
    "fit",
    "make_generator",
    "make_optimizer",
    "make_scheduler",
    "seed_everything",
]
