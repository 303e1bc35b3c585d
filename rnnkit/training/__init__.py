"""Training: the loop (:func:`fit`), optimizers and schedules, seeding, truncated BPTT.

``rnnkit.training.tbptt`` (state carrying for truncated BPTT) is imported by the tasks
that need it; importing this package stays light.
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
