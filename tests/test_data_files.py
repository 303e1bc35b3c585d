"""Every data reader refuses a device, a pipe, a socket or an over-large file BEFORE reading
it, in one line that names the file, its size, the limit and how to raise it.

The readers are a table: a new reader (or format) is one row.
"""

from __future__ import annotations

import gzip
import os
import signal
import socket
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rnnkit.data.corpus import read_documents
from rnnkit.data.files import (
    MAX_BYTES_ENV,
    check_data_file,
    human_bytes,
    machine_memory_bytes,
    max_data_bytes,
)
from rnnkit.data.mnist import load_idx, load_mnist_csv
from rnnkit.data.pairs import read_pair_file, read_pronunciations
from rnnkit.data.text import load_text_dataset
from rnnkit.data.timeseries import load_series
from rnnkit.data.ucr import load_classification, read_series_csv, read_ts
from rnnkit.errors import RnnkitError

# (reader name, call with the path, the file name a bad input gets, how the message names it)
READERS: list[tuple[str, Callable[[Path], Any], str, str]] = [
    ("text csv", lambda p: load_text_dataset(str(p)), "reviews.csv", "data file"),
    ("text jsonl", lambda p: load_text_dataset(str(p)), "reviews.jsonl", "data file"),
    ("text no suffix", lambda p: load_text_dataset(str(p)), "reviews", "data file"),
    ("timeseries csv", lambda p: load_series(p), "series.csv", "data file"),
    ("ucr .ts", read_ts, "X_TRAIN.ts", "data file"),
    ("ucr load", lambda p: load_classification(str(p)), "X_TRAIN.ts", "data file"),
    ("series csv", read_series_csv, "series.csv", "data file"),
    ("corpus file", read_documents, "corpus.txt", "corpus file"),
    ("mnist idx", load_idx, "train-images-idx3-ubyte", "MNIST file"),
    ("mnist csv", load_mnist_csv, "mnist.csv", "MNIST file"),
    ("pair file", read_pair_file, "pairs.tsv", "pair file"),
    ("pronunciations", read_pronunciations, "cmudict.dict", "pair file"),
]
IDS = [r[0] for r in READERS]


@pytest.fixture
def no_hang() -> Iterator[None]:
    """Fail (instead of hanging) if a reader opens a FIFO that has no writer."""

    def fail(*_: object) -> None:
        raise AssertionError("the reader opened the FIFO instead of refusing it")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize(("name", "read", "filename", "what"), READERS, ids=IDS)
def test_a_fifo_is_refused_without_being_opened(tmp_path, no_hang, name, read, filename, what):
    fifo = tmp_path / filename
    os.mkfifo(fifo)
    with pytest.raises(RnnkitError) as e:
        read(fifo)
    message = str(e.value)
    assert f"{what} {fifo} is a named pipe (FIFO), not a regular file" in message
    assert "\n" not in message


@pytest.mark.parametrize(("name", "read", "filename", "what"), READERS, ids=IDS)
def test_dev_zero_is_refused(name, read, filename, what):
    with pytest.raises(RnnkitError, match=rf"^{what} /dev/zero is a character device, not a"):
        read(Path("/dev/zero"))


@pytest.mark.parametrize(("name", "read", "filename", "what"), READERS, ids=IDS)
def test_a_file_over_the_limit_is_refused_naming_size_limit_and_the_variable(
    tmp_path, monkeypatch, name, read, filename, what
):
    path = tmp_path / filename
    path.write_bytes(b"x" * 3000)
    monkeypatch.setenv(MAX_BYTES_ENV, "2K")
    with pytest.raises(RnnkitError) as e:
        read(path)
    message = str(e.value)
    assert message.startswith(f"{what} {path} is 2.93 KiB, over the limit of 2 KiB"), message
    assert f"({MAX_BYTES_ENV}=2K); set {MAX_BYTES_ENV} to a larger size" in message
    assert "\n" not in message


def test_a_socket_is_refused(tmp_path):
    path = tmp_path / "s.csv"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        with pytest.raises(RnnkitError, match="is a socket, not a regular file"):
            load_series(path)


def test_a_file_under_the_limit_passes_and_missing_paths_are_left_to_the_reader(
    tmp_path, monkeypatch
):
    path = tmp_path / "a.csv"
    path.write_bytes(b"x" * 2048)
    monkeypatch.setenv(MAX_BYTES_ENV, "2048")
    check_data_file(path)  # exactly at the limit
    check_data_file(tmp_path)  # a folder
    check_data_file(tmp_path / "none.csv")  # missing
    with pytest.raises(RnnkitError, match="none.csv does not exist"):
        load_series(tmp_path / "none.csv")


def test_a_corpus_folder_is_limited_by_its_total_size(tmp_path, monkeypatch):
    for i in range(3):
        (tmp_path / f"doc{i}.txt").write_text("a" * 600, encoding="utf-8")
    monkeypatch.setenv(MAX_BYTES_ENV, "1K")
    with pytest.raises(RnnkitError, match=r"^the 3 text files together are 1.76 KiB, over the"):
        read_documents(tmp_path)
    monkeypatch.setenv(MAX_BYTES_ENV, "2K")
    assert len(read_documents(tmp_path)) == 3


def test_a_gzip_that_decompresses_past_the_limit_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(b"\0" * 100_000))  # ~100 bytes on disk
    monkeypatch.setenv(MAX_BYTES_ENV, "10K")
    with pytest.raises(RnnkitError, match=r"decompresses to more than 10 KiB, over the limit"):
        load_idx(path)


def test_the_default_limit_is_half_the_ram(monkeypatch):
    monkeypatch.delenv(MAX_BYTES_ENV, raising=False)
    ram = machine_memory_bytes()
    assert ram is not None and ram > 2**26
    limit, why = max_data_bytes()
    assert limit == ram // 2
    assert why == f"half of this machine's {human_bytes(ram)} of RAM"


@pytest.mark.parametrize(
    ("text", "limit"), [("123", 123), ("16G", 16 << 30), ("500 MiB", 500 << 20), ("2kb", 2048)]
)
def test_the_variable_takes_sizes_with_units(monkeypatch, text, limit):
    monkeypatch.setenv(MAX_BYTES_ENV, text)
    assert max_data_bytes()[0] == limit


@pytest.mark.parametrize("text", ["abc", "0", "-5", "1.5G", "3X"])
def test_a_bad_variable_is_named(tmp_path, monkeypatch, text):
    path = tmp_path / "a.csv"
    path.write_text("t,y\n1,2\n", encoding="utf-8")
    monkeypatch.setenv(MAX_BYTES_ENV, text)
    with pytest.raises(RnnkitError, match=rf"^{MAX_BYTES_ENV}='{text}' is not a size"):
        check_data_file(path)


def test_human_bytes():
    assert [human_bytes(n) for n in (0, 1023, 1024, 1536, 3 << 30, 5 << 40)] == [
        "0 B", "1023 B", "1 KiB", "1.5 KiB", "3 GiB", "5 TiB",
    ]  # fmt: skip


def test_the_cli_refuses_dev_zero_in_one_line_and_leaves_no_run(tmp_path, capsys):
    from rnnkit.tools.cli import main

    out = tmp_path / "run"
    code = main(["train", "forecast", "--data", "/dev/zero", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip() == (
        "error: data file /dev/zero is a character device, not a regular file: rnnkit reads "
        "data only from regular files (a device or a pipe may never end); save the data to "
        "a file"
    )
    assert not out.exists()


# ----------------------------------------------------------------------------- compressed

_CSV = b"text,label\n" + b"".join(
    b"film %d,%s\n" % (i, b"pos" if i % 2 else b"neg") for i in range(10_000)
)  # 145 KiB


def _compress(kind: str, data: bytes, path: Path) -> None:
    import bz2
    import lzma
    import zipfile

    if kind == "zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("reviews.csv", data)
        return
    pack = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[kind]
    path.write_bytes(pack(data))


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zip"])
def test_a_compressed_csv_is_limited_by_what_it_decompresses_to(tmp_path, monkeypatch, kind):
    path = tmp_path / f"reviews.csv.{kind}"
    _compress(kind, _CSV, path)
    assert path.stat().st_size < 50_000  # under the limit on disk: the size check passes it
    monkeypatch.setenv(MAX_BYTES_ENV, "50K")
    with pytest.raises(RnnkitError) as e:
        load_text_dataset(str(path))
    message = str(e.value)
    assert "\n" not in message
    if kind == "zip":  # the zip directory says the size: refused before reading
        assert message.startswith(f"data file {path} decompresses to 136 KiB, over the limit")
    else:
        assert message.startswith(
            f"data file {path} decompresses to more than 50 KiB, over the limit of 50 KiB"
        ), message
    assert f"({MAX_BYTES_ENV}=50K); set {MAX_BYTES_ENV} to a larger size" in message
    monkeypatch.setenv(MAX_BYTES_ENV, "1M")  # under the limit: read whole, as before
    ds = load_text_dataset(str(path))
    assert ds.label_names == ["neg", "pos"]
    assert len(ds.train.texts) + len(ds.val.texts) + len(ds.test.texts) == 10_000


def test_a_damaged_compressed_csv_is_named_in_one_line(tmp_path):
    path = tmp_path / "reviews.csv.gz"
    path.write_bytes(gzip.compress(_CSV)[:-200])  # cut short
    with pytest.raises(RnnkitError, match=rf"^data file {path} is a damaged gzip file \("):
        load_text_dataset(str(path))


def test_a_gzipped_file_is_told_by_its_bytes_not_its_name(tmp_path):
    from rnnkit.data.files import compression_of, open_data

    path = tmp_path / "plain-name.csv"
    path.write_bytes(gzip.compress(b"t,y\n1,2\n"))
    assert compression_of(path) == "gzip"
    with open_data(path) as f:
        assert f.read() == b"t,y\n1,2\n"
    (tmp_path / "p.csv").write_bytes(b"BZh,x\n1,2\n")  # starts like bzip2, is not
    assert compression_of(tmp_path / "p.csv") is None


def _npz_with_header(path: Path, shape: tuple[int, ...]) -> None:
    """An .npz whose ``x`` header declares ``shape`` float64 but holds 80 bytes."""
    import zipfile

    import numpy as np

    buf = np.lib.format.header_data_from_array_1_0(np.zeros(1))
    buf["shape"] = shape
    import io

    f = io.BytesIO()
    np.lib.format.write_array_header_1_0(f, buf)
    f.write(b"\0" * 80)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", f.getvalue())
        z.writestr("y.npy", f.getvalue())


def _load_array_npz(path: Path) -> object:
    from rnnkit.data.arrays import load_npz

    return load_npz(path)


def _load_keras_npz(path: Path) -> object:
    return load_text_dataset(str(path))


NPZ_READERS = [("arrays", _load_array_npz), ("keras imdb", _load_keras_npz)]


@pytest.mark.parametrize(("name", "read"), NPZ_READERS, ids=[r[0] for r in NPZ_READERS])
def test_an_npz_that_decompresses_past_the_limit_is_refused(tmp_path, monkeypatch, name, read):
    import numpy as np

    path = tmp_path / "data.npz"
    zeros = np.zeros(200_000)  # 1.5 MiB of float64, a few KiB compressed
    np.savez_compressed(path, x=zeros, y=zeros, x_train=zeros, y_train=zeros)
    assert path.stat().st_size < 50_000
    monkeypatch.setenv(MAX_BYTES_ENV, "1M")
    with pytest.raises(RnnkitError) as e:
        read(path)
    assert str(e.value).startswith(
        f"data file {path} decompresses to 6.1 MiB, over the limit of 1 MiB"
    ), str(e.value)


@pytest.mark.parametrize(("name", "read"), NPZ_READERS, ids=[r[0] for r in NPZ_READERS])
def test_an_npz_header_declaring_a_huge_array_is_refused_before_allocating(tmp_path, name, read):
    path = tmp_path / "data.npz"
    _npz_with_header(path, (10**12, 1000))  # 7,276 TiB declared: numpy would allocate it
    with pytest.raises(RnnkitError) as e:
        read(path)
    message = str(e.value)
    assert message.startswith(
        f"data file {path} is damaged: array 'x' declares shape (1000000000000, 1000) of "
        "float64 (7.28e+03 TiB) but holds only"
    ), message
    assert "\n" not in message


def _imdb_npz(path: Path, x_train: Any, rows: int = 20) -> None:
    """A Keras-style imdb.npz with object arrays (lists of word ranks) and ``x_train``."""
    import numpy as np

    def objects(lists: list[Any]) -> Any:
        out = np.empty(len(lists), dtype=object)
        for i, x in enumerate(lists):
            out[i] = x
        return out

    labels = np.arange(rows) % 2
    x_test = objects([[5 + i % 7, 300 + i] for i in range(rows)])
    np.savez_compressed(path, x_train=x_train, y_train=labels, x_test=x_test, y_test=labels)


def test_imdb_npz_rows_that_share_one_long_list_are_bounded_in_memory(tmp_path, monkeypatch):
    """A pickle that refers to one list from every row is small in the archive and small
    unpickled, but expands when each row is copied out: its token ids are counted and
    bounded first."""
    import numpy as np

    path = tmp_path / "imdb.npz"
    shared = list(range(1000, 101_000))  # 100,000 ids, pickled once
    x_train = np.empty(1000, dtype=object)
    for i in range(1000):
        x_train[i] = shared  # 10**8 ids once copied out: ~4 GB
    _imdb_npz(path, x_train, rows=1000)
    assert path.stat().st_size < 1_000_000
    monkeypatch.setenv(MAX_BYTES_ENV, "64M")
    with pytest.raises(RnnkitError) as e:
        load_text_dataset(str(path))
    assert str(e.value).startswith(
        f"data file {path}: x_train and x_test hold 100,002,000 token ids, about 3.73 GiB in "
        "memory, over the limit of 64 MiB"
    ), str(e.value)
    assert "\n" not in str(e.value)


def test_imdb_npz_pickled_arrays_are_bounded_by_their_size_unpickled(tmp_path, monkeypatch):
    """The pickle fits the limit in the archive (decompressed), but not once unpickled."""
    import numpy as np

    path = tmp_path / "imdb.npz"
    x_train = np.empty(20, dtype=object)
    for i in range(20):
        x_train[i] = list(range(300, 20_300))  # 20,000 ints of 3 pickled bytes per row
    _imdb_npz(path, x_train)
    with zipfile.ZipFile(path) as z:
        pickled = z.getinfo("x_train.npy").file_size
    assert 1_000_000 < pickled < 1 << 21  # ~1.2 MB: under a 2 MiB limit, 16 times not
    monkeypatch.setenv(MAX_BYTES_ENV, "2M")
    with pytest.raises(RnnkitError) as e:
        load_text_dataset(str(path))
    assert str(e.value).startswith(
        f"data file {path}: array 'x_train' is {human_bytes(pickled)} of pickled objects, "
        f"about {human_bytes(16 * pickled)} once unpickled, over the limit of 2 MiB"
    ), str(e.value)
    monkeypatch.setenv(MAX_BYTES_ENV, "64M")  # within the limit: read as before
    ds = load_text_dataset(str(path))
    assert len(ds.train.token_ids or []) + len(ds.val.token_ids or []) == 20


def test_a_npy_named_npz_is_refused_in_one_line(tmp_path):
    import numpy as np

    path = tmp_path / "data.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(RnnkitError, match=r"not a readable \.npz file \(not a zip archive\)"):
        _load_array_npz(path)
