"""The run directory: everything a training run leaves behind, and reading it back.

Layout (every file written atomically, see :mod:`rnnkit.io`)::

    RUN_DIR/
      config.yaml         the resolved config, with format_version and rnnkit_version
      model.safetensors   the best weights (by the monitored validation metric)
      checkpoint.pt       the last epoch: model, optimizer, schedule, RNG states, counters
      metrics.jsonl       one JSON line per epoch
      report.json         test metrics, baselines, anchor, wall time, throughput, backend
      data.json           the data trained on: path, SHA-256, size, mtime (a file or folder)
      tb/                 TensorBoard scalars
      ...                 the task's artefacts (tokenizer.json, scaler.json, vocab.json)

Every command after training reads this directory and nothing else. A directory written
by a newer format, or not by rnnkit at all, is refused with a clear message.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from torch import nn

from rnnkit.config import RunConfig, to_dict
from rnnkit.errors import RnnkitError
from rnnkit.io import atomic_path, write_text
from rnnkit.tasks.resolve import config_from_dict

FORMAT_VERSION = 1  # bump when the layout changes; readers refuse newer formats

CONFIG = "config.yaml"
WEIGHTS = "model.safetensors"
CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
REPORT = "report.json"
TENSORBOARD = "tb"


def default_run_dir(task: str, root: str | Path = "runs") -> Path:
    """``runs/<task>-<YYYYmmdd-HHMMSS>`` (with ``-2``, ``-3`` ... if that exists)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(root) / f"{task}-{stamp}"
    n = 2
    while path.exists():
        path = Path(root) / f"{task}-{stamp}-{n}"
        n += 1
    return path


def is_run_dir(path: str | Path) -> bool:
    """True when ``path`` holds an rnnkit ``config.yaml`` (with a ``format_version``)."""
    config = Path(path) / CONFIG
    if not config.is_file():
        return False
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and "format_version" in data


def check_run_dir(
    out: str | Path | None,
    task: str,
    *,
    overwrite: bool = False,
    resume: bool = False,
) -> Path:
    """The run directory a training run would write, after every check; writes nothing.

    Args and checks as in :func:`create_run_dir`.
    """
    if overwrite and resume:
        raise RnnkitError("--overwrite and --resume exclude each other: pick one")
    if out is None:
        if resume:
            raise RnnkitError("--resume needs --out RUN_DIR: the run directory to continue")
        return default_run_dir(task)
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise RnnkitError(f"run directory {path} exists and is a file, not a directory")
    if resume:
        if not (path / CHECKPOINT).is_file():
            raise RnnkitError(f"cannot resume {path}: it holds no {CHECKPOINT} (nothing to resume)")
        read_config(path)  # refuse a foreign or newer run directory before training
        return path
    if path.is_dir() and not all(_is_leftover(p.name) for p in path.iterdir()):
        if not overwrite:
            raise RnnkitError(
                f"run directory {path} already exists and is not empty; pass --overwrite to "
                f"replace it, --resume to continue it, or choose another --out"
            )
        if not is_run_dir(path):
            raise RnnkitError(
                f"refusing to --overwrite {path}: it is not an rnnkit run directory (no "
                f"{CONFIG} with a format_version); remove it yourself or choose another --out"
            )
    return path


def _is_leftover(name: str) -> bool:
    """An entry a killed writer may leave in a run directory that holds nothing else: the
    lock file, a temporary file, an --overwrite's trash (see :mod:`rnnkit.rundir`)."""
    return (
        name == ".rnnkit.lock"
        or name.startswith(".rnnkit-old-")
        or (name.startswith(".") and name.endswith(".tmp"))
    )


def create_run_dir(
    out: str | Path | None,
    task: str,
    *,
    overwrite: bool = False,
    resume: bool = False,
) -> Path:
    """Make (or, with ``resume``, check) the run directory of a training run.

    ``rnnkit train`` uses :func:`rnnkit.rundir.writing` instead, which also locks the
    directory and replaces an old run only once every check of the new one has passed.

    Args:
        out: the directory; None means :func:`default_run_dir`.
        task: the task name (for the default name).
        overwrite: replace an existing run directory. Only a directory written by rnnkit
            (or an empty one) is replaced: its old contents are moved aside first and
            deleted only once the fresh directory exists.
        resume: continue the run in ``out``, which must hold a ``checkpoint.pt``.

    Returns:
        The run directory, existing and empty (or, with ``resume``, as it was).
    """
    path = check_run_dir(out, task, overwrite=overwrite, resume=resume)
    if resume:
        return path
    if path.is_dir() and any(path.iterdir()):
        _replace_dir(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _replace_dir(path: Path) -> None:
    """Move ``path`` aside, create it empty, then delete the old contents."""
    trash = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
    os.replace(path, trash / path.name)
    path.mkdir()
    shutil.rmtree(trash)


# ----------------------------------------------------------------------------- config


def write_config(run_dir: str | Path, cfg: RunConfig) -> None:
    """Save the resolved config as ``config.yaml`` with the format and rnnkit versions."""
    from rnnkit import __version__

    header = {"format_version": FORMAT_VERSION, "rnnkit_version": __version__}
    text = yaml.safe_dump({**header, **to_dict(cfg)}, sort_keys=False)
    write_text(Path(run_dir) / CONFIG, text)


def read_config(run_dir: str | Path) -> RunConfig:
    """The RunConfig saved in ``run_dir``, refusing missing, foreign and newer run dirs."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RnnkitError(f"run directory {run_dir} does not exist")
    path = run_dir / CONFIG
    if not path.is_file():
        raise RnnkitError(f"{run_dir} is not an rnnkit run directory: {CONFIG} is missing")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        detail = " ".join(str(e).split())[:200]  # yaml's messages span several lines
        raise RnnkitError(f"{path}: damaged, not a readable YAML config ({detail})") from None
    if not isinstance(data, dict) or "format_version" not in data:
        raise RnnkitError(
            f"{run_dir} is not an rnnkit run directory: {CONFIG} has no format_version"
        )
    version = data.pop("format_version")
    written_by = data.pop("rnnkit_version", "unknown")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise RnnkitError(
            f"{run_dir} was written by rnnkit {written_by} in run format {version}; this "
            f"rnnkit reads formats up to {FORMAT_VERSION}: upgrade rnnkit to read it"
        )
    try:
        return config_from_dict(data, origin=str(path))
    except RnnkitError as e:
        from rnnkit import __version__

        if _release(written_by) <= _release(__version__):
            raise
        raise RnnkitError(
            f"{e}; {run_dir} was written by rnnkit {written_by}, newer than this rnnkit "
            f"{__version__}: upgrade rnnkit to read it"
        ) from None


def _release(version: object) -> tuple[int, ...]:
    """``"0.10.2rc1"`` -> ``(0, 10, 2)``; ``()`` for anything without numbers."""
    import re

    return tuple(int(n) for n in re.findall(r"\d+", str(version))[:3])


# ----------------------------------------------------------------------------- files


def save_weights(model: nn.Module, path: str | Path, epoch: int | None = None) -> None:
    """Write ``model``'s weights to ``path`` as safetensors, atomically (tied weights ok);
    ``epoch``, the epoch they are from, goes into the file's metadata."""
    from safetensors.torch import save_model

    metadata = {"format": "pt"} | ({"epoch": str(epoch)} if epoch is not None else {})
    with atomic_path(path) as tmp:
        save_model(model, str(tmp), metadata=metadata)


def weights_epoch(path: str | Path) -> int | None:
    """The epoch whose weights the safetensors file ``path`` holds (its metadata), or None
    when unknown (no such file, a file without it, an unreadable one)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return int((f.metadata() or {})["epoch"])
    except Exception:  # noqa: BLE001 (missing, damaged or older: the readers name those)
        return None


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load safetensors weights into ``model`` (strict: every name and shape must match).

    A damaged file, or one that does not fit the model the config builds, is refused in
    one line naming the file and the tensors that differ.
    """
    from safetensors import safe_open
    from safetensors.torch import load_model

    from rnnkit.rundir import first_line, state_dict_mismatch, tied_names

    path = Path(path)
    if not path.is_file():
        raise RnnkitError(f"{path} is missing: the run has no saved weights (did training finish?)")
    try:
        with safe_open(str(path), framework="pt") as f:
            found = {k: f.get_slice(k).get_shape() for k in f.keys()}  # noqa: SIM118
    except Exception as e:  # noqa: BLE001 (safetensors raises its own error types)
        raise RnnkitError(
            f"{path}: damaged, not a readable safetensors file ({first_line(e)})"
        ) from None
    state = model.state_dict()
    mismatch = state_dict_mismatch(state, found, tied=tied_names(state))
    if mismatch:
        raise RnnkitError(
            f"{path}: the weights do not fit the model that {CONFIG} describes (was the "
            f"config edited, or the file copied from another run?): {mismatch}"
            + _config_drift(path.parent)
        )
    device = next((p.device for p in model.parameters()), "cpu")
    try:
        load_model(model, str(path), device=str(device))
    except Exception as e:  # noqa: BLE001
        raise RnnkitError(f"{path}: the weights do not fit this model ({first_line(e)})") from None


def _config_drift(run_dir: Path) -> str:
    """``"; config.yaml differs from ..."`` naming the keys of ``config.yaml`` that differ
    from the config ``report.json`` says the run was trained with ("" if none or unknown)."""
    from rnnkit.rundir import config_changes

    try:
        report = read_report(run_dir)
        saved = yaml.safe_load((run_dir / CONFIG).read_text(encoding="utf-8"))
    except (RnnkitError, OSError, ValueError, yaml.YAMLError):
        return ""
    trained = report.get("config") if report else None
    if not isinstance(trained, dict) or not isinstance(saved, dict):
        return ""
    changes = config_changes(trained, saved, labels=("trained with", f"{CONFIG} has"))
    if not changes:
        return ""
    return f"; {CONFIG} differs from the config the run was trained with: {changes}"


def read_report(run_dir: str | Path) -> dict[str, Any] | None:
    """``report.json`` of ``run_dir``, or None when training has not finished."""
    path = Path(run_dir) / REPORT
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise RnnkitError(f"{path}: damaged, not readable JSON ({e})") from None
    if not isinstance(report, dict):
        raise RnnkitError(f"{path}: damaged, expected a JSON object")
    return report


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The per-epoch lines of ``metrics.jsonl`` (empty when there are none yet).

    A last line that is not JSON (torn by a copy or a disk that filled up; rnnkit itself
    rewrites the file by rename) is left out with a note on stderr, and disappears at the
    next write; a bad line before the last is refused, naming its number.
    """
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise RnnkitError(f"{path}: damaged, not UTF-8 text") from None
    numbered = [(i, line) for i, line in enumerate(lines, 1) if line.strip()]
    rows = []
    for n, (i, line) in enumerate(numbered):
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or not isinstance(row.get("epoch"), int):
                raise ValueError("not an object with an integer epoch")
        except ValueError as e:
            if n == len(numbered) - 1:
                print(f"note: {path}: line {i} is torn ({e}); it is left out", file=sys.stderr)
                break
            raise RnnkitError(f"{path}: line {i} is damaged ({e})") from None
        rows.append(row)
    return rows


def rows_up_to(run_dir: str | Path, epoch: int) -> list[dict[str, Any]]:
    """The lines of ``metrics.jsonl`` for epochs 1..``epoch`` (a resumed run's history).

    Lines after ``epoch`` (written by a run killed before its checkpoint) are dropped;
    a history with epochs missing is refused, since it no longer matches the checkpoint.
    """
    rows = [r for r in read_metrics(run_dir) if r["epoch"] <= epoch]
    if [r["epoch"] for r in rows] != list(range(1, epoch + 1)):
        have = [r["epoch"] for r in rows]
        raise RnnkitError(
            f"{Path(run_dir) / METRICS} does not match {CHECKPOINT}: the checkpoint is at "
            f"epoch {epoch}, the file has epochs {have or 'none'}; restore the file or "
            f"start again with --overwrite"
        )
    return rows


def write_metrics(run_dir: str | Path, rows: list[dict[str, Any]]) -> None:
    """Rewrite ``metrics.jsonl`` with ``rows`` (atomically; the file is small)."""
    text = "".join(json.dumps(row) + "\n" for row in rows)
    write_text(Path(run_dir) / METRICS, text)
