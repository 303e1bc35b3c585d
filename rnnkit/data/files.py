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

A compressed file is small on disk but not in memory, so the same limit applies to what it
decompresses to: :func:`open_data` opens a gzip, bzip2, xz or one-file zip archive (told by
its first bytes, whatever its name) as a stream that stops at the limit and is refused in
one line, and :func:`check_npz` refuses an ``.npz`` whose arrays decompress past the limit,
or whose array header declares more data than the archive holds, before numpy allocates it.
A pickled object array (Keras ``imdb.npz``) takes more memory unpickled than pickled:
:func:`check_pickled_size` bounds it by an estimate (:data:`PICKLE_EXPANSION` times its
pickled size) before unpickling, and its reader bounds the integers it holds
(:data:`ELEMENT_BYTES` each) before converting them: a small pickle whose rows all refer
to one long list would otherwise expand without bound.

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

import bz2
import gzip
import io
import lzma
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

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


# Pickled lists of integers take up to this many times their pickled size in memory once
# unpickled (a 2-3 byte opcode per integer becomes an 8-byte slot and a 28-byte int).
PICKLE_EXPANSION = 16
# Bytes that one integer of a list of token ids takes in memory (a slot and an int object).
ELEMENT_BYTES = 40


def check_pickled_size(size: int, subject: str) -> None:
    """Refuse a pickle of ``size`` bytes (lists of integers) that would unpickle past the
    limit: its estimated size in memory, ``size`` × :data:`PICKLE_EXPANSION`, is checked
    by :func:`check_data_size`.

    Args:
        size: the pickle's bytes (decompressed).
        subject: what holds it, e.g. ``"data file imdb.npz: array 'x_train'"``.
    """
    check_data_size(
        size * PICKLE_EXPANSION,
        f"{subject} is {human_bytes(size)} of pickled objects, about "
        f"{human_bytes(size * PICKLE_EXPANSION)} once unpickled",
    )


def _suggest(size: int) -> str:
    """A round size a little above ``size``: ``"3G"``, ``"700M"``."""
    for unit in ("T", "G", "M", "K"):
        step = _UNITS[unit]
        if size >= step:
            return f"{size // step + 1}{unit}"
    return str(size + 1)


# ----------------------------------------------------------------------------- compressed


def compression_of(path: str | Path) -> str | None:
    """``"gzip"``, ``"bzip2"``, ``"xz"`` or ``"zip"`` if the first bytes of ``path`` say so,
    else None (a plain file, or one that cannot be read: its reader names that)."""
    try:
        with open(path, "rb") as f:
            head = f.read(10)
    except OSError:
        return None
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if re.match(rb"BZh[1-9](1AY&SY|\x17rE8P\x90)", head):
        return "bzip2"
    return None


_DECOMPRESS_ERRORS = (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile, zlib.error)


class _Bounded(io.RawIOBase):
    """A decompressing stream that ends at ``limit`` bytes (setting ``over``) or at a
    decompression error (kept in ``error``): whoever reads it sees an early end of file,
    and :func:`open_data` replaces what they make of it by one clear message."""

    def __init__(self, stream: IO[bytes] | io.BufferedIOBase, limit: int | None) -> None:
        super().__init__()
        self._stream = stream
        self._limit = limit
        self.size = 0
        self.over = False
        self.error: Exception | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.over or self.error is not None:
            return 0
        try:
            data = self._stream.read(len(buffer))
        except _DECOMPRESS_ERRORS as e:
            self.error = e
            return 0
        self.size += len(data)
        if self._limit is not None and self.size > self._limit:
            self.over = True
            return 0
        buffer[: len(data)] = data
        return len(data)


@contextmanager
def open_data(
    path: str | Path,
    what: str = "data file",
    kinds: tuple[str, ...] = ("gzip", "bzip2", "xz", "zip"),
) -> Iterator[IO[bytes]]:
    """Open data file ``path`` for reading as bytes, decompressed if it is compressed.

    A plain file is checked by :func:`check_data_file` and opened as it is. A gzip, bzip2,
    xz or zip file (told by its first bytes; a zip must hold exactly one file) is read
    through a stream that stops once the decompressed bytes pass :func:`max_data_bytes`:
    a zip bomb or an endless stream costs at most the limit, never an out-of-memory kill.

    Args:
        path: the data file.
        what: how messages name it (``"data file"``, ``"MNIST file"``).
        kinds: the compressions this reader accepts; a file in another one is read as it is
            (its reader then names what it sees).

    Yields:
        A binary stream of the (decompressed) content.

    Raises:
        RnnkitError: the checks of :func:`check_data_file`; the content decompresses to
            more than the limit, or the compressed file is damaged (one line naming the
            file, the limit and how to raise it). Raised in place of whatever the reader
            made of the truncated stream.

    Example:

        >>> import gzip, os, tempfile
        >>> p = os.path.join(tempfile.mkdtemp(), "a.csv.gz")
        >>> with open(p, "wb") as f:
        ...     _ = f.write(gzip.compress(b"t,y\\n1,2\\n"))
        >>> with open_data(p) as f:
        ...     f.read()
        b't,y\\n1,2\\n'
    """
    check_data_file(path, what)
    kind = compression_of(path)
    if kind not in kinds:
        with open(path, "rb") as plain:
            yield plain
        return
    limit, _ = max_data_bytes()
    inner: IO[bytes] | io.BufferedIOBase
    with ExitStack() as stack:
        try:
            if kind == "zip":
                archive = stack.enter_context(zipfile.ZipFile(path))
                members = [i for i in archive.infolist() if not i.is_dir()]
                if len(members) != 1:
                    raise RnnkitError(
                        f"{what} {path} is a zip archive of {len(members)} files; expected "
                        "exactly one (the data file)"
                    )
                size = members[0].file_size
                check_data_size(size, f"{what} {path} decompresses to {human_bytes(size)}")
                inner = stack.enter_context(archive.open(members[0]))
            elif kind == "gzip":
                inner = stack.enter_context(gzip.open(path, "rb"))
            elif kind == "xz":
                inner = stack.enter_context(lzma.open(path, "rb"))
            else:
                inner = stack.enter_context(bz2.open(path, "rb"))
        except _DECOMPRESS_ERRORS as e:
            raise RnnkitError(f"{what} {path} is a damaged {kind} file ({e})") from None
        bounded = _Bounded(inner, limit)
        try:
            yield io.BufferedReader(bounded)
        except Exception:
            _refuse_if_cut(bounded, path, what, kind, limit)
            raise
        _refuse_if_cut(bounded, path, what, kind, limit)


def _refuse_if_cut(
    bounded: _Bounded, path: str | Path, what: str, kind: str, limit: int | None
) -> None:
    if bounded.error is not None:
        raise RnnkitError(f"{what} {path} is a damaged {kind} file ({bounded.error})") from None
    if bounded.over and limit is not None:
        check_data_size(limit + 1, f"{what} {path} decompresses to more than {human_bytes(limit)}")


def check_npz(path: str | Path, what: str = "data file") -> None:
    """Refuse an ``.npz`` before numpy reads it, if it would not fit the limit.

    Its members' decompressed sizes (from the zip directory, which bounds what zipfile
    returns) are added up and checked by :func:`check_data_size`; and each ``.npy``
    member's header, which numpy trusts to allocate the array before reading it, must not
    declare more data than the member holds. A path that is not a zip archive passes (the
    reader names it).

    Raises:
        RnnkitError: the checks of :func:`check_data_file`; decompressed size over the
            limit; an array header that declares more bytes than its member holds.
    """
    import numpy as np

    check_data_file(path, what)
    try:
        if not zipfile.is_zipfile(path):
            return
        with zipfile.ZipFile(path) as archive:
            members = [i for i in archive.infolist() if not i.is_dir()]
            total = sum(i.file_size for i in members)
            check_data_size(total, f"{what} {path} decompresses to {human_bytes(total)}")
            for info in members:
                if not info.filename.endswith(".npy"):
                    continue
                with archive.open(info) as f:
                    try:
                        version = np.lib.format.read_magic(f)
                        if version == (1, 0):
                            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                        else:
                            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                    except (ValueError, EOFError):
                        continue  # not an array header: numpy's reader names it
                if dtype.hasobject:
                    continue  # pickled: its size is the member's, checked above
                count = 1
                for n in shape:
                    count *= int(n)
                declared = count * dtype.itemsize
                if declared > info.file_size:
                    raise RnnkitError(
                        f"{what} {path} is damaged: array {info.filename[:-4]!r} declares "
                        f"shape {tuple(shape)} of {dtype} ({human_bytes(declared)}) but holds "
                        f"only {human_bytes(info.file_size)}"
                    )
    except (OSError, zipfile.BadZipFile, EOFError):
        return  # unreadable: the reader's own message names it
