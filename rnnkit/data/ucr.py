"""Time-series classification data: the UCR/UEA ``.ts`` format and CSV one-row-per-series.

The ``.ts`` format (sktime/aeon, timeseriesclassification.com)::

    # comment lines
    @problemName GunPoint
    @timeStamps false
    @missing false
    @univariate true          (false for multivariate, with @dimensions D)
    @equalLength true         (false: series of different lengths)
    @seriesLength 150
    @classLabel true 1 2      (the class labels, space separated)
    @data
    v1,v2,...,vT:label                    univariate
    d1v1,...,d1vT:d2v1,...,d2vT:label     multivariate: one colon-separated field per channel

``?`` is a missing value; trailing missing values shorten the series (variable length).
Time-stamped data (``@timeStamps true``) is not supported and is refused clearly.

Built-in archives (GunPoint, ItalyPowerDemand, ArrowHead, BasicMotions, JapaneseVowels)
are read from the ``_TRAIN.ts`` and ``_TEST.ts`` files bundled in sktime or aeon; we
parse the files ourselves and do not import their loaders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rnnkit.data.files import check_data_file
from rnnkit.errors import RnnkitError

UCR_BUILTINS = ("GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions", "JapaneseVowels")


@dataclass
class LabelledSeries:
    """A set of labelled series of possibly different lengths.

    ``series[i]`` has shape ``(T_i, D)`` (float64); ``labels[i]`` is its class name.
    """

    series: list[np.ndarray]
    labels: list[str]
    classes: list[str] = field(default_factory=list)  # declared class labels, file order
    name: str = ""
    static_cat: dict[str, list[str]] = field(default_factory=dict)  # column -> (N,) values
    static_num: dict[str, np.ndarray] = field(default_factory=dict)  # column -> (N,) float64

    @property
    def channels(self) -> int:
        return int(self.series[0].shape[1]) if self.series else 0

    @property
    def lengths(self) -> np.ndarray:
        """``(N,)`` int64 series lengths."""
        return np.asarray([len(s) for s in self.series], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.series)


_BOOL_KEYS = ("timestamps", "missing", "univariate", "equallength")


def _bool(path: Path, lineno: int, key: str, value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise RnnkitError(f"{path} line {lineno}: @{key} expects true or false, got {value!r}")
    return value.lower() == "true"


def parse_values(text: str, path: Path | str, lineno: int, channel: int) -> np.ndarray:
    """One channel's comma-separated values -> ``(T,)`` float64, trailing '?' removed.

    A bad value is refused naming ``path``, ``lineno``, the channel (0-based ``channel``,
    printed 1-based) and the step. Also reads a series given as text (``rnnkit predict``).
    """
    parts = [p.strip() for p in text.split(",")]
    while parts and parts[-1] in ("?", "", "NaN", "nan"):
        parts.pop()
    try:  # fast path: numpy parses the whole channel at once
        out = np.asarray(parts, dtype=np.float64)
        if not np.isnan(out).any():
            return out
    except ValueError:
        pass
    # slow path, only to name the first bad value
    out = np.empty(len(parts))
    for k, p in enumerate(parts):
        if p in ("?", "NaN", "nan"):
            raise RnnkitError(
                f"{path} line {lineno}, channel {channel + 1}, step {k + 1}: missing value "
                "inside a series (only trailing '?' padding is allowed)"
            )
        try:
            out[k] = float(p)
        except ValueError:
            raise RnnkitError(
                f"{path} line {lineno}, channel {channel + 1}, step {k + 1}: {p!r} is not a number"
            ) from None
    return out


def read_ts(path: str | Path) -> LabelledSeries:
    """Read a UCR/UEA ``.ts`` file (univariate or multivariate, equal or variable length).

    Returns:
        :class:`LabelledSeries` with ``series[i]`` of shape ``(T_i, D)``.

    Raises:
        RnnkitError: naming the line for a malformed header (unknown or malformed
            ``@`` directive, missing ``@data`` or ``@classLabel``), a data line with the
            wrong number of channels, a label not declared in ``@classLabel``, a value
            that is not a number, or channels of different lengths in one series.
    """
    path = Path(path)
    check_data_file(path)
    if not path.is_file():
        raise RnnkitError(f"data file {path} does not exist")
    meta: dict[str, object] = {}
    classes: list[str] = []
    series: list[np.ndarray] = []
    labels: list[str] = []
    in_data = False
    dims: int | None = None
    with path.open(encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if not line.startswith("@"):
                    raise RnnkitError(
                        f"{path} line {lineno}: malformed header: expected an @directive or "
                        f"'#' comment before @data, got {line[:40]!r}"
                    )
                key, _, rest = line[1:].partition(" ")
                key, rest = key.lower(), rest.strip()
                if key == "data":
                    if "classlabel" not in meta:
                        raise RnnkitError(
                            f"{path} line {lineno}: malformed header: @data before "
                            "@classLabel true <labels...> (a classification file needs it)"
                        )
                    in_data = True
                    univariate = meta.get("univariate", True)
                    dims = 1 if univariate else meta.get("dimensions")  # type: ignore[assignment]
                    continue
                if key == "problemname":
                    meta[key] = rest
                elif key in _BOOL_KEYS:
                    if not rest:
                        raise RnnkitError(
                            f"{path} line {lineno}: malformed header: @{key} needs true or false"
                        )
                    meta[key] = _bool(path, lineno, key, rest)
                    if key == "timestamps" and meta[key]:
                        raise RnnkitError(
                            f"{path} line {lineno}: @timeStamps true is not supported; "
                            "expected comma-separated values without time stamps"
                        )
                elif key in ("serieslength", "dimensions"):
                    if not rest.isdigit() or int(rest) < 1:
                        raise RnnkitError(
                            f"{path} line {lineno}: malformed header: @{key} expects a "
                            f"positive integer, got {rest!r}"
                        )
                    meta[key] = int(rest)
                elif key == "classlabel":
                    flag, *names = rest.split()
                    if flag.lower() != "true" or not names:
                        raise RnnkitError(
                            f"{path} line {lineno}: malformed header: expected '@classLabel "
                            f"true <label> <label> ...', got {line!r} (only classification "
                            "files are supported)"
                        )
                    classes = names
                    meta[key] = True
                elif key == "targetlabel":
                    raise RnnkitError(
                        f"{path} line {lineno}: @targetLabel (regression) is not supported; "
                        "expected a classification file with @classLabel"
                    )
                else:
                    raise RnnkitError(
                        f"{path} line {lineno}: malformed header: unknown directive @{key} "
                        "(expected @problemName, @timeStamps, @missing, @univariate, "
                        "@dimensions, @equalLength, @seriesLength, @classLabel or @data)"
                    )
                continue
            *chans, label = line.split(":")
            if not chans:
                raise RnnkitError(
                    f"{path} line {lineno}: expected values followed by ':<label>', got "
                    f"{line[:40]!r}"
                )
            if dims is not None and len(chans) != dims:
                raise RnnkitError(
                    f"{path} line {lineno}: expected {dims} channel(s) separated by ':', "
                    f"found {len(chans)}"
                )
            dims = len(chans)
            label = label.strip()
            if label not in classes:
                raise RnnkitError(
                    f"{path} line {lineno}: label {label!r} is not one of the declared "
                    f"@classLabel values ({' '.join(classes)})"
                )
            values = [parse_values(c, path, lineno, d) for d, c in enumerate(chans)]
            lens = {len(v) for v in values}
            if len(lens) != 1:
                raise RnnkitError(
                    f"{path} line {lineno}: channels have different lengths {sorted(lens)}"
                )
            if 0 in lens:
                raise RnnkitError(f"{path} line {lineno}: empty series")
            series.append(np.stack(values, axis=1))  # (T, D)
            labels.append(label)
    if not in_data:
        raise RnnkitError(f"{path}: malformed header: no @data line found")
    if not series:
        raise RnnkitError(f"{path}: no series after @data")
    return LabelledSeries(series, labels, classes, str(meta.get("problemname", path.stem)))


def read_series_csv(
    path: str | Path,
    label_column: str = "label",
    static_categorical: list[str] | tuple[str, ...] = (),
    static_numeric: list[str] | tuple[str, ...] = (),
) -> LabelledSeries:
    """Read a CSV with one series per row: a label column and one column per time step.

    Empty cells at the end of a row shorten that series (variable length). The static
    columns (``static_categorical``: any text; ``static_numeric``: numbers) are not time
    steps: they are returned in ``static_cat`` / ``static_num``.

    Raises:
        RnnkitError: a missing label or static column (listing the columns found), a
            non-numeric value (naming line and column), or an empty series.
    """
    path = Path(path)
    check_data_file(path)
    if not path.is_file():
        raise RnnkitError(f"data file {path} does not exist")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as e:
        raise RnnkitError(f"data file {path}: cannot be read as CSV ({e})") from None
    if label_column not in df.columns:
        found = ", ".join(map(str, df.columns))
        raise RnnkitError(
            f"data file {path}: no label column {label_column!r} (set data.label_column); "
            f"columns found: {found}"
        )
    statics = [*static_categorical, *static_numeric]
    for c in statics:
        if c not in df.columns or c == label_column:
            found = ", ".join(map(str, df.columns))
            what = "is the label column" if c == label_column else "does not exist"
            raise RnnkitError(
                f"data file {path}: static column {c!r} (data.static_categorical / "
                f"data.static_numeric) {what}; columns found: {found}"
            )
    steps = [c for c in df.columns if c != label_column and c not in statics]
    series, labels = [], []
    for i, row in enumerate(df.itertuples(index=False)):
        rec = dict(zip(df.columns, row))
        cells = [rec[c].strip() for c in steps]
        while cells and cells[-1] == "":
            cells.pop()
        if not cells:
            raise RnnkitError(f"data file {path} line {i + 2}: empty series")
        out = np.empty(len(cells))
        for k, c in enumerate(cells):
            try:
                out[k] = float(c)
            except ValueError:
                raise RnnkitError(
                    f"data file {path} line {i + 2}, column {steps[k]!r}: {c!r} is not a number"
                ) from None
            if np.isnan(out[k]):
                raise RnnkitError(
                    f"data file {path} line {i + 2}, column {steps[k]!r}: missing value"
                )
        series.append(out[:, None])
        labels.append(str(rec[label_column]).strip())
    if not series:
        raise RnnkitError(f"data file {path} has no rows")
    classes = sorted(set(labels))
    static_cat = {c: [v.strip() for v in df[c]] for c in static_categorical}
    static_num = {}
    for c in static_numeric:
        values = np.empty(len(df))
        for i, v in enumerate(df[c]):
            try:
                values[i] = float(v)
            except ValueError:
                values[i] = np.nan
            if not np.isfinite(values[i]):
                raise RnnkitError(
                    f"data file {path} line {i + 2}, static column {c!r}: {v!r} is not a number"
                )
        static_num[c] = values
    return LabelledSeries(series, labels, classes, path.stem, static_cat, static_num)


def builtin_ucr_name(source: str) -> str | None:
    """The canonical built-in archive name for ``source`` (case-insensitive), or None."""
    for name in UCR_BUILTINS:
        if source.lower() == name.lower():
            return name
    return None


def load_classification(
    source: str,
    label_column: str = "label",
    static_categorical: list[str] | tuple[str, ...] = (),
    static_numeric: list[str] | tuple[str, ...] = (),
) -> tuple[LabelledSeries, LabelledSeries | None]:
    """Load ``(train, test)``: a built-in archive name, a ``X_TRAIN.ts`` file (its
    ``X_TEST.ts`` sibling is used as test when present), a folder holding both, or a CSV
    (no separate test file: ``test`` is None and the task splits it). Static columns
    exist only in CSV files; asking for them with another source is an error."""
    from rnnkit.data.builtin import package_file

    statics = [*static_categorical, *static_numeric]
    if statics and Path(source).suffix.lower() not in (".csv", ".txt"):
        raise RnnkitError(
            f"data.static_categorical / data.static_numeric ({', '.join(statics)}): static "
            f"columns need a CSV source with one series per row; {source!r} is not a CSV "
            "(.ts files and built-in archives have no static columns)"
        )
    name = builtin_ucr_name(source)
    if name is not None:
        folder = package_file(name)
        return read_ts(folder / f"{name}_TRAIN.ts"), read_ts(folder / f"{name}_TEST.ts")
    path = Path(source)
    if path.is_dir():
        trains = sorted(path.glob("*_TRAIN.ts"))
        if len(trains) != 1:
            raise RnnkitError(
                f"data folder {path}: expected exactly one *_TRAIN.ts file, found {len(trains)}"
            )
        path = trains[0]
    check_data_file(path)
    if path.suffix.lower() == ".ts":
        train = read_ts(path)
        test_path = path.with_name(path.name.replace("_TRAIN", "_TEST"))
        if "_TRAIN" in path.name and test_path.is_file():
            return train, read_ts(test_path)
        return train, None
    if path.suffix.lower() in (".csv", ".txt"):
        return read_series_csv(path, label_column, static_categorical, static_numeric), None
    if not path.exists():
        raise RnnkitError(
            f"--data {source!r}: not a built-in ({', '.join(UCR_BUILTINS)}) and no such file"
        )
    raise RnnkitError(f"data file {path}: expected a .ts or .csv file")
