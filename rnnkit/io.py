"""Atomic file writes: a file is written to a temporary name beside it, then renamed.

A run killed in the middle of a write never leaves a half-written file behind, and the
previous version of the file stays readable until the new one is complete.

Renames can also be *deferred* for everything under one directory
(:func:`defer_renames`): the files are written to their temporary names as usual, but
only :func:`commit_renames` moves them into place, and :func:`discard_renames` deletes
them. ``rnnkit train`` writes the setup of a run this way, so a command refused by a
late check (data, checkpoint) leaves the run directory as it was.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    Example::

        with atomic_path("run/model.safetensors") as tmp:
            safetensors.torch.save_file(tensors, tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = _deferring_root(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    kept = False  # the temporary file waits for commit_renames
    try:
        yield tmp
        # mkstemp makes the file private (0600); give it the permissions a plain open() would.
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_umask())
        if root is not None:  # keep the temporary file until commit_renames(root)
            target = path.resolve()
            old = _DEFERRED[root].get(target)  # written twice: the last version wins, in
            if old is not None and old.exists():  # the place of the first (config.yaml,
                old.unlink()  # written first, goes in first and marks a run directory)
            _DEFERRED[root][target] = tmp.resolve()
            kept = True
        else:
            os.replace(tmp, path)
    finally:
        if not kept and tmp.exists():
            tmp.unlink()


def _umask() -> int:
    """The process umask (reading it means setting it, so set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and rename the result onto ``path``."""
    with atomic_path(path) as tmp:
        writer(tmp)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    write_atomic(path, write)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


# ----------------------------------------------------------------------------- deferred


_DEFERRED: dict[Path, dict[Path, Path]] = {}  # root -> {target: its temporary file}


def _deferring_root(path: Path) -> Path | None:
    """The directory of :func:`defer_renames` that ``path`` lies in, if any."""
    if not _DEFERRED:
        return None
    resolved = path.resolve()
    for root in _DEFERRED:
        if resolved.is_relative_to(root):
            return root
    return None


def defer_renames(root: str | os.PathLike[str]) -> None:
    """From now on, atomic writes under ``root`` stop short of their final rename."""
    _DEFERRED.setdefault(Path(root).resolve(), {})


def is_deferring(root: str | os.PathLike[str]) -> bool:
    """True between :func:`defer_renames` and :func:`commit_renames` / :func:`discard_renames`."""
    return Path(root).resolve() in _DEFERRED


def pending_renames(root: str | os.PathLike[str]) -> dict[Path, Path]:
    """``{target: temporary file}`` of the writes under ``root`` waiting for the commit."""
    return dict(_DEFERRED.get(Path(root).resolve(), {}))


def commit_renames(root: str | os.PathLike[str]) -> list[Path]:
    """Rename every deferred write under ``root`` into place (in the order written) and
    stop deferring; returns the files written."""
    pending = _DEFERRED.pop(Path(root).resolve(), {})
    for target, tmp in pending.items():
        os.replace(tmp, target)
    return list(pending)


def discard_renames(root: str | os.PathLike[str]) -> None:
    """Delete the temporary files of the deferred writes under ``root``; stop deferring."""
    for tmp in _DEFERRED.pop(Path(root).resolve(), {}).values():
        if tmp.exists():
            tmp.unlink()
