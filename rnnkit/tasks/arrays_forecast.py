"""``array_forecast``: forecasting series already in memory (or in an ``.npz`` file).

The task behind :class:`rnnkit.estimators.Forecaster`. It is the ``forecast`` task
(:class:`~rnnkit.tasks.forecast.ForecastTask`: the same windows, scaler fitted on the
training part, :class:`~rnnkit.models.forecaster.Forecaster` model, metrics, baselines,
``rnnkit forecast/explain/export/serve``) with one difference: the series are arrays, not
a table with a time column. Each series is ``(T_s, C)``: C target values per step, no
covariates; its steps are numbered ``0 .. T_s - 1``.

Data: ``data.source = memory:KEY`` (arrays handed over by the estimator, see
:mod:`rnnkit.data.arrays`) or an ``.npz`` file of series (``x_0 .. x_{S-1}``, or a padded
``x`` with ``lengths``). Unless ``data.keep_series`` is off the series are saved in the run
directory (``series.npz``), so that ``rnnkit evaluate``, ``rnnkit forecast`` and ``rnnkit
explain`` read them again. Splits are chronological per series as for ``forecast``; the
test part is 0 by default (``data.test_fraction``), and with ``data.val_fraction = 0`` the
training windows validate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from rnnkit.config import RunConfig, option
from rnnkit.data.arrays import MEMORY_PREFIX, SeriesArrays, lookup_series, save_series_npz
from rnnkit.data.timeseries import SeriesData
from rnnkit.errors import RnnkitError
from rnnkit.tasks.forecast import ForecastData, ForecastTask

KEPT_FILE = "series.npz"
# the forecast task's keys that describe a table's columns: not read from arrays
TABLE_KEYS = (
    "time_column", "time_format", "past_covariates", "future_covariates", "id_column",
    "static_categorical", "static_numeric", "fill_missing",
)  # fmt: skip


@dataclass
class ArrayForecastData(ForecastData):
    """The ``data`` section of ``array_forecast``: the forecast task's, read from arrays."""

    source: str = option(
        "",
        "an .npz file of series (x_0..x_{S-1}, or a padded x with lengths), or memory:KEY "
        "for series handed over in memory (rnnkit.estimators.Forecaster)",
    )
    test_fraction: float = option(0.0, "last part of each series held out; 0 = no test split")
    transform: str = option("none", "log | none (auto = none: arrays are not built-ins)")
    keep_series: bool = option(
        True, "save the series in RUN_DIR/series.npz, so that later commands read them again"
    )


def target_names(num_targets: int) -> list[str]:
    """The names of the C values per step: ``y`` for one, ``y0 .. y{C-1}`` for several."""
    return ["y"] if num_targets == 1 else [f"y{k}" for k in range(num_targets)]


class ArrayForecastTask(ForecastTask):
    """Forecast the next ``horizon`` values of series held in memory (module docs)."""

    name: ClassVar[str] = "array_forecast"
    DataConfig: ClassVar[type] = ArrayForecastData

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__(cfg)
        d: ArrayForecastData = self.cfg.data
        defaults = ArrayForecastData()
        for key in TABLE_KEYS:
            if getattr(d, key) != getattr(defaults, key):
                raise RnnkitError(
                    f"data.{key}: array_forecast reads series of target values only (no "
                    "table columns, covariates or static features); for those train "
                    "`rnnkit train forecast` on a CSV/Parquet file"
                )
        self.run_dir: Path | None = None

    def load_data(self, source: str | None = None) -> SeriesData:
        """The series of ``source`` (or ``data.source``; after training, the run's copy)."""
        d: ArrayForecastData = self.cfg.data
        src = source or d.source
        kept = None if self.run_dir is None else self.run_dir / KEPT_FILE
        if not src:
            if kept is None or not kept.is_file():
                raise RnnkitError(
                    f"{self.run_dir}: the series of this run were not kept "
                    "(data.keep_series=false) and came from memory; pass --data FILE.npz"
                )
            src = str(kept)
        arrays = lookup_series(src)
        names = target_names(arrays.num_targets)
        trained = d.targets or self.info.get("target_names")
        if trained and list(trained) != names:
            raise RnnkitError(
                f"{src}: series of {arrays.num_targets} value(s) per step; the model "
                f"forecasts {len(trained)} ({', '.join(trained)})"
            )
        return series_data(arrays, "arrays in memory" if src.startswith(MEMORY_PREFIX) else src,
                           seasonality=d.seasonality)  # fmt: skip

    def prepare(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        d: ArrayForecastData = self.cfg.data
        super().prepare(run_dir)
        if d.source.startswith(MEMORY_PREFIX):
            if d.keep_series:
                save_series_npz(self.run_dir / KEPT_FILE, lookup_series(d.source))
            d.source = ""  # the name means nothing after this process: the run keeps a copy

    def restore(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        super().restore(run_dir)

    def _attach(self, data: SeriesData) -> None:
        """The forecast task's windows; with ``data.val_fraction = 0`` the training windows
        validate (early stopping and the best epoch), as the report's data line says."""
        super()._attach(data)
        if self.cfg.data.val_fraction == 0 and len(self.splits["val"].windows) == 0:
            self.splits["val"] = self.splits["train"]

    def describe_data(self) -> str:
        note = "; val = train (data.val_fraction=0)" if self.cfg.data.val_fraction == 0 else ""
        return super().describe_data() + note

    def release_data(self) -> None:
        """Drop the series and windows held in memory (a fitted estimator keeps only what
        forecasts: the scalers and the model)."""
        self.data, self.splits, self.bounds = None, {}, {}


def series_data(arrays: SeriesArrays, name: str, *, seasonality: int = 0) -> SeriesData:
    """``arrays`` as the forecast task's :class:`SeriesData`: the series one after the
    other, steps numbered ``0 .. T_s - 1``, ids ``X[s]``, no covariates."""
    lengths = [len(s) for s in arrays.series]
    ends = np.cumsum(lengths)
    segments = [(int(e - n), int(e)) for n, e in zip(lengths, ends)]
    for s, n in enumerate(lengths):
        if n < 2:
            raise RnnkitError(f"X[{s}]: a series of {n} step(s); every series needs 2 or more")
    rows = int(ends[-1])
    return SeriesData(
        name=name,
        time=np.concatenate([np.arange(n, dtype=np.float64) for n in lengths]),
        targets=np.concatenate(arrays.series).astype(np.float64),
        past=np.zeros((rows, 0)),
        future=np.zeros((rows, 0)),
        target_names=target_names(arrays.num_targets),
        segments=segments,
        series_ids=[f"X[{s}]" for s in range(len(lengths))],
        seasonality=max(1, seasonality or 1),
    )


__all__ = ["ArrayForecastData", "ArrayForecastTask", "series_data", "target_names"]
