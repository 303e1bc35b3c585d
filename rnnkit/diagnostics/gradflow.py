"""Gradient flow through time: how much of the loss's gradient reaches each step.

For a recurrent stack run over ``x_1 .. x_T``, :func:`hidden_grad_norms` measures
``|| dL / dh_t ||`` for the top layer's hidden state ``h_t`` at every step ``t``: the
*total* derivative, through the read-out at step ``t`` and through every later step of the
recurrence. A fused layer hides its internal states, so the measurement runs the stack one
step at a time and adds a zero perturbation ``e_t`` to ``h_t`` (both to the step's output
and to the state handed to the next step): ``dL/de_t = dL/dh_t``. The gradients are taken
with :func:`torch.autograd.grad`, so the parameters' ``.grad`` are left untouched.

A vanishing gradient shows as ``|| dL/dh_t ||`` falling exponentially as ``t`` moves away
from the loss: the Elman RNN on the adding problem is the textbook case, the LSTM's
additive cell state the textbook cure (Hochreiter & Schmidhuber 1997).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnkit.models.state import State


def _perturb_top(state: State, e: torch.Tensor) -> State:
    """``state`` with ``e`` ``(B, H)`` added to the top layer's hidden state."""
    if isinstance(state, torch.Tensor):  # (L, B, H)
        return torch.cat([state[:-1], (state[-1] + e)[None]], dim=0)
    assert state is not None, "a recurrent state is needed to perturb"
    h, *rest = state  # LSTM (h, c): perturb h only
    top = _perturb_top(h, e)
    assert isinstance(top, torch.Tensor)
    return (top, *rest)


def hidden_grad_norms(
    recurrent: nn.Module,
    x: torch.Tensor,
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    state: State = None,
) -> torch.Tensor:
    """``(T,)`` mean over the batch of ``|| dL/dh_t ||`` for the top layer at every step.

    Args:
        recurrent: a batch-first, unidirectional stack ``recurrent(x, hx) -> (out, state)``
            whose state is ``(L, B, H)`` or a tuple of such (``torch.nn`` layout).
        x: ``(B, T, I)`` the stack's input.
        loss_fn: maps the stack output ``(B, T, H)`` to the scalar loss.
        state: the initial state (None = zeros).
    """
    if getattr(recurrent, "bidirectional", False):
        raise ValueError("hidden_grad_norms needs a unidirectional recurrent stack")
    outputs, probes = [], []
    for t in range(x.shape[1]):
        out, state = recurrent(x[:, t : t + 1], state)  # out (B, 1, H)
        e = torch.zeros(out.shape[0], out.shape[2], device=x.device, dtype=out.dtype)
        e.requires_grad_(True)
        probes.append(e)
        outputs.append(out + e[:, None])
        state = _perturb_top(state, e)
    loss = loss_fn(torch.cat(outputs, dim=1))  # (B, T, H) -> scalar
    grads = torch.autograd.grad(loss, probes, allow_unused=True)
    norms = [
        torch.zeros((), device=x.device) if g is None else g.norm(dim=-1).mean() for g in grads
    ]
    return torch.stack(norms).detach().cpu()


def plot_curves(
    curves: Mapping[str, torch.Tensor],
    path: str | Path,
    *,
    title: str = "gradient flow through time",
    panels: Mapping[str, Mapping[str, torch.Tensor]] | None = None,
) -> None:
    """Plot ``|| dL/dh_t ||`` against ``t`` on a log scale and save a PNG (atomically).

    Args:
        curves: ``{label: (T,) norms}`` drawn in one panel.
        path: the PNG to write.
        title: the figure title.
        panels: instead of ``curves``, several panels ``{panel title: {label: norms}}``
            side by side, sharing the y axis.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rnnkit.io import atomic_path

    panels = panels or {title: curves}
    fig, axes = plt.subplots(
        1, len(panels), figsize=(5.5 * len(panels), 4), sharey=True, squeeze=False
    )
    for ax, (panel_title, panel) in zip(axes[0], panels.items()):
        for label, norms in panel.items():
            values = norms.clamp_min(1e-30).numpy()
            ax.semilogy(range(1, len(values) + 1), values, label=label)
        ax.set_title(panel_title)
        ax.set_xlabel("time step t")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("|| dL / dh_t ||  (log scale)")
    if len(panels) > 1:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def decay_ratio(norms: torch.Tensor) -> float:
    """``|| dL/dh_1 || / || dL/dh_T ||``: how much of the gradient at the end reaches the start."""
    end = float(norms[-1])
    return float(norms[0]) / end if end > 0 else float("nan")


class GradFlowRecorder:
    """Records ``|| dL/dh_t ||`` once per epoch during training and plots the history.

    A task arms it at the start of each training epoch and, on the first training batch,
    calls :meth:`record` with its recurrent stack, the stack input and a loss function of
    the stack output. Each record appends a line to ``RUN_DIR/gradflow.jsonl`` and redraws
    ``RUN_DIR/gradflow.png`` (one curve per epoch, log scale). The measurement is an extra
    forward and backward pass that leaves the parameters' gradients untouched.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.history: list[torch.Tensor] = []
        self.armed = False

    def arm(self) -> None:
        """Measure on the next :meth:`record` call (the first batch of an epoch)."""
        self.armed = True

    def record(
        self,
        recurrent: nn.Module,
        x: torch.Tensor,
        loss_fn: Callable[[torch.Tensor], torch.Tensor],
        state: State = None,
    ) -> torch.Tensor:
        """Measure, save and plot; returns the ``(T,)`` norms."""
        import json

        from rnnkit.io import write_text

        self.armed = False
        norms = hidden_grad_norms(recurrent, x, loss_fn, state)
        self.history.append(norms)
        lines = [
            json.dumps({"epoch": i + 1, "grad_norm_per_step": [float(v) for v in h]})
            for i, h in enumerate(self.history)
        ]
        write_text(self.run_dir / "gradflow.jsonl", "\n".join(lines) + "\n")
        curves = {f"epoch {i + 1}": h for i, h in enumerate(self.history)}
        plot_curves(curves, self.run_dir / "gradflow.png", title="|| dL/dh_t || on the first batch")
        return norms


def compare_cells(
    cells: list[str],
    *,
    length: int = 100,
    hidden_size: int = 64,
    steps: int = 300,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Gradient flow of each cell on the adding problem, at initialisation and after training.

    For each cell: a one-layer :class:`~rnnkit.models.regressor.SequenceModel` is built with
    the same seed, ``|| dL/dh_t ||`` is measured on a fixed batch, the model is trained for
    ``steps`` Adam steps on fresh batches, and measured again.

    Returns:
        ``{cell: {"init": (T,) norms, "trained": (T,) norms, "mse": test MSE after training,
        "seconds": training time}}``.
    """
    import time

    import torch.nn.functional as F

    from rnnkit.config import ModelConfig
    from rnnkit.data.synthetic import adding_problem
    from rnnkit.models.regressor import SequenceModel

    probe_x, probe_y = adding_problem(batch_size, length, torch.Generator().manual_seed(seed + 1))
    test_x, test_y = adding_problem(500, length, torch.Generator().manual_seed(seed + 2))
    results: dict[str, dict[str, Any]] = {}
    for cell in cells:
        torch.manual_seed(seed)
        cfg = ModelConfig(cell=cell, hidden_size=hidden_size, num_layers=1)
        model = SequenceModel.from_config(cfg, input_size=2, output_size=1)

        def measure(model: SequenceModel) -> torch.Tensor:
            return hidden_grad_norms(
                model.recurrent,
                probe_x,
                lambda out: F.mse_loss(model.read_out(out)[:, 0], probe_y),
            )

        init = measure(model)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        data = torch.Generator().manual_seed(seed + 3)
        start = time.perf_counter()
        for _ in range(steps):
            x, y = adding_problem(batch_size, length, data)
            loss = F.mse_loss(model(x)[:, 0], y)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        seconds = time.perf_counter() - start
        with torch.no_grad():
            mse = float(F.mse_loss(model(test_x)[:, 0], test_y))
        results[cell] = {"init": init, "trained": measure(model), "mse": mse, "seconds": seconds}
    return results


__all__ = ["GradFlowRecorder", "compare_cells", "decay_ratio", "hidden_grad_norms", "plot_curves"]
