"""Static (per-series) features fused into a recurrent model.

A series often comes with facts that do not change over time: a store's type, a sensor's
site, a region's population. :class:`StaticEncoder` turns them into one vector per series
(an embedding per categorical column, concatenated with the numeric columns, then a
linear layer and tanh), and :class:`StaticFusion` feeds that vector to the recurrent
stack in one of two documented ways:

``concat``
    the vector is appended to the input of every time step: ``x_t -> [x_t, s]``. Works
    with every cell, costs ``E_s`` more input features per step. The default.
``init``
    the vector sets the initial state: ``h_0 = tanh(W_h s)`` (and ``c_0 = W_c s`` for an
    LSTM), one slice per layer and direction; the inputs are unchanged. The network
    "starts" in a series-specific state; it needs a cell with torch.nn's state layout
    (``lstm``, ``gru``, ``rnn``).
"""

from __future__ import annotations

import torch
from torch import nn

FUSIONS = ("concat", "init")
_STANDARD_STATE = ("lstm", "gru", "rnn")


class StaticEncoder(nn.Module):
    """Categorical codes ``(B, Kc)`` and numeric values ``(B, Kn)`` -> ``(B, out_size)``.

    Args:
        cardinalities: categories per categorical column (code 0 is reserved for unknown,
            so column ``j`` takes codes ``0 .. cardinalities[j]``).
        num_numeric: Kn, numeric columns (already scaled).
        out_size: size of the output vector.
    """

    def __init__(self, cardinalities: list[int], num_numeric: int, out_size: int) -> None:
        super().__init__()
        if not cardinalities and num_numeric == 0:
            raise ValueError("StaticEncoder needs at least one categorical or numeric column")
        dims = [min(16, (c + 2) // 2) for c in cardinalities]
        self.embeddings = nn.ModuleList(nn.Embedding(c + 1, d) for c, d in zip(cardinalities, dims))
        self.proj = nn.Linear(sum(dims) + num_numeric, out_size)

    def forward(self, cat: torch.Tensor | None, num: torch.Tensor | None) -> torch.Tensor:
        parts: list[torch.Tensor] = []
        if len(self.embeddings):
            if cat is None:
                raise ValueError(f"StaticEncoder needs {len(self.embeddings)} categorical columns")
            parts = [emb(cat[:, j]) for j, emb in enumerate(self.embeddings)]  # (B, d_j) each
        if num is not None and num.shape[-1] > 0:
            parts.append(num)  # (B, Kn)
        return torch.tanh(self.proj(torch.cat(parts, dim=-1)))  # (B, out_size)


class StaticFusion(nn.Module):
    """Fuse static features into a recurrent stack by ``concat`` or ``init`` (module docs).

    Args:
        mode: ``"concat"`` or ``"init"``.
        cardinalities / num_numeric: the static columns (see :class:`StaticEncoder`).
        size: size of the static vector E_s.
        cell: the recurrent cell name (``init`` needs lstm, gru or rnn).
        hidden_size / num_layers / num_directions: the stack's state shape (``init``).

    Use: ``x = fusion.inputs(x, s)`` before the stack (``concat`` appends ``s``; ``init``
    returns ``x`` unchanged) and ``hx = fusion.initial_state(s)`` as its initial state
    (``None`` for ``concat``), where ``s = fusion.encode(cat, num)``.
    """

    def __init__(
        self,
        mode: str,
        cardinalities: list[int],
        num_numeric: int,
        size: int,
        *,
        cell: str = "lstm",
        hidden_size: int = 0,
        num_layers: int = 1,
        num_directions: int = 1,
    ) -> None:
        super().__init__()
        if mode not in FUSIONS:
            raise ValueError(f"static fusion must be one of {', '.join(FUSIONS)}, got {mode!r}")
        if mode == "init" and cell not in _STANDARD_STATE:
            raise ValueError(
                f"static fusion 'init' needs a cell with torch.nn's state layout "
                f"({', '.join(_STANDARD_STATE)}), got {cell!r}; use 'concat'"
            )
        self.mode = mode
        self.cell = cell
        self.encoder = StaticEncoder(cardinalities, num_numeric, size)
        self.extra_inputs = size if mode == "concat" else 0  # features added per step
        self.slots = num_layers * num_directions
        self.hidden_size = hidden_size
        if mode == "init":
            self.to_h = nn.Linear(size, self.slots * hidden_size)
            self.to_c = nn.Linear(size, self.slots * hidden_size) if cell == "lstm" else None

    def encode(self, cat: torch.Tensor | None, num: torch.Tensor | None) -> torch.Tensor:
        """The static vector ``s`` ``(B, E_s)``."""
        return self.encoder(cat, num)

    def inputs(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, T, F)`` -> ``(B, T, F + E_s)`` for concat, else ``x``."""
        if self.mode != "concat":
            return x
        return torch.cat([x, s[:, None, :].expand(-1, x.shape[1], -1)], dim=-1)

    def initial_state(self, s: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...] | None:
        """The stack's ``hx`` from ``s``: ``(L*D, B, H)`` (a pair for LSTM), or None."""
        if self.mode != "init":
            return None
        B = s.shape[0]

        def slots(t: torch.Tensor) -> torch.Tensor:
            return t.view(B, self.slots, self.hidden_size).transpose(0, 1).contiguous()

        h0 = slots(torch.tanh(self.to_h(s)))  # (L*D, B, H)
        if self.to_c is None:
            return h0
        return h0, slots(self.to_c(s))
