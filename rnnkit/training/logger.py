"""Logging a run: ``metrics.jsonl`` (one line per epoch, rewritten atomically),
TensorBoard scalars (``RUN_DIR/tb``) and the line printed after each epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnkit import runs


class Logger:
    """``metrics.jsonl`` (one line per epoch, rewritten atomically) and TensorBoard."""

    def __init__(self, run_dir: Path, rows: list[dict[str, Any]], tensorboard: bool) -> None:
        self.run_dir = run_dir
        self.rows = rows
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            purge = len(rows) + 1 if rows else None  # drop steps logged after the checkpoint
            self.writer = SummaryWriter(str(run_dir / runs.TENSORBOARD), purge_step=purge)

    def log(self, row: dict[str, Any]) -> None:
        """Append ``row`` (one epoch) to ``metrics.jsonl`` and TensorBoard."""
        self.rows.append(row)
        runs.write_metrics(self.run_dir, self.rows)
        if self.writer is not None:
            for key, value in row.items():
                if key != "epoch" and type(value) in (int, float):
                    self.writer.add_scalar(key.replace(".", "/"), value, row["epoch"])
            self.writer.flush()

    def close(self) -> None:
        """Close the TensorBoard writer."""
        if self.writer is not None:
            self.writer.close()


def epoch_line(row: dict[str, Any], epochs: int, monitor: str) -> str:
    """The line printed after an epoch: losses, the monitored metric, gradient norms,
    throughput and time (``row`` is the epoch's ``metrics.jsonl`` line)."""
    val = [k for k in row if k.startswith("val.")]
    shown = ["val.loss"] + [f"val.{monitor}"] if f"val.{monitor}" != "val.loss" else ["val.loss"]
    shown += [k for k in val if k not in shown][:2]
    parts = [f"epoch {row['epoch']}/{epochs}", f"train.loss {row['train.loss']:.4f}"]
    parts += [f"{k} {row[k]:.4f}" for k in shown if k in row]
    parts.append(f"grad_norm {row['grad_norm_mean']:.2f}/{row['grad_norm_max']:.2f}")
    parts.append(f"{row['sequences_per_s']:.0f} seq/s")
    parts.append(f"{row['seconds']:.1f}s")
    return "  ".join(parts)


__all__ = ["Logger", "epoch_line"]
