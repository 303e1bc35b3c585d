"""The guard every data reader passes first: only regular files, and none too big to read.

The readers of :mod:`rnnkit.data` read a file into memory whole (pandas, numpy, the
``.ts`` and IDX parsers). Before they open it, :func:`check_data_file` refuses, in one line:

- anything that is not a regular file: a character or block device (``/dev/zero`` never
  ends), a named pipe (a FIFO blocks, or streams without end), a socket;
- a file larger than the limit on data read into memory: half of this machine's RAM, or
  the ``RNNKIT_MAX_DATA_BYTES`` environment variable (a byte count such as ``8000000000``,
  or with a unit: ``500M``, ``16G``) when it is set.

The check reads nothing: it looks at ``os.stat`` only, so a refused file costs no memory.
A path that does not exist, or a folder, passes untouched: each reader names those itself.

Example:

    >>> from rnnkit.data.files import check_data_file, human_bytes
    >>> human_bytes(3 * 2**29)
    '1.5 GiB'
    >>> check_data_file("/dev/zero", "data file")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rnnkit.errors.RnnkitError: data file /dev/zero is a character device, not a regular file...
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path

from rnnkit.errors import RnnkitError

MAX_BYTES_ENV = "RNNKIT_MAX_DATA_BYTES"

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

_KINDS = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
)


def human_bytes(n: int) -> str:
    """``n`` bytes in binary units, to three significant figures: ``"1.50 GiB"``, ``"512 B"``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{size:.3g} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def machine_memory_bytes() -> int | None:
    """This machine's physical memory in bytes, or None where the OS does not say."""
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None
    return pages * page_size if pages > 0 and page_size > 0 else None


def max_data_bytes() -> tuple[int | None, str]:
    """The limit on one data file read into memory, and where it comes from.

    Returns:
        ``(limit, why)``: the limit in bytes (None: no limit known) and a phrase naming its
        source, e.g. ``"half of this machine's 15.5 GiB of RAM"``.

    Raises:
        RnnkitError: ``RNNKIT_MAX_DATA_BYTES`` is set to something that is not a size.
    """
    text = os.environ.get(MAX_BYTES_ENV, "").strip()
    if text:
        match = re.fullmatch(r"(\d+)\s*([KMGT]?)(?:i?B)?", text, flags=re.IGNORECASE)
        if match is None or int(match.group(1)) == 0:
            raise RnnkitError(
                f"{MAX_BYTES_ENV}={text!r} is not a size; expected a positive number of "
                f"bytes, optionally with a unit K, M, G or T (e.g. 8000000000 or 16G)"
            )
        limit = int(match.group(1)) * _UNITS[match.group(2).upper()]
        return limit, f"{MAX_BYTES_ENV}={text}"
    ram = machine_memory_bytes()
    if ram is None:
        return None, "no limit (the machine's memory is unknown)"
    return ram // 2, f"half of this machine's {human_bytes(ram)} of RAM"


def check_data_file(path: str | Path, what: str = "data file") -> None:
    """Refuse ``path`` before anything reads it, if it is not a regular file of a sane size.

    Args:
        path: the file a reader is about to read whole. A missing path or a folder passes
            (the reader names those in its own words).
        what: how the message names the file: ``"data file"``, ``"MNIST file"`` ...

    Raises:
        RnnkitError: ``path`` is a device, a named pipe or a socket, or is larger than
            :func:`max_data_bytes`; the one-line message names the file, its size, the
            limit and how to raise it.
    """
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return  # missing or unreadable: the reader's own message names it
    for is_kind, kind in _KINDS:
        if is_kind(st.st_mode):
            raise RnnkitError(
                f"{what} {path} is {kind}, not a regular file: rnnkit reads data only from "
                f"regular files (a device or a pipe may never end); save the data to a file"
            )
    if not stat.S_ISREG(st.st_mode):
        return  # a folder: the reader lists what it holds
    check_data_size(st.st_size, f"{what} {path} is {human_bytes(st.st_size)}")


def check_data_files(paths: Iterable[str | Path], what: str = "data file") -> None:
    """:func:`check_data_file` on each of ``paths``, and the limit on their total size.

    For readers that load a folder of files into memory (a corpus, the aclImdb reviews).
    """
    total = 0
    count = 0
    for path in paths:
        check_data_file(path, what)
        try:
            total += os.stat(path).st_size
        except OSError:
            continue
        count += 1
    check_data_size(total, f"the {count} {what}s together are {human_bytes(total)}")


def check_data_size(size: int, subject: str) -> None:
    """Refuse ``size`` bytes of data if over :func:`max_data_bytes`.

    Args:
        size: bytes about to be held in memory (a file, a folder's files, a decompressed
            stream read up to the limit plus one byte).
        subject: the start of the message, saying what has that size, e.g.
            ``"data file a.csv is 3.1 GiB"``.

    Raises:
        RnnkitError: over the limit; the message names the limit and how to raise it.
    """
    limit, why = max_data_bytes()
    if limit is None or size <= limit:
        return
    raise RnnkitError(
        f"{subject}, over the limit of {human_bytes(limit)} for data read into memory "
        f"({why}); set {MAX_BYTES_ENV} to a larger size (e.g. {MAX_BYTES_ENV}="
        f"{_suggest(size)}) if the machine has the memory, or use a smaller file"
    )


def _suggest(size: int) -> str:
    """A round size a little above ``size``: ``"3G"``, ``"700M"``."""
    for unit in ("T", "G", "M", "K"):
        step = _UNITS[unit]
        if size >= step:
            return f"{size // step + 1}{unit}"
    return str(size + 1)
