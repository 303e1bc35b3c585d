"""Time series for forecasting: reading CSV/Parquet files and built-in series, chronological
splits, windowing and scaling.

A forecasting file is a table with a time column, one or more target columns, and
optionally covariates: *past* covariates are known only up to the forecast origin
(e.g. a measured temperature), *future* covariates are known ahead (a calendar, a planned
promotion). With an ``id`` column one file holds several series (long format), each with
optional static columns (constant per series: a store type, a region's size).

The flow::

    load_series(path | name)  -> SeriesData        (validated, NaN refused or interpolated)
    split_points(...)         -> per series (n_train, n_val)   chronological (rnnkit.data.splits)
    Scaler.fit(train parts)   -> per-column mean/std (after an optional log)
    make_windows(...)         -> Windows(origins, ...)         targets never cross a split

Windows: a window at origin ``t`` of series ``s`` has context steps ``t-L .. t-1`` and
target steps ``t .. t+H-1``. Train windows have all targets inside the train part;
validation and test windows have all targets inside their own part, while their context
may reach back into earlier parts (that is data known at the origin). No input ever holds
a value at or after the origin, except future covariates, which are known ahead by
definition.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rnnkit.data.files import check_data_file
from rnnkit.data.scaling import Scaler
from rnnkit.data.static import category_vocab, encode_categories
from rnnkit.errors import RnnkitError


# ----------------------------------------------------------------------------- built-ins
@dataclass(frozen=True)
class BuiltinSeries:
    """How to read one built-in series file (the file itself is found by ``package_file``)."""

    time_column: str
    targets: tuple[str, ...]
    time_format: str  # strftime format of the time column; "" = numeric time (years)
    seasonality: int  # the season length m used by MASE and seasonal naive
    fill_missing: str  # "none" | "interpolate"
    description: str


BUILTIN_SERIES: dict[str, BuiltinSeries] = {
    "airline": BuiltinSeries(
        "Date", ("Passengers",), "%Y-%m", 12, "none",
        "monthly international airline passengers (thousands), 1949-1960, 144 points",
    ),
    "sunspots": BuiltinSeries(
        "YEAR", ("SUNACTIVITY",), "", 11, "none",
        "yearly mean sunspot numbers, 1700-2008, 309 points",
    ),
    "co2": BuiltinSeries(
        "date", ("co2",), "%Y%m%d", 52, "interpolate",
        "weekly atmospheric CO2 at Mauna Loa (ppm), 1958-2001, 2284 points, 59 missing weeks",
    ),
}  # fmt: skip


def builtin_series_name(source: str) -> str | None:
    """The canonical built-in name for ``source`` (case-insensitive), or None for a path."""
    low = source.lower()
    return low if low in BUILTIN_SERIES else None


# ----------------------------------------------------------------------------- data
@dataclass
class SeriesData:
    """One or more aligned multivariate series, read and validated.

    Rows of the same series are contiguous and in time order; ``segments`` gives their
    row ranges. Shapes: N rows, C targets, P past covariates, K future covariates,
    S series, Kc categorical and Kn numeric static columns.
    """

    name: str  # the built-in name or the file path
    time: np.ndarray  # (N,) datetime64[ns] or float64
    targets: np.ndarray  # (N, C) float64
    past: np.ndarray  # (N, P) float64
    future: np.ndarray  # (N, K) float64
    target_names: list[str]
    past_names: list[str] = field(default_factory=list)
    future_names: list[str] = field(default_factory=list)
    segments: list[tuple[int, int]] = field(default_factory=list)  # per series [start, end)
    series_ids: list[str] = field(default_factory=list)  # (S,) the id of each series
    static_cat: np.ndarray | None = None  # (S, Kc) int64 category codes (0 = unknown)
    static_num: np.ndarray | None = None  # (S, Kn) float64
    static_cat_names: list[str] = field(default_factory=list)
    static_num_names: list[str] = field(default_factory=list)
    static_vocab: dict[str, list[str]] = field(default_factory=dict)  # column -> categories
    seasonality: int = 1  # m for MASE and seasonal naive
    filled: int = 0  # target/covariate values filled by interpolation
    time_format: str = ""
    time_column: str = ""

    @property
    def is_datetime(self) -> bool:
        return np.issubdtype(self.time.dtype, np.datetime64)

    def describe(self) -> str:
        """One line about the data, including how many values were interpolated."""
        s = f"{self.name}: {len(self.time)} steps, targets {', '.join(self.target_names)}"
        if len(self.segments) > 1:
            s += f", {len(self.segments)} series"
        if self.past_names:
            s += f", past covariates {', '.join(self.past_names)}"
        if self.future_names:
            s += f", future covariates {', '.join(self.future_names)}"
        if self.time_format:
            s += f"; times read as {self.time_format}"
        if self.filled:
            s += f"; {self.filled} missing values filled by linear interpolation"
        return s


def _read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    check_data_file(path)
    if not path.is_file():
        raise RnnkitError(f"data file {path} does not exist")
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt", ".tsv"):
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype=str)
    except (ValueError, OSError, pd.errors.ParserError) as e:
        detail = " ".join(str(e).split())  # pandas' messages may end in a newline
        raise RnnkitError(f"data file {path}: cannot be read as a table ({detail})") from None
    raise RnnkitError(f"data file {path}: expected a .csv, .tsv or .parquet file")


def _line(path: Path, row: int) -> str:
    """Where row ``row`` (0-based data row) is: a CSV line number or a Parquet row."""
    if path.suffix.lower() in (".parquet", ".pq"):
        return f"row {row}"
    return f"line {row + 2}"  # line 1 is the header


def _require_columns(df: pd.DataFrame, cols: list[str], path: Path, what: str) -> None:
    for c in cols:
        if c not in df.columns:
            found = ", ".join(map(str, df.columns))
            raise RnnkitError(f"data file {path}: no {what} column {c!r}; columns found: {found}")


def _numeric(df: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    """Column ``col`` as float64 (True/False as 1/0); a clear error naming the line of a
    non-numeric value."""
    raw = df[col]
    if raw.dtype == bool:
        return raw.to_numpy(dtype=np.float64)
    if not pd.api.types.is_numeric_dtype(raw):  # text: True/False -> 1/0
        low = raw.astype(str).str.strip().str.lower()
        raw = raw.mask(low == "true", "1").mask(low == "false", "0")
    values = pd.to_numeric(raw, errors="coerce")
    blank = raw.isna() | raw.astype(str).str.strip().isin(["", "nan", "NaN", "NA"])
    bad = values.isna() & ~blank
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise RnnkitError(
            f"data file {path} {_line(path, row)}, column {col!r}: {raw.iloc[row]!r} is not a "
            "number"
        )
    return values.to_numpy(dtype=np.float64)


def _parse_time(df: pd.DataFrame, col: str, fmt: str, path: Path) -> tuple[np.ndarray, str]:
    """The time column as datetime64[ns] (or float64 for numeric time such as years), and
    the strftime format it was read with ("" for numeric or already-typed time).

    Without ``fmt`` the format is inferred from the first value and then every value must
    parse with exactly that format; a column whose format cannot be inferred, or whose
    day and month could be read either way (``01/02/2000``), is refused with a message that
    asks for ``data.time_format``, never parsed by a per-value guess.
    """
    raw = df[col]
    if pd.api.types.is_datetime64_any_dtype(raw):
        return raw.to_numpy(dtype="datetime64[ns]"), ""
    if raw.isna().any():
        row = int(np.flatnonzero(raw.isna().to_numpy())[0])
        raise RnnkitError(f"data file {path} {_line(path, row)}, column {col!r}: empty time")
    if not fmt:
        as_num = pd.to_numeric(raw, errors="coerce")
        if not as_num.isna().any():
            return as_num.to_numpy(dtype=np.float64), ""
    text = raw.astype(str)
    if not fmt:
        fmt = _infer_time_format(text, col, path)
    parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    if parsed.isna().any():
        row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise RnnkitError(
            f"data file {path} {_line(path, row)}, column {col!r}: {text.iloc[row]!r} is not "
            f"a time in the format {fmt!r} (set data.time_format, e.g. %Y-%m-%d %H:%M)"
        )
    return parsed.to_numpy(dtype="datetime64[ns]"), fmt


def _parses(text: pd.Series, fmt: str) -> bool:
    """Whether every value of ``text`` parses with exactly ``fmt``."""
    return bool(pd.to_datetime(text, format=fmt, errors="coerce").notna().all())


def _infer_time_format(text: pd.Series, col: str, path: Path) -> str:
    """The one strftime format every value of ``text`` parses with, inferred from the first
    value; refused when it cannot be inferred or when day and month are ambiguous."""
    from pandas.tseries.api import guess_datetime_format

    first = str(text.iloc[0]).strip()
    month_first = guess_datetime_format(first, dayfirst=False)
    day_first = guess_datetime_format(first, dayfirst=True)
    candidates = [f for f in dict.fromkeys((month_first, day_first)) if f]
    if month_first and month_first.startswith("%Y"):
        candidates = [month_first]  # year first is year-month-day (ISO 8601), never y-d-m
    if not candidates:
        raise RnnkitError(
            f"data file {path}, column {col!r}: cannot tell the time format of values such as "
            f"{first!r}; set data.time_format to its strftime format (e.g. %Y-%m-%d %H:%M:%S)"
        )
    fits = [f for f in candidates if _parses(text, f)]
    if not fits:
        return candidates[0]  # the caller names the first value that does not fit it
    if len(fits) > 1:
        a, b = (pd.to_datetime(text, format=f) for f in fits)
        if not (a == b).all():
            raise RnnkitError(
                f"data file {path}, column {col!r}: the times (e.g. {first!r}) read as "
                f"{fits[0]!r} or as {fits[1]!r}: set data.time_format to the right one"
            )
    return fits[0]


def _interpolate(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Linear interpolation of NaN along axis 0 (edges take the nearest value)."""
    x = x.copy()
    n = 0
    idx = np.arange(len(x))
    for j in range(x.shape[1]):
        miss = np.isnan(x[:, j])
        if miss.all():
            raise RnnkitError("a column has no values at all; cannot interpolate")
        if miss.any():
            x[miss, j] = np.interp(idx[miss], idx[~miss], x[~miss, j])
            n += int(miss.sum())
    return x, n


def load_series(
    source: str | Path,
    *,
    time_column: str = "",
    targets: list[str] | None = None,
    past_covariates: list[str] | None = None,
    future_covariates: list[str] | None = None,
    id_column: str = "",
    static_categorical: list[str] | None = None,
    static_numeric: list[str] | None = None,
    time_format: str = "",
    fill_missing: str = "",
    seasonality: int = 0,
) -> SeriesData:
    """Read a built-in series (``"airline"``, ``"sunspots"``, ``"co2"``) or a CSV/Parquet file.

    Args:
        source: a built-in name or a path.
        time_column: the time column (default for files: the first column).
        targets: the columns to forecast (default: every numeric column that is not
            the time, an id, a covariate or a static column).
        past_covariates / future_covariates: input-only columns known up to the origin /
            known ahead.
        id_column: the series id column of a long-format file with several series.
        static_categorical / static_numeric: per-series constant columns.
        time_format: strftime format of the time column ("" = guess, or numeric time).
        fill_missing: ``"none"`` refuses NaN in targets and covariates; ``"interpolate"``
            fills them linearly. "" = the built-in's default, or "none".
        seasonality: season length m (0 = the built-in's, or 1).

    Returns:
        A validated :class:`SeriesData`.

    Raises:
        RnnkitError: a missing column (listing the columns found), a non-numeric value or
            a time that does not parse (naming the line), a time that does not increase,
            or NaN in a target without ``fill_missing="interpolate"``.
    """
    from rnnkit.data.builtin import package_file

    builtin = builtin_series_name(str(source))
    if builtin is not None:
        spec = BUILTIN_SERIES[builtin]
        path = package_file(builtin)
        time_column = time_column or spec.time_column
        targets = targets or list(spec.targets)
        time_format = time_format or spec.time_format
        fill_missing = fill_missing or spec.fill_missing
        seasonality = seasonality or spec.seasonality
        name = builtin
    else:
        path = Path(source)
        name = str(path)
    fill_missing = fill_missing or "none"
    if fill_missing not in ("none", "interpolate"):
        raise RnnkitError(
            f"data.fill_missing: expected 'none' or 'interpolate', got {fill_missing!r}"
        )
    df = _read_table(path)
    if len(df.columns) == 0 or len(df) == 0:
        raise RnnkitError(f"data file {path} has no rows")
    df.columns = [str(c) for c in df.columns]
    time_column = time_column or df.columns[0]
    past_covariates = list(past_covariates or [])
    future_covariates = list(future_covariates or [])
    static_categorical = list(static_categorical or [])
    static_numeric = list(static_numeric or [])
    _require_columns(df, [time_column], path, "time")
    if id_column:
        _require_columns(df, [id_column], path, "id")
    _require_columns(df, past_covariates, path, "past covariate")
    _require_columns(df, future_covariates, path, "future covariate")
    _require_columns(df, static_categorical + static_numeric, path, "static")
    if not targets:
        used = {time_column, id_column, *past_covariates, *future_covariates}
        used |= set(static_categorical) | set(static_numeric)
        targets = [c for c in df.columns if c not in used]
        if not targets:
            found = ", ".join(df.columns)
            raise RnnkitError(f"data file {path}: no target columns left; columns found: {found}")
    _require_columns(df, targets, path, "target")

    df = df.reset_index(drop=True)
    time, time_format = _parse_time(df, time_column, time_format, path)

    def cols(names: list[str]) -> np.ndarray:
        if not names:
            return np.zeros((len(df), 0))
        return np.stack([_numeric(df, c, path) for c in names], axis=1)

    y, past, fut = cols(targets), cols(past_covariates), cols(future_covariates)

    # Group rows by series (stable); `rows` keeps the file's row numbers for messages.
    rows = np.arange(len(df))
    if id_column:
        ids = df[id_column].astype(str)
        rows = np.argsort(pd.Categorical(ids, categories=pd.unique(ids)).codes, kind="stable")
        df = df.iloc[rows].reset_index(drop=True)
        time, y, past, fut = time[rows], y[rows], past[rows], fut[rows]

    segments: list[tuple[int, int]] = []
    series_ids: list[str] = []
    if id_column:
        ids_sorted = df[id_column].astype(str).to_numpy()
        start = 0
        for i in range(1, len(ids_sorted) + 1):
            if i == len(ids_sorted) or ids_sorted[i] != ids_sorted[start]:
                segments.append((start, i))
                series_ids.append(ids_sorted[start])
                start = i
    else:
        segments, series_ids = [(0, len(df))], [name]

    for a, b in segments:
        dt = np.diff(time[a:b])
        bad = np.flatnonzero(dt <= dt.dtype.type(0)) if len(dt) else np.zeros(0, np.int64)
        if len(bad):
            r = int(rows[a + bad[0] + 1])
            raise RnnkitError(
                f"data file {path} {_line(path, r)}, column {time_column!r}: time "
                f"{df[time_column].iloc[a + bad[0] + 1]!r} does not increase (previous "
                f"{df[time_column].iloc[a + bad[0]]!r}); rows must be in time order"
            )
        if b - a < 2:
            raise RnnkitError(f"data file {path}: series {series_ids[-1]!r} has fewer than 2 rows")

    filled = 0
    for what, arr, names in (
        ("target", y, targets),
        ("past covariate", past, past_covariates),
        ("future covariate", fut, future_covariates),
    ):
        if np.isnan(arr).any():
            if fill_missing != "interpolate":
                i, j = (int(v[0]) for v in np.nonzero(np.isnan(arr)))
                raise RnnkitError(
                    f"data file {path} {_line(path, int(rows[i]))}, {what} column "
                    f"{names[j]!r}: missing value; set data.fill_missing=interpolate to fill "
                    "gaps linearly"
                )
            for a, b in segments:
                arr[a:b], n = _interpolate(arr[a:b])
                filled += n

    static_cat = static_num = None
    vocab: dict[str, list[str]] = {}
    if static_categorical or static_numeric:
        if not id_column:
            raise RnnkitError("data.static_categorical/static_numeric need data.id_column")
        for c in static_categorical + static_numeric:
            for (a, b), sid in zip(segments, series_ids):
                if df[c].iloc[a:b].nunique(dropna=False) > 1:
                    raise RnnkitError(
                        f"data file {path}: static column {c!r} changes within series {sid!r}"
                    )
        firsts = df.iloc[[a for a, _ in segments]].reset_index(drop=True)
        values = {c: list(firsts[c].astype(str)) for c in static_categorical}
        vocab = category_vocab(values)
        static_cat = encode_categories(values, vocab).reshape(len(segments), -1)  # (S, Kc)
        static_num = (
            np.stack([_numeric(firsts, c, path) for c in static_numeric], axis=1)
            if static_numeric
            else np.zeros((len(segments), 0))
        )
        if np.isnan(static_num).any():
            raise RnnkitError(f"data file {path}: a static numeric column has a missing value")

    return SeriesData(
        name=name,
        time=time,
        targets=y,
        past=past,
        future=fut,
        target_names=list(targets),
        past_names=past_covariates,
        future_names=future_covariates,
        segments=segments,
        series_ids=series_ids,
        static_cat=static_cat,
        static_num=static_num,
        static_cat_names=static_categorical,
        static_num_names=static_numeric,
        static_vocab=vocab,
        seasonality=max(1, seasonality or 1),
        filled=filled,
        time_format=time_format,
        time_column=time_column,
    )


# ----------------------------------------------------------------------------- splits
# ----------------------------------------------------------------------------- scaling
def save_scalers(path: Path, scalers: dict[str, Scaler]) -> None:
    """Write named scalers to ``path`` (JSON, atomically)."""
    from rnnkit.io import write_json

    write_json(path, {k: s.to_dict() for k, s in scalers.items()})


def load_scalers(path: Path) -> dict[str, Scaler]:
    """Read what :func:`save_scalers` wrote."""
    if not path.is_file():
        raise RnnkitError(f"{path} is missing: is this a forecast run directory?")
    return {k: Scaler.from_dict(v) for k, v in json.loads(path.read_text()).items()}


# ----------------------------------------------------------------------------- windows
@dataclass
class Windows:
    """Forecast origins of one split: window ``i`` is series ``series[i]`` at row
    ``origin[i]`` (absolute row in :class:`SeriesData`): context rows
    ``origin-L .. origin-1``, target rows ``origin .. origin+H-1``."""

    series: np.ndarray  # (W,) int64 series index
    origin: np.ndarray  # (W,) int64 absolute row of the first target step

    def __len__(self) -> int:
        return len(self.origin)


def make_windows(
    segments: list[tuple[int, int]],
    bounds: list[tuple[int, int]],
    *,
    context: int,
    horizon: int,
    stride: int = 1,
) -> Windows:
    """All windows whose targets lie inside ``bounds[s] = (lo, hi)`` (absolute rows of one
    split of series ``s``) and whose context starts at or after the series' first row.

    Every target row ``r`` of a window satisfies ``lo <= r < hi``; context rows are
    ``< origin`` (never future values).
    """
    series, origin = [], []
    for s, ((a, _b), (lo, hi)) in enumerate(zip(segments, bounds)):
        first = max(lo, a + context)
        for t in range(first, hi - horizon + 1, stride):
            series.append(s)
            origin.append(t)
    return Windows(np.asarray(series, dtype=np.int64), np.asarray(origin, dtype=np.int64))


def gather(x: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Rows ``starts[i] .. starts[i]+length-1`` of ``x (N, F)`` -> ``(W, length, F)``."""
    idx = starts[:, None] + np.arange(length)[None, :]
    return x[idx]


def future_times(time: np.ndarray, n: int) -> np.ndarray:
    """The next ``n`` time stamps after ``time``: calendar months (or years) when the
    series steps by whole months on a fixed day, else its median step."""
    if np.issubdtype(time.dtype, np.datetime64):
        idx = pd.DatetimeIndex(time[-min(len(time), 25) :])
        months = np.diff(idx.year * 12 + idx.month)
        if len(idx) >= 2 and (idx.day == idx.day[0]).all() and (months == months[0]).all():
            step = int(months[0])
            if step > 0:
                return np.array(
                    [idx[-1] + pd.DateOffset(months=step * k) for k in range(1, n + 1)],
                    dtype="datetime64[ns]",
                )
        step = np.median(np.diff(time[-24:]).astype(np.int64)).astype("timedelta64[ns]")
        return time[-1] + step * np.arange(1, n + 1)
    numeric_step = float(np.median(np.diff(time[-24:])))
    return time[-1] + numeric_step * np.arange(1, n + 1)


def format_times(time: np.ndarray, fmt: str = "") -> list[str]:
    """Time stamps as strings for CSV output, never losing precision.

    ``fmt`` (the format the data was read with) is used when it represents every stamp
    exactly; otherwise (or without ``fmt``) the shortest ISO form that does: a date, a date
    and minutes, seconds, or fractions of a second. Numeric times print as the shortest
    decimal that reads back to the same float.
    """
    if np.issubdtype(time.dtype, np.datetime64):
        idx = pd.DatetimeIndex(time)
        if fmt:
            text = list(idx.strftime(fmt))
            back = pd.to_datetime(pd.Series(text), format=fmt, errors="coerce")
            if back.notna().all() and (back.to_numpy(dtype="datetime64[ns]") == time).all():
                return text
        return list(idx.strftime(_lossless_format(idx)))
    return [_exact_number(float(t)) for t in time]


def _lossless_format(idx: pd.DatetimeIndex) -> str:
    """The shortest ISO-8601 strftime format that keeps every stamp of ``idx`` exactly."""
    if (idx.microsecond != 0).any() or (idx.nanosecond != 0).any():
        return "%Y-%m-%dT%H:%M:%S.%f"
    if (idx.second != 0).any():
        return "%Y-%m-%d %H:%M:%S"
    if (idx.hour != 0).any() or (idx.minute != 0).any():
        return "%Y-%m-%d %H:%M"
    return "%Y-%m-%d"


def _exact_number(t: float) -> str:
    """``t`` as the short form (``1949``, ``2000.5``) if that reads back exactly, else repr."""
    short = f"{t:g}"
    return short if float(short) == t else repr(t)
