"""Run-directory safety: one writer at a time, and nothing written before every check.

A command that writes a run directory (``rnnkit train``, with or without ``--resume`` or
``--overwrite``, and :func:`rnnkit.train`) does it inside :func:`writing`::

    with writing(out, task, overwrite=False, resume=False) as run_dir:
        fit(task, run_dir, resume=resume)   # fit calls setup_done(run_dir) once all
                                            # checks have passed
What that gives:

* **One writer.** :class:`RunLock` is an exclusive ``flock`` on ``RUN_DIR/.rnnkit.lock``
  holding the writer's process id, host and start time. A second writer is refused at
  once with those three; the kernel drops the lock of a process that dies (even by
  ``kill -9``), so a stale lock is taken over and named (:attr:`RunLock.taken_over`).
* **Refused means untouched.** Until :func:`setup_done`, every atomic write under the run
  directory stops short of its rename (:func:`rnnkit.io.defer_renames`): ``config.yaml``
  and the task's files (tokenizer, scaler ...) wait beside their targets under temporary
  names. A check that fails before then (the data, the checkpoint against the config)
  leaves every file as it was; ``--overwrite`` removes the old run only at that point.
* **A resume keeps the run's preprocessing.** With ``resume``, the task's files that the
  setup wrote again (tokenizer, scaler ...) must come out the same as the run's: a resume
  on other data, which would refit them under the checkpoint's weights, is refused naming
  the file and the config keys that differ (:func:`config_changes`).
* **Files that fit each other.** :func:`state_dict_mismatch` describes, in one line,
  which tensors of a weights file or checkpoint differ from what the config builds, and
  :func:`naming_config_changes` adds which config keys changed since the run was written.

Readers take no lock: every file is replaced by a rename, so they see the old version or
the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit import io
from rnnkit.errors import RnnkitError

LOCK = ".rnnkit.lock"  # the lock file (kept: deleting a lock file races with its takers)
TRASH_PREFIX = ".rnnkit-old-"  # an --overwrite moves the old files here, then deletes them


# ----------------------------------------------------------------------------- the lock


class RunLock:
    """An exclusive, non-blocking lock on a run directory (``flock`` on :data:`LOCK`).

    Args:
        run_dir: the run directory (must exist).

    Attributes:
        taken_over: the holder record a dead process left in the lock file, or None.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK
        self.fd: int | None = None
        self.taken_over: dict[str, Any] | None = None

    def acquire(self) -> RunLock:
        """Take the lock, or raise :class:`RnnkitError` naming the process that holds it."""
        import fcntl

        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise RnnkitError(
                    f"{self.run_dir} is being written by another rnnkit process "
                    f"({describe_holder(holder)}); wait for it to end or stop it, then try "
                    f"again"
                ) from None
            if _same_file(fd, self.path):
                break
            # the file was removed (a refused fresh run's directory, by its holder) between
            # our open and our lock: the lock we got is on no path; take the lock again
            os.close(fd)
        # A clean release empties the file: a record left in it is from a process that died.
        self.taken_over = _read_holder(fd) or None
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "command": " ".join([_program(), *sys.argv[1:]])[:300],
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        """Empty the lock file (the mark of a clean release) and drop the lock."""
        import fcntl

        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _program() -> str:
    """How this process was started: ``rnnkit`` for the command (``python -m rnnkit``
    too), else the script's name (``pytest``, ``train.py``)."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return "rnnkit" if name in ("__main__.py", "rnnkit") else name


def _same_file(fd: int, path: Path) -> bool:
    """Whether the open file ``fd`` is still the file at ``path``."""
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _read_holder(fd: int) -> dict[str, Any]:
    """The JSON record in the lock file ``fd`` ({} when empty or unreadable)."""
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        record = json.loads(text) if text else {}
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def describe_holder(holder: Mapping[str, Any]) -> str:
    """``"pid 123 on host, started 2026-01-01 12:00:00 UTC: rnnkit train ..."``."""
    if not holder:
        return "holder unknown"
    text = f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, "
    text += f"started {holder.get('started', '?')}"
    return text + (f": {holder['command']}" if holder.get("command") else "")


# ----------------------------------------------------------------------------- writing


@dataclass
class _Session:
    """A writer's session: the run directory, and whether setup is still deferred."""

    run_dir: Path
    overwrite: bool  # remove the old run's files at setup_done
    created: bool  # this session made the directory (removed again if refused)
    resume: bool = False  # the task's files must come out as the run has them
    # the data's digest matched the run's record: (the run's, this command's) spellings
    # of its path, by which the task's files may differ
    data_spellings: tuple[list[str], list[str]] | None = None


_SESSIONS: dict[Path, _Session] = {}


@contextmanager
def writing(
    out: str | Path | None,
    task: str,
    *,
    overwrite: bool = False,
    resume: bool = False,
) -> Iterator[Path]:
    """Open a run directory for writing: check it, lock it, defer the setup's writes.

    Args:
        out: the run directory; None means a fresh ``runs/<task>-<timestamp>``.
        task: the task name (for the default directory).
        overwrite: the run may replace an existing run directory (at :func:`setup_done`).
        resume: the run continues ``out``, which must hold a checkpoint.

    Yields:
        The run directory, locked by this process. If the block raises before
        :func:`setup_done`, the deferred writes are deleted and an existing run is left
        byte-identical (a directory this call made is removed again).
    """
    from rnnkit import runs

    path = runs.check_run_dir(out, task, overwrite=overwrite, resume=resume)
    try:
        path.mkdir(parents=True)
        created = True  # by this process (mkdir is atomic: one of two racing makers)
    except FileExistsError:
        created = False
    lock = RunLock(path)
    lock.acquire()  # refused: the directory is the holder's now, whoever made it
    if lock.taken_over:
        print(
            f"note: took over the lock of {path} left by a process that ended without "
            f"releasing it ({describe_holder(lock.taken_over)})",
            file=sys.stderr,
        )
    key = path.resolve()
    try:
        runs.check_run_dir(path, task, overwrite=overwrite, resume=resume)  # again, locked
        _SESSIONS[key] = _Session(
            path, overwrite=overwrite and not created, created=created, resume=resume
        )
        io.defer_renames(path)
        yield path
    finally:
        refused = io.is_deferring(path)
        io.discard_renames(path)
        _SESSIONS.pop(key, None)
        if refused and created:
            _remove_if_only_lock(path)  # while holding the lock: no one else takes it
        lock.release()


def setup_done(run_dir: str | Path) -> None:
    """Every check of the run has passed: move the deferred writes into place.

    With ``--overwrite``, the old run's files are moved aside and deleted first. Outside
    :func:`writing` (a direct call of ``fit``) this does nothing.
    """
    session = _SESSIONS.get(Path(run_dir).resolve())
    if session is None or not io.is_deferring(run_dir):
        return
    if session.resume:
        _check_same_artefacts(session)
    pending = {tmp.name for tmp in io.pending_renames(run_dir).values()}
    keep = pending | {LOCK}
    trash = Path(tempfile.mkdtemp(prefix=TRASH_PREFIX, dir=session.run_dir))
    for entry in session.run_dir.iterdir():
        if entry.name in keep or entry == trash:
            continue
        stale = entry.name.startswith(TRASH_PREFIX) or (
            entry.name.startswith(".") and entry.name.endswith(".tmp")
        )  # left by a session that was killed
        if session.overwrite or stale:
            os.replace(entry, trash / entry.name)
    io.commit_renames(run_dir)
    shutil.rmtree(trash, ignore_errors=True)


def _check_same_artefacts(session: _Session) -> None:
    """Refuse a resume whose setup wrote a task file (tokenizer, scaler ...) that differs
    from the run's: the checkpoint's weights were trained with the run's version."""
    from rnnkit.runs import CONFIG

    run_dir = session.run_dir
    pending = io.pending_renames(run_dir)
    for target, tmp in pending.items():
        if target.name in (CONFIG, DATA_RECORD) or not (target.is_file() and tmp.is_file()):
            continue
        if _same_content(target, tmp, session.data_spellings):
            continue
        changes = ""
        if run_dir / CONFIG in pending:
            changes = config_changes(
                _read_yaml(run_dir / CONFIG), _read_yaml(pending[run_dir / CONFIG]), only="data."
            )
        raise RnnkitError(
            f"cannot resume {run_dir}: {target.name} would change "
            f"({changes or 'the data differ from the run'}), but the checkpoint was "
            f"trained with the run's {target.name}; resume on the run's data, or train a "
            f"new run on this data"
        )


def _same_content(a: Path, b: Path, spellings: tuple[list[str], list[str]] | None = None) -> bool:
    """Equal bytes, or (JSON files) equal JSON values, where a ``"source"`` naming the data
    may differ in spelling only (:func:`same_data`); with ``spellings`` (the data's digest
    matched: the run's and this command's ways of writing its path), any value may differ
    by the data path alone."""
    if a.read_bytes() == b.read_bytes():
        return True
    try:
        old, new = json.loads(a.read_text("utf-8")), json.loads(b.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False
    if old == new:
        return True
    if spellings is not None and _without_path(old, spellings[0]) == _without_path(
        new, spellings[1]
    ):
        return True  # the data's digest matched: the path alone may differ
    if not (isinstance(old, dict) and isinstance(new, dict) and "source" in old):
        return False
    rest_old = {k: v for k, v in old.items() if k != "source"}
    rest_new = {k: v for k, v in new.items() if k != "source"}
    return rest_old == rest_new and same_data(old["source"], new.get("source"))


def same_data(old: object, new: object) -> bool:
    """Whether two spellings of a data source name the same data: equal names, the same
    file or folder (a symlink, a relative or absolute path, a hard link), or two regular
    files of identical content (a copy). Built-in names and other values compare equal
    only when equal.

    Example:

        >>> same_data("rotten_tomatoes", "rotten_tomatoes"), same_data("a.csv", 3)
        (True, False)
    """
    if old == new:
        return True
    if not (isinstance(old, str) and isinstance(new, str)):
        return False
    a, b = Path(old).expanduser(), Path(new).expanduser()
    try:
        if a.exists() and b.exists() and os.path.samefile(a, b):
            return True
        if not (a.is_file() and b.is_file()) or a.stat().st_size != b.stat().st_size:
            return False
        return _file_digest(a) == _file_digest(b)
    except OSError:
        return False


def _file_digest(path: Path, progress: _Progress | None = None) -> str:
    """SHA-256 of the file at ``path``, read 1 MiB at a time (constant memory)."""
    import hashlib

    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
            if progress is not None:
                progress.advance(len(block))
    return h.hexdigest()


# ----------------------------------------------------------------------------- data identity

DATA_RECORD = "data.json"  # what the run was trained on: path, SHA-256, size, mtime
PROGRESS_BYTES = 256 << 20  # hashing more than this says so on stderr


class _Progress:
    """Says on stderr that a large hash is under way (and, on a terminal, how far)."""

    def __init__(self, what: str, total: int) -> None:
        self.total, self.done, self.shown = total, 0, time.monotonic()
        self.tty = total > PROGRESS_BYTES and sys.stderr.isatty()
        if total > PROGRESS_BYTES:
            from rnnkit.data.files import human_bytes

            print(
                f"note: hashing {what} ({human_bytes(total)}) to record it in the run",
                file=sys.stderr,
            )

    def advance(self, n: int) -> None:
        self.done += n
        if self.tty and time.monotonic() - self.shown > 1.0:
            self.shown = time.monotonic()
            print(f"\r  {100 * self.done / max(self.total, 1):.0f}%", end="", file=sys.stderr)

    def close(self) -> None:
        if self.tty:
            print("\r  100%", file=sys.stderr)


def _walk_files(
    root: Path, patterns: Sequence[str] = ()
) -> Iterator[tuple[str, Path, os.stat_result]]:
    """(relative posix path, path, stat) of every regular file under ``root``, in a fixed
    order (sorted names, depth first); hidden names (``.*``), anything that is not a
    regular file (devices, pipes) and, with ``patterns``, files that match none of them
    (globs relative to ``root``: ``train/pos/*.txt``) are left out; a folder reached twice
    by links, once."""
    import stat as st
    from pathlib import PurePosixPath

    def wanted(rel: str) -> bool:
        parts = PurePosixPath(rel)
        return not patterns or any(
            parts.match(p) and len(parts.parts) == len(PurePosixPath(p).parts) for p in patterns
        )

    seen: set[tuple[int, int]] = set()
    for top, dirs, files in os.walk(root, followlinks=True):
        info = os.stat(top)
        if (info.st_dev, info.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((info.st_dev, info.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(f for f in files if not f.startswith(".")):
            path = Path(top) / name
            if not wanted(path.relative_to(root).as_posix()):
                continue
            try:
                info = path.stat()
            except OSError:  # a dangling link
                continue
            if st.S_ISREG(info.st_mode):
                yield path.relative_to(root).as_posix(), path, info


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


def data_identity(
    value: object, key: str = "data.name", files: Sequence[str] = ()
) -> dict[str, Any] | None:
    """What identifies the data at path ``value``: its SHA-256, size and modification time.

    A file's digest is the SHA-256 of its bytes. A folder's (e.g. ``aclImdb``) is the
    SHA-256 over its regular files in a fixed order (sorted names, depth first; hidden
    names ``.*`` left out; with ``files``, only those the task reads) of each file's
    relative path and the SHA-256 of its bytes: an identical copy of the folder has the
    same digest wherever it lies. Files are read 1 MiB at a time, so memory stays
    constant; more than 256 MiB says so on stderr.

    Args:
        value: the config's data value (``--data``): a path, a built-in name, or anything.
        key: the config key it came from, recorded with it.
        files: for a folder, globs relative to it of the files the task reads
            (:attr:`rnnkit.tasks.base.Task.data_files`); empty: every file.

    Returns:
        ``{"key", "path", "kind": "file"|"folder", "sha256", "bytes", "files",
        "modified"}``, or None when ``value`` names no regular file or folder (a built-in
        dataset, arrays handed over in memory, a device) or it cannot be read.

    Example:
        >>> data_identity("rotten_tomatoes") is None
        True
    """
    import hashlib
    import stat as st

    from rnnkit.data.builtin import BUILTIN

    if not isinstance(value, str) or not value or value in BUILTIN:
        return None
    path = Path(value).expanduser()
    try:
        info = path.stat()
        record: dict[str, Any] = {"key": key, "path": value}
        if st.S_ISREG(info.st_mode):
            progress = _Progress(str(path), info.st_size)
            digest = _file_digest(path, progress)
            progress.close()
            return record | {
                "kind": "file", "sha256": digest, "bytes": info.st_size, "files": 1,
                "modified": _utc(info.st_mtime),
            }  # fmt: skip
        if not st.S_ISDIR(info.st_mode):
            return None
        total = count = newest = 0
        for _, _, f_info in _walk_files(path, files):  # sizes first, for the progress note
            total += f_info.st_size
        progress = _Progress(f"{path}/", total)
        h = hashlib.sha256()
        total = 0
        for rel, f_path, f_info in _walk_files(path, files):
            h.update(rel.encode("utf-8", "surrogateescape") + b"\0")
            h.update(bytes.fromhex(_file_digest(f_path, progress)))
            total, count = total + f_info.st_size, count + 1
            newest = max(newest, int(f_info.st_mtime))
        progress.close()
    except OSError:
        return None
    return record | {
        "kind": "folder", "sha256": h.hexdigest(), "bytes": total, "files": count,
        "modified": _utc(newest), **({"patterns": list(files)} if files else {}),
    }  # fmt: skip


def _describe(record: Mapping[str, Any]) -> str:
    """``"SHA-256 3f2a9c1b04d2…, 1.2 MiB, modified 2026-12-03 18:00:00 UTC"``."""
    from rnnkit.data.files import human_bytes

    files = f" in {record.get('files')} files" if record.get("kind") == "folder" else ""
    return (
        f"SHA-256 {str(record.get('sha256', '?'))[:12]}..., "
        f"{human_bytes(int(record.get('bytes', 0)))}{files}, modified {record.get('modified', '?')}"
    )


def check_resume_data(run_dir: str | Path, now: Mapping[str, Any] | None) -> bool:
    """Whether the data of a resume is the data the run was trained on, by its digest.

    Compares ``now`` (:func:`data_identity` of this command's data) with the record the
    run wrote at training (:data:`DATA_RECORD`). The same digest is the same data,
    whatever its path (moved, copied, a symlink); another digest is refused in one line
    naming the file and saying that it changed since training (same path) or is not the
    run's data (another path). Within :func:`writing`, a pass lets the task's files that
    name the data path differ by that path only.

    Args:
        run_dir: the run directory being resumed.
        now: this command's data identity, or None (not a file or folder).

    Returns:
        True when the digests agree; False when there is nothing to compare: the run has
        no record (written before rnnkit recorded one, or trained on a built-in dataset)
        or ``now`` is None. Then the older checks alone apply (:func:`same_data`).

    Raises:
        RnnkitError: the digests differ, or the record is damaged.
    """
    run_dir = Path(run_dir)
    path = run_dir / DATA_RECORD
    if not path.exists():
        return False
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(recorded, dict) or not isinstance(recorded.get("sha256"), str):
            raise ValueError("no sha256")
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise RnnkitError(
            f"cannot resume {run_dir}: {path} is damaged ({first_line(e)}); it records the "
            f"data the run was trained on: restore it, or remove it to resume without "
            f"checking the data's digest"
        ) from None
    if now is None:
        return False
    if now.get("sha256") == recorded["sha256"] and now.get("kind") == recorded.get("kind"):
        session = _SESSIONS.get(run_dir.resolve())
        if session is not None:
            session.data_spellings = (_spellings(recorded.get("path")), _spellings(now["path"]))
        return True
    old, new = str(recorded.get("path")), str(now.get("path"))
    kind = "folder" if now.get("kind") == "folder" else "file"
    if same_data(old, new) or old == new:
        why = (
            f"data {kind} {new} changed since training ({_describe(now)}; at training: "
            f"{_describe(recorded)})"
        )
    else:
        why = (
            f"data {kind} {new} is not the data the run was trained on ({_describe(now)}; "
            f"the run was trained on {old}: {_describe(recorded)})"
        )
    raise RnnkitError(
        f"cannot resume {run_dir}: {why}; resume on the data the run was trained on, or "
        f"train a new run on this data"
    )


def _spellings(value: object) -> list[str]:
    """The ways a task's files may write the data path ``value`` (longest first)."""
    if not isinstance(value, str) or not value:
        return []
    path = Path(value).expanduser()
    forms = {value, str(path), str(path.absolute())}
    with suppress(OSError):
        forms.add(str(path.resolve()))
    return sorted(forms, key=len, reverse=True)


def _without_path(tree: Any, spellings: list[str]) -> Any:
    """``tree`` (JSON values) with every spelling of the data path written ``<data>``
    (inside a longer string too, for a spelling with a ``/`` or a ``.``: not a word)."""
    if isinstance(tree, str):
        for form in spellings:
            if tree == form:
                return "<data>"
            if "/" in form or "." in form:
                tree = tree.replace(form, "<data>")
        return tree
    if isinstance(tree, list):
        return [_without_path(v, spellings) for v in tree]
    if isinstance(tree, dict):
        return {k: _without_path(v, spellings) for k, v in tree.items()}
    return tree


def _read_yaml(path: Path) -> dict[str, Any]:
    """The mapping in YAML file ``path`` ({} when unreadable)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _remove_if_only_lock(path: Path) -> None:
    """Remove ``path`` if nothing but the lock file is in it (a refused fresh run)."""
    try:
        if {p.name for p in path.iterdir()} <= {LOCK}:
            (path / LOCK).unlink(missing_ok=True)
            path.rmdir()
    except OSError:
        pass


# ----------------------------------------------------------------------------- fitting


def state_dict_mismatch(
    expected: Mapping[str, Any],
    found: Mapping[str, Any],
    *,
    tied: Mapping[str, str] | None = None,
    limit: int = 3,
) -> str:
    """One line saying how the tensors ``found`` in a file differ from those ``expected``.

    Args:
        expected: name -> tensor or shape, what the config's model holds.
        found: name -> tensor or shape, what the file holds.
        tied: name -> the name it shares storage with (a file may keep only one of them).
        limit: how many names to list per kind of difference.

    Returns:
        ``""`` when every name and shape agrees; else e.g. ``"head.weight is [1, 128] in
        the file, [1, 7] by the config; missing from the file: a.b"``.
    """
    tied = tied or {}

    def shape(v: Any) -> list[int]:
        return list(getattr(v, "shape", v))

    def listed(names: list[str]) -> str:
        more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
        return ", ".join(names[:limit]) + more

    sizes = [
        f"{k} is {shape(found[k])} in the file, {shape(v)} by the config"
        for k, v in expected.items()
        if k in found and shape(found[k]) != shape(v)
    ]
    missing = [k for k in expected if k not in found and tied.get(k) not in found]
    extra = [k for k in found if k not in expected]
    parts = sizes[:limit] + ([f"(+{len(sizes) - limit} more sizes)"] if len(sizes) > limit else [])
    if missing:
        parts.append(f"missing from the file: {listed(missing)}")
    if extra:
        parts.append(f"not in the config's model: {listed(extra)}")
    return "; ".join(parts)


def tied_names(state: Mapping[str, Any]) -> dict[str, str]:
    """name -> another name of the same storage, for tensors of ``state`` that share it."""
    first: dict[tuple[int, tuple[int, ...]], str] = {}
    tied: dict[str, str] = {}
    for name, t in state.items():
        key = (t.data_ptr(), tuple(t.shape))
        if key in first:
            tied[name], tied[first[key]] = first[key], name
        else:
            first[key] = name
    return tied


# keys that never change what a file holds: left out of config_changes
_NOT_SHAPING = {
    "format_version", "rnnkit_version", "device", "train.epochs", "train.progress",
    "train.tensorboard", "train.max_minutes",
}  # fmt: skip


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"hidden_size": 8}}`` -> ``{"model.hidden_size": 8}``."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_changes(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    labels: tuple[str, str] = ("run has", "this command"),
    only: str = "",
    limit: int = 4,
    same_paths: bool = False,
) -> str:
    """One line naming the config keys whose values differ between ``old`` and ``new``.

    Args:
        old, new: configs as nested dicts (``to_dict`` of a RunConfig, a ``config.yaml``).
        labels: how the two are named in the message.
        only: list only keys starting with this (e.g. ``"data."``); "" lists any key but
            those that cannot change a file's contents (epochs, device, progress ...).
        limit: how many keys to list (``model.*`` first).
        same_paths: leave out ``data.*`` values that name the same data by another path
            (:func:`same_data`: a relative path, a symlink, a copy).

    Returns:
        ``""`` when no key differs, else e.g. ``"model.hidden_size: run has 8, this
        command 7"``.

    Example:
        >>> config_changes({"model": {"hidden_size": 8}}, {"model": {"hidden_size": 7}})
        'model.hidden_size: run has 8, this command 7'
    """
    a, b = _flatten(old), _flatten(new)
    keys = [
        k
        for k in dict.fromkeys([*a, *b])
        if a.get(k) != b.get(k)
        and k.startswith(only)
        and (only or k not in _NOT_SHAPING)
        and not (same_paths and k.startswith("data.") and same_data(a.get(k), b.get(k)))
    ]
    keys.sort(key=lambda k: not k.startswith("model."))  # stable: file order otherwise

    def show(flat: dict[str, Any], k: str) -> str:
        if k not in flat:
            return "no such key"
        return repr(flat[k]) if isinstance(flat[k], str) else str(flat[k])

    parts = [f"{k}: {labels[0]} {show(a, k)}, {labels[1]} {show(b, k)}" for k in keys[:limit]]
    more = f" (+{len(keys) - limit} more keys)" if len(keys) > limit else ""
    return "; ".join(parts) + more


@contextmanager
def naming_config_changes(run_dir: str | Path, new: Mapping[str, Any]) -> Iterator[None]:
    """Add to a :class:`RnnkitError` raised in the block (a checkpoint that does not fit)
    which config keys ``new`` changes from the run's ``config.yaml``.

    On a resume, the run's ``config.yaml`` is still the old one until :func:`setup_done`.
    """
    from rnnkit.runs import CONFIG

    try:
        yield
    except RnnkitError as e:
        changes = config_changes(_read_yaml(Path(run_dir) / CONFIG), new, same_paths=True)
        if not changes:
            raise
        raise RnnkitError(f"{e}; the config differs from the run's: {changes}") from None


def first_line(error: BaseException) -> str:
    """The first non-empty line of ``str(error)`` (torch's messages span many lines)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


# ----------------------------------------------------------------------------- outputs

# what a run directory's own files are named like: an output (a plot, a CSV, a report)
# given such a name inside a run directory would replace or shadow one of them
RUN_SUFFIXES = (".yaml", ".yml", ".json", ".jsonl", ".safetensors", ".pt", ".lock")


def run_dir_of(path: str | Path) -> Path | None:
    """The run directory that ``path`` lies in (its folder or one above), or None."""
    from rnnkit.runs import is_run_dir

    folder = Path(path).absolute().parent
    for candidate in (folder, *folder.parents):
        if is_run_dir(candidate):
            return candidate
    return None


def check_output(path: str | Path, option: str) -> Path:
    """Refuse, before any work, an output file that would damage a run directory or that
    cannot be a file.

    Args:
        path: the file a command is asked to write (``--out``, ``--plot``).
        option: how the user gave it, for the message (``"--plot"``).

    Returns:
        ``path`` as a Path.

    Raises:
        RnnkitError: ``path`` is a directory; or it lies in a run directory and is named
            like one of the run's own files (``config.yaml``, ``model.safetensors``,
            ``checkpoint.pt``, the task's ``*.json``: any ``.yaml .json .jsonl
            .safetensors .pt`` name, a hidden name, or under ``tb/``), which it would
            replace or shadow.

    Example:
        >>> check_output("forecast.csv", "--out").name
        'forecast.csv'
    """
    from rnnkit.runs import TENSORBOARD

    out = Path(path)
    if out.is_dir():
        raise RnnkitError(f"{option} {out} is a directory; expected a file name")
    run = run_dir_of(out)
    if run is None:
        return out
    inside = out.absolute().relative_to(run)
    if (
        out.suffix.lower() in RUN_SUFFIXES
        or any(part.startswith(".") for part in inside.parts)
        or inside.parts[0] == TENSORBOARD
    ):
        what = "replace one of" if out.exists() else "be written among"
        raise RnnkitError(
            f"{option} {out} would {what} the run's own files in {run} (config, weights, "
            f"checkpoint, task files: every {' '.join(RUN_SUFFIXES[:-1])} name, hidden "
            f"names and tb/); choose another name or folder"
        )
    return out


# ----------------------------------------------------------------------------- task files


@contextmanager
def reading_task_files(run_dir: str | Path) -> Iterator[None]:
    """Turn an error of a task reading its own files back (``Task.restore``: a tokenizer,
    scaler or vocabulary that is damaged) into one :class:`RnnkitError` naming the file.

    A task's own checks (:class:`RnnkitError`) pass through. Anything else (a
    ``json.JSONDecodeError`` that names no file, a ``KeyError`` of a missing field) is
    named by the first ``*.json`` file of the run that is not readable JSON, or else as
    the run's task files in general.
    """
    try:
        yield
    except RnnkitError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as e:
        run_dir = Path(run_dir)
        for path in sorted(run_dir.glob("*.json")):
            try:
                json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError, OSError) as bad:
                raise RnnkitError(
                    f"{path}: damaged, not readable JSON ({first_line(bad)}); it is one of "
                    f"the files the run's task wrote at training: restore it from a copy "
                    f"of the run, or train again"
                ) from None
        raise RnnkitError(
            f"{run_dir}: the task's files (tokenizer, scaler, vocabulary ...) do not hold "
            f"what this rnnkit expects ({type(e).__name__}: {first_line(e)}); was the run "
            f"directory edited, or written by another rnnkit version?"
        ) from None


@contextmanager
def writing_outputs(*paths: str | Path | None) -> Iterator[None]:
    """Hold the lock of every run directory that one of ``paths`` (a reader's output
    files: ``RUN/explain.html``, ``RUN/model.onnx``) lies in, for the block: a file is
    written into a run only while no other process writes it (a training ``--overwrite``
    would remove it, a second writer race it). Paths outside run directories, and None,
    take no lock.

    Raises:
        RnnkitError: another process holds the lock (named, as for a second ``train``).
    """
    runs = dict.fromkeys(r for p in paths if p is not None and (r := run_dir_of(p)) is not None)
    locks: list[RunLock] = []
    try:
        for run in runs:
            try:
                locks.append(RunLock(run).acquire())
            except RnnkitError as e:
                raise RnnkitError(
                    f"{e}; or write the output outside the run directory (--out)"
                ) from None
            except OSError as e:
                raise RnnkitError(f"cannot write into run directory {run}: {e}") from None
        yield
    finally:
        for lock in locks:
            lock.release()
