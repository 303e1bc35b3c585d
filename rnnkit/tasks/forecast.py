"""``rnnkit train forecast``: multi-horizon forecasting of one or more series.

Data: a built-in series (``airline``, ``sunspots``, ``co2``) or a CSV/Parquet file (see
:mod:`rnnkit.data.timeseries`). Each series is split in time order into train, validation
and test parts; scaling is fitted on the training part only and saved in the run
directory (``scaler.json``); windows of ``context`` steps forecast ``horizon`` steps
(``direct``: all at once; ``rollout``: one step fed back). Metrics are computed in the
data's own units: MAE, RMSE, MASE (season ``m``) and sMAPE, beside the naive and
seasonal-naive forecasts of the very same test windows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.baselines.forecasting import naive, seasonal_naive
from rnnkit.config import RunConfig, option
from rnnkit.data.batch import Batch
from rnnkit.data.batching import batch_indices
from rnnkit.data.splits import split_points
from rnnkit.data.static import StaticFeatures, decode_categories
from rnnkit.data.timeseries import (
    Scaler,
    SeriesData,
    Windows,
    builtin_series_name,
    gather,
    load_scalers,
    load_series,
    make_windows,
    save_scalers,
)
from rnnkit.errors import RnnkitError
from rnnkit.metrics.forecasting import forecast_metrics, mase_scale
from rnnkit.models.forecaster import Forecaster, ForecasterConfig
from rnnkit.tasks.base import Task
from rnnkit.tasks.explaining import ExplainInput, forecaster_input

if TYPE_CHECKING:
    from rnnkit.tune.space import Param

AIRLINE_ANCHOR = {
    "source": "LSTM(4), look-back 1, 67/33 split: Brownlee, 'Time Series Prediction with LSTM "
    "Recurrent Neural Networks in Python with Keras' (one-step-ahead test RMSE)",
    "rmse_h1": 47.5,
}


@dataclass
class ForecastData:
    """The ``data`` section of ``rnnkit train forecast``."""

    source: str = option("airline", "built-in (airline | sunspots | co2) or a .csv/.parquet path")
    time_column: str = option(
        "",
        "\"\" = the built-in's, or the file's first column",
    )
    time_format: str = option(
        "",
        'strftime format of the time column; "" = guess (or numeric)',
    )
    targets: list[str] = option([], "[] = built-in's / every other column")
    past_covariates: list[str] = option([], "known up to the origin")
    future_covariates: list[str] = option([], "known ahead (calendar ...)")
    id_column: str = option("", "long format: the series id column")
    static_categorical: list[str] = option([], "per-series categories")
    static_numeric: list[str] = option([], "per-series numbers")
    context: int = option(24, "L: input steps per window")
    horizon: int = option(12, "H: steps forecast per window")
    val_fraction: float = option(0.1, "last part of the series before the test part")
    test_fraction: float = option(0.33, "last part of each series")
    scaling: str = option("standard", "standard | minmax | none, fitted on the train part")
    transform: str = option(
        "auto", "auto | log | none; auto = log for built-ins with growing seasons"
    )
    fill_missing: str = option(
        "",
        '"" = the built-in\'s default, or none | interpolate',
    )
    seasonality: int = option(0, "season length m for MASE and seasonal naive; 0 = built-in's or 1")
    stride: int = option(1, "steps between training windows")


_LOG_BUILTINS = {"airline"}  # multiplicative seasonality: log makes the seasons additive


@dataclass
class _Split:
    windows: Windows
    context: torch.Tensor  # (W, L, F) scaled
    targets: torch.Tensor  # (W, H, C) scaled
    raw_targets: np.ndarray  # (W, H, C) raw units
    future: torch.Tensor  # (W, H, K) scaled future covariates of the horizon steps
    teacher: torch.Tensor  # (W, H-1, F) horizon step inputs (rollout teacher forcing)
    static_cat: torch.Tensor  # (W, Kc)
    static_num: torch.Tensor  # (W, Kn)


class ForecastTask(Task):
    """Forecast the next ``horizon`` steps of every target column (see module docs)."""

    name: ClassVar[str] = "forecast"
    DataConfig: ClassVar[type] = ForecastData
    ModelConfig: ClassVar[type] = ForecasterConfig
    renamed_keys: ClassVar[dict[str, str]] = {
        f"data.{k}": f"model.{k}" for k in ("output", "residual", "static_fusion", "static_size")
    }
    model_defaults: ClassVar[dict[str, Any]] = {
        "cell": "lstm",
        "hidden_size": 64,
        "num_layers": 1,
        "embedding_dim": 32,
    }
    train_defaults: ClassVar[dict[str, Any]] = {
        "epochs": 150,
        "batch_size": 16,
        "lr": 3e-3,
        "early_stopping": 30,
        "weight_decay": 0.0,
    }
    monitor: ClassVar[str] = "mae"
    monitor_mode: ClassVar[str] = "min"
    anchor: ClassVar[dict[str, Any] | None] = None
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"evaluate", "predict", "explain", "forecast", "export"}
    )
    explain_help: ClassVar[str] = "test:INDEX (or val:INDEX, train:INDEX): that window"
    explain_reads_splits: ClassVar[bool] = True
    serve_input: ClassVar[str] = "series"

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__(cfg)
        d: ForecastData = cfg.data
        if d.context < 1 or d.horizon < 1:
            raise RnnkitError(
                f"data.context and data.horizon must be >= 1, got {d.context} and {d.horizon}"
            )
        if d.stride < 1:
            raise RnnkitError(f"data.stride must be >= 1, got {d.stride}")
        m = self._model_config()
        if m.output not in ("direct", "rollout"):
            raise RnnkitError(f"model.output: expected direct or rollout, got {m.output!r}")
        if m.residual not in (True, False, "seasonal", "auto"):
            raise RnnkitError(
                f"model.residual: expected true, false, seasonal or auto, got {m.residual!r}"
            )
        if m.residual == "seasonal" and m.output != "direct":
            raise RnnkitError("model.residual=seasonal needs model.output=direct")
        if d.transform not in ("auto", "log", "none"):
            raise RnnkitError(f"data.transform: expected auto, log or none, got {d.transform!r}")
        if m.output == "rollout" and d.past_covariates:
            raise RnnkitError(
                "model.output=rollout feeds forecasts back as inputs, so it cannot use "
                "data.past_covariates (their future values are unknown); use output=direct"
            )
        self.builtin = builtin_series_name(d.source)
        self.anchor = AIRLINE_ANCHOR if self.builtin == "airline" else None  # type: ignore[misc]
        self.data: SeriesData | None = None
        self.scalers: dict[str, Scaler] = {}
        self.splits: dict[str, _Split] = {}
        self.bounds: dict[str, list[tuple[int, int]]] = {}
        self.info: dict[str, Any] = {}  # series.json: columns, static vocabularies ...

    # ------------------------------------------------------------------ data
    def load_data(self, source: str | None = None) -> SeriesData:
        """Read the configured series (or ``source`` with the same columns)."""
        d: ForecastData = self.cfg.data
        data = load_series(
            source or d.source,
            time_column=d.time_column,
            targets=d.targets,
            past_covariates=d.past_covariates,
            future_covariates=d.future_covariates,
            id_column=d.id_column,
            static_categorical=d.static_categorical,
            static_numeric=d.static_numeric,
            time_format=d.time_format,
            fill_missing=d.fill_missing,
            seasonality=d.seasonality,
        )
        return self._remap_static(data)

    @property
    def use_log(self) -> bool:
        t = self.cfg.data.transform
        return t == "log" or (t == "auto" and self.builtin in _LOG_BUILTINS)

    def _split_bounds(self, data: SeriesData) -> dict[str, list[tuple[int, int]]]:
        d: ForecastData = self.cfg.data
        out: dict[str, list[tuple[int, int]]] = {"train": [], "val": [], "test": []}
        for (a, b), sid in zip(data.segments, data.series_ids):
            n_train, n_val = split_points(
                b - a,
                d.val_fraction,
                d.test_fraction,
                context=d.context,
                horizon=d.horizon,
                what=f"series {sid!r}",
            )
            out["train"].append((a, a + n_train))
            out["val"].append((a + n_train, a + n_train + n_val))
            out["test"].append((a + n_train + n_val, b))
        return out

    def _fit_scalers(self, data: SeriesData, train: list[tuple[int, int]]) -> dict[str, Scaler]:
        d: ForecastData = self.cfg.data
        rows = np.concatenate([np.arange(a, b) for a, b in train])
        covs = np.concatenate([data.past, data.future], axis=1)[rows]
        scalers = {
            "targets": Scaler.fit(data.targets[rows], d.scaling, log=self.use_log),
            "covariates": Scaler.fit(covs, d.scaling) if covs.shape[1] else Scaler("none"),
        }
        if data.static_num is not None and data.static_num.shape[1]:
            scalers["static_numeric"] = Scaler.fit(data.static_num, d.scaling)
        return scalers

    def _features(self, data: SeriesData) -> tuple[np.ndarray, np.ndarray]:
        """Scaled step features ``(N, F)`` = [targets, past, future of the next step] and
        the scaled future covariates ``(N, K)`` (row r = the covariates at r)."""
        y = self.scalers["targets"].transform(data.targets)
        covs = np.concatenate([data.past, data.future], axis=1)
        covs = self.scalers["covariates"].transform(covs) if covs.shape[1] else covs
        P = data.past.shape[1]
        past, fut = covs[:, :P], covs[:, P:]
        fut_next = np.empty_like(fut)
        for a, b in data.segments:  # k_{s+1}; the last row of a series repeats its own
            fut_next[a : b - 1] = fut[a + 1 : b]
            fut_next[b - 1] = fut[b - 1]
        return np.concatenate([y, past, fut_next], axis=1), fut

    def _build_split(self, data: SeriesData, bounds: list[tuple[int, int]], stride: int) -> _Split:
        d: ForecastData = self.cfg.data
        L, H = d.context, d.horizon
        w = make_windows(data.segments, bounds, context=L, horizon=H, stride=stride)
        x, fut = self._features(data)
        C = data.targets.shape[1]
        y = x[:, :C]
        static_cat = np.zeros((len(w), 0), dtype=np.int64)
        static_num = np.zeros((len(w), 0))
        if data.static_cat is not None:
            static_cat = data.static_cat[w.series]
        if data.static_num is not None and data.static_num.shape[1]:
            static_num = self.scalers["static_numeric"].transform(data.static_num)[w.series]

        def t(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(a, dtype=torch.float32)

        return _Split(
            windows=w,
            context=t(gather(x, w.origin - L, L)),
            targets=t(gather(y, w.origin, H)),
            raw_targets=gather(data.targets, w.origin, H),
            future=t(gather(fut, w.origin, H)),
            teacher=t(gather(x, w.origin, H - 1))
            if H > 1
            else t(np.zeros((len(w), 0, x.shape[1]))),
            static_cat=torch.as_tensor(static_cat, dtype=torch.int64),
            static_num=t(static_num),
        )

    def _attach(self, data: SeriesData) -> None:
        """Windows of every split of ``data`` with the current scalers."""
        self.data = data
        self.bounds = self._split_bounds(data)
        self.splits = {
            split: self._build_split(data, bounds, self.cfg.data.stride if split == "train" else 1)
            for split, bounds in self.bounds.items()
        }
        train_rows = [data.targets[a:b] for a, b in self.bounds["train"]]
        m = data.seasonality
        self.scale = np.mean([mase_scale(r, m if len(r) > m else 1) for r in train_rows], axis=0)

    def prepare(self, run_dir: Path) -> None:
        data = self.load_data()
        # Pin the columns that were guessed, so the saved config.yaml names them and later
        # files (evaluate/forecast --data) are read with the very same targets.
        self.cfg.data.targets = list(data.target_names)
        self.cfg.data.time_column = self.cfg.data.time_column or data.time_column
        bounds = self._split_bounds(data)
        self.scalers = self._fit_scalers(data, bounds["train"])
        self._attach(data)
        if len(self.splits["train"].windows) == 0:
            raise RnnkitError("no training windows: lower data.context or data.horizon")
        self._model_config().residual = self._choose_residual()  # pinned in the saved config
        save_scalers(Path(run_dir) / "scaler.json", self.scalers)
        self._save_info(Path(run_dir))

    def _choose_residual(self) -> bool | str:
        """``model.residual`` made concrete: ``auto`` is ``seasonal`` when the data has a
        season that fits in the context and the seasonal naive forecast beats the last
        value on the training windows (RMSE over the horizon), else ``true``."""
        m, d = self._model_config(), self.cfg.data
        assert self.data is not None
        season = self.data.seasonality
        fits = m.output == "direct" and 1 < season <= d.context
        if m.residual == "seasonal" and not fits:
            raise RnnkitError(
                f"model.residual=seasonal needs a season of 2 to data.context={d.context} "
                f"steps, and this data's is {season} (set data.seasonality)"
            )
        if m.residual != "auto":
            return m.residual
        if not fits:
            return True
        s, y, H = self.splits["train"], self.data.targets, d.horizon
        errors = {
            name: float(np.sqrt(np.mean((s.raw_targets - fc) ** 2)))
            for name, fc in (
                ("last", naive(y, s.windows.origin, H)),
                ("seasonal", seasonal_naive(y, s.windows.origin, H, season)),
            )
        }
        return "seasonal" if errors["seasonal"] < errors["last"] else True

    def _save_info(self, run_dir: Path) -> None:
        from rnnkit.io import write_json

        data = self.data
        assert data is not None
        self.info = {
            "source": data.name,
            "description": data.describe(),
            "target_names": data.target_names,
            "past_names": data.past_names,
            "future_names": data.future_names,
            "series_ids": data.series_ids,
            "static_vocab": data.static_vocab,
            "static_cat_names": data.static_cat_names,
            "static_num_names": data.static_num_names,
            "seasonality": data.seasonality,
            "filled": data.filled,
            "time_format": data.time_format,
            "use_log": self.use_log,
        }
        write_json(run_dir / "series.json", self.info)

    def restore(self, run_dir: Path) -> None:
        self.scalers = load_scalers(Path(run_dir) / "scaler.json")
        info_path = Path(run_dir) / "series.json"
        if not info_path.is_file():
            raise RnnkitError(f"run directory {run_dir}: series.json is missing")
        self.info = json.loads(info_path.read_text())

    def _ensure_data(self) -> None:
        if self.data is None:  # after restore: read the series again, keep the saved scalers
            self._attach(self.load_data())

    def _remap_static(self, data: SeriesData) -> SeriesData:
        """Re-code ``data``'s categorical static columns with the trained vocabularies
        (categories unseen in training become 0, "unknown")."""
        vocab = self.info.get("static_vocab") or {}
        if data.static_cat is None or not vocab:
            return data
        values = decode_categories(data.static_cat, data.static_vocab)
        names = list(data.static_cat_names)
        trained = StaticFeatures(names, [], {col: vocab[col] for col in names})
        codes, _ = trained.transform(values, rows=len(data.static_cat))  # (S, Kc)
        data.static_cat, data.static_vocab = codes, dict(vocab)
        return data

    def set_data(self, source: str) -> None:
        """Evaluate on another file with the same columns (scalers stay as trained)."""
        self._attach(self.load_data(source))

    def describe_data(self) -> str:
        """One line about the data (what was read, what was interpolated)."""
        self._ensure_data()
        assert self.data is not None
        sizes = ", ".join(f"{k} {len(s.windows)}" for k, s in self.splits.items())
        return f"{self.data.describe()}; windows: {sizes}"

    def batches(
        self, split: str, *, shuffle: bool = False, generator: torch.Generator | None = None
    ) -> Iterator[Batch]:
        self._ensure_data()
        s = self.splits[split]
        bs = self.cfg.train.batch_size
        for idx in batch_indices(len(s.windows), bs, shuffle=shuffle, generator=generator):
            ctx = s.context[idx]
            yield Batch(
                inputs=ctx,
                lengths=torch.full((len(idx),), ctx.shape[1], dtype=torch.int64),
                targets=s.targets[idx],
                extras=self._extras(s, idx),
            )

    def _extras(self, s: _Split, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """The model's keyword inputs for windows ``idx`` (empty tensors when unused)."""
        extras = {
            "future": s.future[idx],  # (B, H, K)
            "static_cat": s.static_cat[idx],  # (B, Kc)
            "static_num": s.static_num[idx],  # (B, Kn)
        }
        if self._model_config().output == "rollout":
            extras["teacher"] = s.teacher[idx]  # (B, H-1, F)
        return extras

    def split_size(self, split: str) -> int:
        self._ensure_data()
        return len(self.splits[split].windows)

    # ------------------------------------------------------------------ model
    def _model_config(self) -> ForecasterConfig:
        """``cfg.model``, the forecaster's own config (``model_config`` of this task)."""
        return cast(ForecasterConfig, self.cfg.model)

    def _shapes(self) -> dict[str, Any]:
        if not self.info and self.data is not None:
            C, P, K = (a.shape[1] for a in (self.data.targets, self.data.past, self.data.future))
            cards = [len(self.data.static_vocab[c]) for c in self.data.static_cat_names]
            n_num = len(self.data.static_num_names)
        else:
            info = self.info
            C, P, K = (len(info[k]) for k in ("target_names", "past_names", "future_names"))
            cards = [len(info["static_vocab"][c]) for c in info["static_cat_names"]]
            n_num = len(info["static_num_names"])
        return {"C": C, "P": P, "K": K, "cards": cards, "n_num": n_num}

    def build_model(self) -> nn.Module:
        d: ForecastData = self.cfg.data
        m = self._model_config()
        s = self._shapes()
        return Forecaster.from_config(
            m,
            input_size=s["C"] + s["P"] + s["K"],
            num_targets=s["C"],
            horizon=d.horizon,
            future_size=s["K"],
            output=m.output,
            residual=m.residual,
            season=self.data.seasonality if self.data is not None else self.info["seasonality"],
            static_cardinalities=s["cards"],
            static_numeric=s["n_num"],
            static_fusion=m.static_fusion,
            static_size=m.static_size,
        )

    def export_info(self) -> dict[str, Any]:
        """How recent values become the exported graph's ``context`` and back."""
        d: ForecastData = self.cfg.data
        info = self.info
        return {
            "input": "context (B, T, F): per step [targets, past covariates, future "
            "covariates of the next step], each scaled by scaler.json (after log for "
            "use_log); the output forecast (B, H, C) is scaled: invert it",
            "context": d.context,
            "horizon": d.horizon,
            "targets": info.get("target_names"),
            "past_covariates": info.get("past_names"),
            "future_covariates": info.get("future_names"),
            "use_log": info.get("use_log"),
        }

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        out = model(batch.inputs, **batch.extras)
        targets = batch.required_targets()  # (B, H, C)
        if cast(Forecaster, model).output == "direct":
            return F.mse_loss(out, targets)  # (B, H, C)
        # rollout: one-step targets after every context and teacher-forced horizon step
        C = targets.shape[-1]
        y = torch.cat([batch.inputs[:, 1:, :C], targets], dim=1)  # (B, L+H-1, C)
        return F.mse_loss(out, y)

    @torch.no_grad()
    def predict_split(self, model: nn.Module, split: str) -> np.ndarray:
        """Forecasts ``(W, H, C)`` in raw units for every window of ``split``."""
        model.eval()
        outs = []
        for batch in self.batches(split):
            batch = batch.to(next(model.parameters()).device)
            ex = batch.extras  # future (B, H, K), static_cat (B, Kc), static_num (B, Kn)
            y = cast(Forecaster, model).forecast(
                batch.inputs, ex.get("future"), ex.get("static_cat"), ex.get("static_num")
            )  # (B, H, C)
            outs.append(y.float().cpu().numpy())
        scaled = np.concatenate(outs, axis=0)
        return self.scalers["targets"].inverse(scaled)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        self._ensure_data()
        s = self.splits[split]
        if len(s.windows) == 0:
            raise RnnkitError(f"the {split} split has no windows: lower data.context/horizon")
        was_training = model.training
        pred = self.predict_split(model, split)  # (W, H, C)
        model.train(was_training)
        scaled = torch.as_tensor(self.scalers["targets"].transform(pred), dtype=torch.float32)
        out = {"loss": float(F.mse_loss(scaled, s.targets))}
        out.update(forecast_metrics(s.raw_targets, pred, self.scale))
        out["rmse_h1"] = float(np.sqrt(np.mean((s.raw_targets[:, 0] - pred[:, 0]) ** 2)))
        return out

    def search_space(self) -> list[Param]:
        """The stack's space and the input window (``data.context``)."""
        from rnnkit.tune.space import choice, stack_space

        context = self.cfg.data.context
        return [
            *stack_space(self),
            choice("data.context", *sorted({max(1, context // 2), context, 2 * context})),
        ]

    def baselines(self) -> dict[str, dict[str, float]]:
        self._ensure_data()
        assert self.data is not None
        s = self.splits["test"]
        H, m = self.cfg.data.horizon, self.data.seasonality
        y = self.data.targets
        out = {}
        for name, fc in (
            ("naive", naive(y, s.windows.origin, H)),
            ("seasonal_naive", seasonal_naive(y, s.windows.origin, H, m)),
        ):
            metrics = forecast_metrics(s.raw_targets, fc, self.scale)
            metrics["rmse_h1"] = float(np.sqrt(np.mean((s.raw_targets[:, 0] - fc[:, 0]) ** 2)))
            out[name] = metrics
        return out

    # ------------------------------------------------------------------ after training
    def explain_input(self, model: nn.Module, spec: str) -> ExplainInput:
        """IG of the first forecast value over the scaled context window ``split:INDEX``."""
        return forecaster_input(self, model, spec, self.scalers.get("targets"))

    @torch.no_grad()
    def forecast_series(
        self,
        model: nn.Module,
        horizon: int | None = None,
        *,
        source: str | None = None,
        backtest: bool = False,
    ) -> list[dict[str, Any]]:
        """Forecast ``horizon`` steps after the end of every series (or, with ``backtest``,
        of the series cut ``horizon`` steps before its end, so the actual values are known).

        Returns one dict per series: ``id``, ``time`` ``(N,)`` and ``values`` ``(N, C)`` of
        the history, ``future_time`` ``(h,)``, ``forecast`` ``(h, C)`` and ``actual``
        ``(h, C)`` or None, all in the data's own units.
        """
        from rnnkit.data.timeseries import future_times

        d: ForecastData = self.cfg.data
        horizon = horizon or d.horizon
        if horizon < 1:
            raise RnnkitError(f"--horizon must be >= 1, got {horizon}")
        data = self.load_data(source) if source or self.data is None else self.data
        self.data = data
        if data.future.shape[1] and not backtest:
            raise RnnkitError(
                "this model uses future covariates "
                f"({', '.join(data.future_names)}), whose values after the end of the data "
                "are unknown; use --backtest to forecast the last steps of the data"
            )
        x, fut = self._features(data)
        device = next(model.parameters()).device
        model.eval()
        out = []
        for s, ((a, b), sid) in enumerate(zip(data.segments, data.series_ids)):
            end = b - horizon if backtest else b
            if end - a < d.context:
                raise RnnkitError(
                    f"series {sid!r}: {end - a} steps before the forecast origin, fewer than "
                    f"data.context={d.context}"
                )
            ctx = torch.as_tensor(x[end - d.context : end], dtype=torch.float32)[None]
            extras: dict[str, torch.Tensor | None] = {"future": None}
            if data.future.shape[1]:
                extras["future"] = torch.as_tensor(fut[end : end + horizon], dtype=torch.float32)[
                    None
                ]
            if data.static_cat is not None:
                extras["static_cat"] = torch.as_tensor(data.static_cat[s : s + 1])
            if data.static_num is not None and data.static_num.shape[1]:
                num = self.scalers["static_numeric"].transform(data.static_num[s : s + 1])
                extras["static_num"] = torch.as_tensor(num, dtype=torch.float32)
            extras = {k: (v.to(device) if v is not None else None) for k, v in extras.items()}
            y = cast(Forecaster, model).forecast(ctx.to(device), horizon=horizon, **extras)
            pred = self.scalers["targets"].inverse(y[0].float().cpu().numpy())
            ahead = None if backtest else future_times(data.time[a:b], horizon)
            out.append(
                {
                    "id": sid,
                    "time": data.time[a:end],
                    "values": data.targets[a:end],
                    "future_time": data.time[end:b] if backtest else ahead,
                    "forecast": pred,
                    "actual": data.targets[end:b] if backtest else None,
                }
            )
        return out

    def predict(self, model: nn.Module, inputs: list[str]) -> list[dict[str, Any]]:
        """Forecast from recent values given as text: ``"v1,v2,...,vL"`` (one target, no
        covariates; at least ``data.context`` values, the last L are used). Returns
        ``{"forecast": [H values]}`` per input."""
        d: ForecastData = self.cfg.data
        s = self._shapes()
        if s["C"] != 1 or s["P"] or s["K"] or s["cards"] or s["n_num"]:
            raise RnnkitError(
                "predict takes plain values for a model with one target and no covariates; "
                "use `rnnkit forecast RUN_DIR --data FILE` for this model"
            )
        out = []
        for text in inputs:
            try:
                values = np.asarray([float(v) for v in text.replace(" ", "").split(",") if v])
            except ValueError:
                raise RnnkitError(
                    f"INPUT {text[:40]!r}: expected comma-separated numbers"
                ) from None
            if len(values) < d.context or not np.isfinite(values).all():
                raise RnnkitError(
                    f"INPUT {text[:40]!r}: expected at least data.context={d.context} finite "
                    f"values, got {len(values)}"
                )
            z = self.scalers["targets"].transform(values[-d.context :, None])
            ctx = torch.as_tensor(z, dtype=torch.float32)[None]  # (1, L, 1)
            y = cast(Forecaster, model).forecast(ctx.to(next(model.parameters()).device))
            pred = self.scalers["targets"].inverse(y[0].float().cpu().numpy())[:, 0]
            out.append({"forecast": [round(float(v), 6) for v in pred]})
        return out

    def input_cuts(self, inputs: Sequence[str]) -> list[str]:
        """``"500 values; the model reads the last 24 (data.context)"`` for each input with
        more than ``data.context`` values, else ``""``."""
        context = self.cfg.data.context
        counts = [len([v for v in text.replace(" ", "").split(",") if v]) for text in inputs]
        return [
            f"{n} values; the model reads the last {context} (data.context={context})"
            if n > context
            else ""
            for n in counts
        ]

    def format_prediction(self, input: str, prediction: dict[str, Any]) -> str:
        values = ", ".join(f"{v:.4g}" for v in prediction["forecast"])
        return f"forecast: {values}"
