"""Timing helpers for the benchmarks: interleaved repetitions, medians, a matmul peak and a
description of the machine, so that every figure is a ratio taken in the same run."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable

import torch


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds one call of ``fn`` takes, GPU work included."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def interleaved(
    fns: dict[str, Callable[[], object]], device: torch.device, reps: int = 5, warmup: int = 1
) -> dict[str, float]:
    """Median seconds per call of each function, timed in turn (A, B, C, then B, C, A, ...).

    Interleaving spreads the load of a shared machine over every contender alike, and the
    order rotates each repetition so that no one always runs right after another.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for rep in range(reps):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            times[name].append(time_call(fns[name], device))
    return {name: statistics.median(ts) for name, ts in times.items()}


def matmul_peak_gflops(
    device: torch.device, dtype: torch.dtype = torch.float32, n: int = 1024, reps: int = 7
) -> float:
    """The achieved GFLOP/s of an ``n x n`` matrix product: the roof for the RNN figures."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = interleaved({"mm": lambda: a @ b}, device, reps=reps, warmup=2)["mm"]
    return 2 * n**3 / best / 1e9


def machine(device: torch.device) -> str:
    """One line naming the machine: CPU/GPU, torch version, threads and the load average."""
    if device.type == "cuda":
        what = torch.cuda.get_device_name(device)
    else:
        what = _cpu_name() or platform.processor() or "CPU"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{what}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, load average {load:.1f} at start"
    )


def _cpu_name() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None
