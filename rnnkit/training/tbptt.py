"""Truncated BPTT state carrying: re-exported from :mod:`rnnkit.models.state`.

The helpers live with the models (a model carries its state across chunks; the loop does
not), so tasks and models never import the training package.
"""

from __future__ import annotations

from rnnkit.models.state import State, StateCarry, detach_state, mask_state, run_with_resets

__all__ = ["State", "StateCarry", "detach_state", "mask_state", "run_with_resets"]
