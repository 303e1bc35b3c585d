"""``rnnkit forecast RUN_DIR``: forecast the next steps of a trained forecast run's series.

Prints the forecast table, writes it as CSV with ``--out`` (atomically) and draws the
history, the forecast and, where known, the actual values with ``--plot FILE.png``.
``--backtest`` cuts the last ``--horizon`` steps off each series and forecasts them, so
the plot and the CSV show the actual values beside the forecast.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.errors import RnnkitError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "forecast",
        help="forecast the next steps with a trained forecast run",
        description="Forecast the steps after the end of the data with a forecast run.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory of `rnnkit train forecast`")
    p.add_argument(
        "--horizon", type=int, default=None, help="steps to forecast (default: the trained one)"
    )
    p.add_argument(
        "--data", default=None, help="a built-in name or a file with the run's columns "
        "(default: the run's own data)",
    )  # fmt: skip
    p.add_argument("--plot", default=None, metavar="FILE.png", help="draw history and forecast")
    p.add_argument("--out", default=None, metavar="FILE.csv", help="write the forecast as CSV")
    p.add_argument(
        "--backtest", action="store_true",
        help="forecast the last HORIZON steps of the data instead, beside their actual values",
    )  # fmt: skip
    p.add_argument(
        "--history", type=int, default=0,
        help="history steps drawn in the plot (default: 4 x horizon, at least 48)",
    )  # fmt: skip
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.set_defaults(run=run)


def forecast_frame(results: list[dict[str, Any]], target_names: list[str], fmt: str) -> Any:
    """One row per series and forecast step: ``series, time, <target>, [<target>_actual]``."""
    import pandas as pd

    from rnnkit.data.timeseries import format_times

    frames = []
    for r in results:
        cols: dict[str, Any] = {"time": format_times(np.asarray(r["future_time"]), fmt)}
        if len(results) > 1:
            cols = {"series": [r["id"]] * len(cols["time"]), **cols}
        for j, name in enumerate(target_names):
            cols[name] = r["forecast"][:, j]
            if r["actual"] is not None:
                cols[f"{name}_actual"] = r["actual"][:, j]
        frames.append(pd.DataFrame(cols))
    return pd.concat(frames, ignore_index=True)


def plot_forecast(
    path: str | Path,
    results: list[dict[str, Any]],
    target_names: list[str],
    *,
    history: int,
    title: str,
) -> None:
    """Draw history, forecast and actual values (one panel per series and target, up to
    8) into a PNG at ``path`` (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rnnkit.io import atomic_path

    panels = [(r, j) for r in results for j in range(len(target_names))][:8]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.6 * len(panels)), squeeze=False)
    for ax, (r, j) in zip(axes[:, 0], panels):
        t, v = r["time"][-history:], r["values"][-history:, j]
        ax.plot(t, v, color="0.3", lw=1.2, label="history")
        ft = np.asarray(r["future_time"])
        # join the forecast to the last observed point
        ax.plot(np.r_[t[-1:], ft], np.r_[v[-1:], r["forecast"][:, j]], color="C1", lw=1.8,
                label="forecast")  # fmt: skip
        if r["actual"] is not None:
            ax.plot(np.r_[t[-1:], ft], np.r_[v[-1:], r["actual"][:, j]], color="C0", lw=1.2,
                    ls="--", label="actual")  # fmt: skip
        name = target_names[j] + (f" — {r['id']}" if len(results) > 1 else "")
        ax.set_title(name, fontsize=10, loc="left")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    from rnnkit.api import load
    from rnnkit.io import write_text
    from rnnkit.rundir import check_output, writing_outputs
    from rnnkit.runs import read_config
    from rnnkit.tasks import get_task_class

    if args.horizon is not None and args.horizon < 1:
        raise RnnkitError(f"--horizon must be >= 1, got {args.horizon}")
    for option, path in (("--out", args.out), ("--plot", args.plot)):
        if path:
            check_output(path, option)  # before the work: never a file of a run
    get_task_class(read_config(args.run_dir).task).require("forecast", "rnnkit forecast")
    run_obj = load(args.run_dir, device=args.device)
    task = run_obj.task
    results = task.forecast_series(
        run_obj.model, args.horizon, source=args.data, backtest=args.backtest
    )
    data = task.data  # type: ignore[attr-defined]  # a forecast task (required above)
    print(data.describe())
    frame = forecast_frame(results, data.target_names, data.time_format)
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.backtest:
        from rnnkit.metrics.forecasting import mae, rmse

        a = np.concatenate([r["actual"] for r in results])
        f = np.concatenate([r["forecast"] for r in results])
        print(f"backtest: MAE {mae(a, f):.4g}  RMSE {rmse(a, f):.4g}")
    with writing_outputs(args.out, args.plot):  # into a run: while no training writes it
        if args.out:
            write_text(args.out, frame.to_csv(index=False))
            print(f"wrote {args.out}")
        if args.plot:
            horizon = len(results[0]["forecast"])
            history = args.history or max(48, 4 * horizon)
            what = "backtest" if args.backtest else "forecast"
            title = f"{data.name}: {what} of {horizon} steps ({Path(args.run_dir).name})"
            plot_forecast(args.plot, results, data.target_names, history=history, title=title)
            print(f"wrote {args.plot}")
    return 0
