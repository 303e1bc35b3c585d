"""What a study says about itself: the table of trials (``summary.md``) and the
importance of each parameter (``importance.png``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rnnkit.tune.space import Param


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def summary_table(
    out: Path,
    task: str,
    trials: Sequence[Any],
    space: Sequence[Param],
    metric: str,
    mode: str,
    best: Any,
    importance: dict[str, float],
) -> str:
    """``summary.md``: one row per trial (state, validation metric, epochs, seconds, the
    parameters), the best marked ``*``, then the parameters' importance."""
    states: dict[str, int] = {}
    for t in trials:
        states[t.state.name.lower()] = states.get(t.state.name.lower(), 0) + 1
    lines = [
        f"# rnnkit tune {task}: {out}",
        "",
        f"{len(trials)} trials ({', '.join(f'{n} {s}' for s, n in states.items())}); "
        f"objective: val.{metric} ({mode}), the best epoch of each trial.",
        "",
    ]
    keys = [p.key for p in space]
    head = ["trial", "state", f"val.{metric}", "epochs", "seconds", *keys]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join("---" for _ in head) + "|")
    for t in trials:
        mark = " *" if best is not None and t.number == best.number else ""
        value = t.value if t.value is not None else _last_value(t)
        epochs = t.user_attrs.get("epochs")
        seconds = t.duration.total_seconds() if t.duration is not None else None
        state = t.state.name.lower()
        if "error" in t.user_attrs and state == "fail":
            state = f"fail: {str(t.user_attrs['error'])[:60]}"
        secs = f"{seconds:.1f}" if seconds is not None else "-"
        row = [f"{t.number + 1}{mark}", state, _cell(value), _cell(epochs), secs]
        row += [_cell(t.params.get(k)) for k in keys]
        lines.append("| " + " | ".join(row) + " |")
    if best is not None:
        lines += ["", f"best: trial {best.number + 1}, val.{metric} {best.value:.4f}"]
    if importance:
        lines += ["", "parameter importance (fANOVA over the complete trials):", ""]
        lines += [f"- {k}: {v:.3f}" for k, v in importance.items()]
    return "\n".join(lines) + "\n"


def _last_value(trial: Any) -> float | None:
    """A pruned trial's last reported validation metric."""
    values = trial.intermediate_values
    return values[max(values)] if values else None


def importances(study: Any) -> dict[str, float]:
    """Each parameter's share of the variation of the objective over the complete trials
    (Optuna's fANOVA), largest first; ``{}`` when they cannot be computed (too few
    trials, or every trial drew the same values)."""
    import optuna

    try:
        result = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError, ZeroDivisionError):
        return {}
    return {k: float(v) for k, v in result.items() if math.isfinite(v)}


def plot_importances(importance: dict[str, float], path: Path, title: str) -> None:
    """A horizontal bar chart of :func:`importances`, written atomically to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rnnkit.io import atomic_path

    names = list(importance)[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(names) + 1.2))
    ax.barh(names, [importance[n] for n in names], color="#4c72b0")
    ax.set_xlabel("importance (share of the objective's variance)")
    ax.set_title(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


__all__ = ["importances", "plot_importances", "summary_table"]
