"""Deployment cost of a sentiment run: model latency and HTTP throughput, torch / ONNX / int8.

Two tables, on a run directory of the main job (``rnnkit train sentiment``; the model
matters, its accuracy does not, so a short run will do):

1. **Model latency**: one call of the task's own ``predict`` (tokenising included) on
   batches of 1 and 64 test texts of the built-in Rotten Tomatoes data, for the PyTorch
   model, the exported ONNX graph in ONNX Runtime, and its dynamic int8 twin; medians of
   interleaved repetitions.
2. **Server under load**: ``rnnkit serve RUN --engine E`` started in its own process on a
   free loopback port, queried by an asyncio client (httpx) in this process at concurrency
   1, 8 and 32 (one text per request), with batching (a 5 ms window) and without
   (``--batch-window-ms 0``); requests/s and p50/p99 latency. Each cell is bounded by
   ``--requests`` and ``--seconds``.

The client shares the machine with the server (on a 2-core machine each takes one core):
the figures are the throughput of one machine serving itself, not of a dedicated server.

    rnnkit train sentiment --out runs/bench-serve --set train.epochs=1
    python3 benchmarks/serve.py runs/bench-serve --out docs/benchmarks/serve.md

Needs the deploy extra (onnx, onnxruntime, fastapi, uvicorn, httpx).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import torch
from _timing import interleaved, machine

import rnnkit
from rnnkit.data.text import load_text_dataset
from rnnkit.io import write_text

ENGINES = ("torch", "onnx", "onnx-int8")


def _texts(n: int) -> list[str]:
    """``n`` test texts of the built-in Rotten Tomatoes data (its fixed split)."""
    test = load_text_dataset("rotten_tomatoes").test
    assert test.texts is not None
    return [test.texts[i % len(test.texts)] for i in range(n)]


def model_latency(run_dir: Path, reps: int) -> list[str]:
    """Rows of table 1: ms per ``predict`` call at batch 1 and 64, per engine."""
    from rnnkit.deploy.engine import OnnxModel

    run = rnnkit.load(run_dir)
    models = {
        "torch": run.model,
        "onnx": OnnxModel(run.model),
        "onnx-int8": OnnxModel(run.model, int8=True),
    }
    texts = _texts(64)
    rows = []
    cpu = torch.device("cpu")
    for batch in (1, 64):
        chunk = texts[:batch]

        def call(model: torch.nn.Module, chunk: list[str] = chunk) -> None:
            with torch.no_grad():
                run.task.predict(model, chunk)

        fns = {name: (lambda m=m: call(m)) for name, m in models.items()}
        times = interleaved(fns, cpu, reps=reps, warmup=2)
        base = times["torch"]
        for name in ENGINES:
            rows.append(
                f"| {batch} | {name} | {times[name] * 1e3:.2f} | {times[name] / base:.2f} |"
            )
    return rows


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(run_dir: Path, engine: str, window_ms: float) -> tuple[subprocess.Popen, str]:
    """``rnnkit serve`` in its own process; returns it and its base URL once /health answers."""
    import httpx

    port = _free_port()
    cmd = [
        sys.executable, "-m", "rnnkit", "serve", str(run_dir), "--port", str(port),
        "--engine", engine, "--batch-window-ms", str(window_ms),
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")  # the server's core; the client has the other
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise SystemExit(f"rnnkit serve --engine {engine} exited: {err.strip()}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"rnnkit serve --engine {engine} did not answer /health within 120 s")


async def _load(url: str, texts: list[str], concurrency: int, requests: int, seconds: float):
    """Requests/s and the per-request latencies (s) of ``concurrency`` clients in a loop."""
    import httpx

    latencies: list[float] = []
    sent = 0
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def worker() -> None:
            nonlocal sent
            while sent < requests and time.monotonic() < stop:
                text = texts[sent % len(texts)]
                sent += 1
                t0 = time.perf_counter()
                r = await client.post("/predict", json={"inputs": [text]})
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    raise SystemExit(f"/predict answered {r.status_code}: {r.text[:200]}")

        for _ in range(min(concurrency, 4)):  # warm-up: a few requests, not timed
            await client.post("/predict", json={"inputs": [texts[0]]})
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return len(latencies) / elapsed, latencies


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def server_load(run_dir: Path, requests: int, seconds: float) -> list[str]:
    """Rows of table 2: per engine, batching and concurrency, req/s and p50/p99 in ms."""
    texts = _texts(512)
    rows = []
    for engine in ENGINES:
        for window in (5.0, 0.0):
            proc, url = _start_server(run_dir, engine, window)
            try:
                for conc in (1, 8, 32):
                    rps, lat = asyncio.run(_load(url, texts, conc, requests, seconds))
                    rows.append(
                        f"| {engine} | {'5 ms' if window else 'off'} | {conc} | {rps:.0f} | "
                        f"{_percentile(lat, 0.5) * 1e3:.1f} | {_percentile(lat, 0.99) * 1e3:.1f} "
                        f"| {len(lat)} |"
                    )
                    print(rows[-1], flush=True)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a sentiment run directory")
    parser.add_argument("--reps", type=int, default=15, help="latency repetitions (median)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per load cell")
    parser.add_argument("--seconds", type=float, default=8.0, help="time per load cell")
    parser.add_argument("--skip-load", action="store_true", help="only the latency table")
    parser.add_argument("--out", type=Path, default=None, help="write the markdown here")
    args = parser.parse_args()
    torch.manual_seed(0)
    head = machine(torch.device("cpu"))
    print(head, flush=True)
    lines = [
        "# Deployment cost: sentiment run, torch / ONNX Runtime / int8",
        "",
        f"Machine: {head}",
        f"Run: `{args.run_dir}`; command: `python3 benchmarks/serve.py {args.run_dir}`",
        "",
        "## Model latency: one `predict` call (tokenising included), median of "
        f"{args.reps} interleaved repetitions",
        "",
        "| batch | engine | ms | x torch |",
        "|---:|---|---:|---:|",
        *model_latency(args.run_dir, args.reps),
    ]
    print("\n".join(lines[-8:]), flush=True)
    if not args.skip_load:
        lines += [
            "",
            "## Server under load: one text per request; the server in its own process, "
            f"the client in this one, on loopback; each cell at most {args.requests} "
            f"requests or {args.seconds:g} s",
            "",
            "| engine | batching | concurrency | req/s | p50 ms | p99 ms | requests |",
            "|---|---|---:|---:|---:|---:|---:|",
            *server_load(args.run_dir, args.requests, args.seconds),
        ]
    lines += ["", f"Load average at the end: {os.getloadavg()[0]:.2f}"]
    text = "\n".join(lines) + "\n"
    if args.out:
        write_text(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
