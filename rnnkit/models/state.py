"""Carrying the recurrent state across truncated-BPTT chunks.

A recurrent state is a tensor ``(num_layers * directions, B, H)`` or a tuple of them
(LSTM: ``(h, c)``), batch on dimension 1 as in ``torch.nn``. Between chunks the state is
*carried* (the next chunk starts where the last one stopped) and *detached* (the gradient
of the next chunk stops at its first step), and it is *reset* to zeros for a stream whose
document ended.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

State = torch.Tensor | tuple[torch.Tensor, ...] | None


def detach_state(state: State) -> State:
    """The state with every tensor detached from the graph (no gradient flows back)."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    return tuple(s.detach() for s in state)


def mask_state(state: State, keep: torch.Tensor) -> State:
    """Zero the state of the streams where ``keep`` ``(B,)`` bool is False.

    A ``None`` state (zeros) stays ``None``.
    """
    if state is None:
        return None

    def masked(s: torch.Tensor) -> torch.Tensor:  # (L*D, B, ...) with rows of B zeroed
        return s * keep.to(s.dtype).view(1, -1, *([1] * (s.dim() - 2)))

    if isinstance(state, torch.Tensor):
        return masked(state)
    return tuple(masked(s) for s in state)


def run_with_resets(
    step: Callable[[torch.Tensor, State], tuple[torch.Tensor, State]],
    inputs: torch.Tensor,
    state: State,
    reset: torch.Tensor | None = None,
) -> tuple[torch.Tensor, State]:
    """Run ``step`` over ``inputs`` ``(B, T, ...)``, zeroing a stream's state where it resets.

    ``step(x, state) -> (outputs (B, t, H), state)`` is a batch-first recurrent module (or
    any callable with that signature). The sequence is cut only at the steps where some
    stream resets, so a chunk without resets is one call of ``step``.

    Args:
        inputs: ``(B, T, ...)`` the chunk.
        state: the carried state (``None`` = zeros).
        reset: ``(B, T)`` bool, True where the state of that stream is zeroed before the step.

    Returns:
        ``(outputs (B, T, H), final state)``.
    """
    if reset is None or not bool(reset.any()):
        return step(inputs, state)
    cuts = torch.nonzero(reset.any(0)).flatten().tolist()
    bounds = sorted({0, *cuts, inputs.shape[1]})
    outputs = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        if a in cuts:
            state = mask_state(state, ~reset[:, a])
        out, state = step(inputs[:, a:b], state)
        outputs.append(out)
    return torch.cat(outputs, dim=1), state


class StateCarry:
    """The state carried from one TBPTT chunk to the next.

    Usage::

        carry = StateCarry()
        carry.reset()                       # at the start of each pass over a split
        for batch in batches:
            out, state = run_with_resets(model, x, carry.state, batch.extras["reset"])
            carry.update(state)             # stored detached: no graph across chunks
    """

    def __init__(self) -> None:
        self.state: State = None

    def reset(self) -> None:
        """Forget the state (the next chunk starts from zeros)."""
        self.state = None

    def update(self, state: State) -> None:
        """Keep ``state`` for the next chunk, detached from this chunk's graph."""
        self.state = detach_state(state)


__all__ = ["State", "StateCarry", "detach_state", "mask_state", "run_with_resets"]
