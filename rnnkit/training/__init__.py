"""Training: the loop (:func:`fit`), optimizers and schedules, seeding, truncated BPTT.

The state carrying of truncated BPTT lives in :mod:`rnnkit.models.state` (re-exported as
``rnnkit.training.tbptt``): tasks and models never import this package.
"""

from __future__ import annotations

from rnnkit.training.loop import evaluate_split, fit
from rnnkit.training.optim import Schedule, make_optimizer, make_scheduler
from rnnkit.training.seed import make_generator, seed_everything

__all__ = [
    "Schedule",
    "evaluate_split",
    "fit",
    "make_generator",
    "make_optimizer",
    "make_scheduler",
    "seed_everything",
]
