"""Speed of rnnkit's RNN / LSTM / GRU backends against torch.nn, on the grid S1..S5.

For every configuration of the grid (``GRID`` below: the project's standard sizes S1..S5)
and every cell, torch.nn and each
rnnkit backend (same weights) are timed in turn, interleaved, median of ``--reps``; the
table gives the time, the ratio to torch.nn measured in the same run, the achieved GFLOP/s
and its share of a matrix-multiply peak measured in the same run, and the largest output
difference to torch.nn (a check that the same thing was timed).

    python3 benchmarks/speed.py                       # the full grid
    python3 benchmarks/speed.py --quick               # a small subset, ~1 minute
    python3 benchmarks/speed.py --out docs/benchmarks/speed.md

A cell whose estimated time (from one call on a short prefix) exceeds ``--budget`` seconds
is reported as skipped with the estimate, instead of running for minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from _timing import interleaved, machine, matmul_peak_gflops, time_call
from torch import nn

import rnnkit
from rnnkit.io import write_text


@dataclass(frozen=True)
class Config:
    """One row of the speed grid."""

    id: str
    what: str
    batch: int
    steps: int
    input_size: int
    hidden_size: int
    num_layers: int
    train: bool  # a training step (forward + backward) or inference (forward, no grad)


GRID = [
    Config("S1", "sentiment training step", 64, 200, 128, 128, 2, True),
    Config("S2", "char-LM training step", 32, 128, 64, 512, 1, True),
    Config("S3", "long sequence training step", 16, 2000, 32, 128, 1, True),
    Config("S4", "streaming inference", 1, 500, 32, 256, 1, False),
    Config("S5", "large batch inference", 256, 100, 256, 256, 1, False),
]
# cell -> (rnnkit class, torch.nn class, forward FLOPs per step and sample / (H (I + H)))
CELLS = {
    "LSTM": (rnnkit.LSTM, nn.LSTM, 8),
    "GRU": (rnnkit.GRU, nn.GRU, 6),
    "RNN": (rnnkit.RNN, nn.RNN, 2),
}
BACKENDS = ("native", "bptt", "reference")
MATMUL_N = 1024  # the matrix product whose GFLOP/s is the roof


def flops(cfg: Config, factor: int) -> float:
    """FLOPs of one call: ``factor * H * (I_k + H)`` per step, sample and layer; x3 to train."""
    per_step = sum(
        factor
        * cfg.hidden_size
        * ((cfg.input_size if k == 0 else cfg.hidden_size) + cfg.hidden_size)
        for k in range(cfg.num_layers)
    )
    return per_step * cfg.batch * cfg.steps * (3 if cfg.train else 1)


def make_step(module: nn.Module, x: torch.Tensor, train: bool) -> Callable[[], None]:
    """One training step (forward + backward of the summed output) or one inference call."""
    if train:

        def step() -> None:
            module.zero_grad(set_to_none=True)
            out, _ = module(x)
            out.sum().backward()

    else:

        def step() -> None:
            with torch.no_grad():
                module(x)

    return step


def estimate_seconds(
    module: nn.Module, x: torch.Tensor, train: bool, device: torch.device
) -> float:
    """Seconds of one full call, extrapolated from a call on a prefix of at most 32 steps."""
    prefix = min(x.shape[1], 32)
    step = make_step(module, x[:, :prefix], train)
    step()  # warm up
    return time_call(step, device) * x.shape[1] / prefix


def bench_cell(
    cfg: Config, cell: str, backends: list[str], args: argparse.Namespace, device: torch.device
) -> list[dict]:
    """Time torch.nn and every backend on one configuration; one result row per backend."""
    ours_cls, torch_cls, factor = CELLS[cell]
    torch.manual_seed(0)
    kwargs = {"num_layers": cfg.num_layers, "batch_first": True, "device": device}
    reference = torch_cls(cfg.input_size, cfg.hidden_size, **kwargs)
    x = torch.randn(cfg.batch, cfg.steps, cfg.input_size, device=device)
    with torch.no_grad():
        expected = reference(x)[0]
    mm_a, mm_b = (torch.randn(MATMUL_N, MATMUL_N, device=device) for _ in range(2))
    fns = {"torch.nn": make_step(reference, x, cfg.train), "matmul": lambda: mm_a @ mm_b}
    rows, skipped = [], {}
    for backend in backends:
        ours = ours_cls(cfg.input_size, cfg.hidden_size, backend=backend, **kwargs)
        ours.load_state_dict(reference.state_dict())
        est = estimate_seconds(ours, x, cfg.train, device)
        if est * (args.reps + 1) > args.budget:
            skipped[backend] = est
            continue
        with torch.no_grad():
            diff = (ours(x)[0] - expected).abs().max().item()
        assert ours.last_backend == backend
        fns[backend] = make_step(ours, x, cfg.train)
        rows.append({"backend": backend, "diff": diff})
    medians = interleaved(fns, device, reps=args.reps, warmup=1)
    base = medians["torch.nn"]
    peak = 2 * MATMUL_N**3 / medians["matmul"] / 1e9  # the roof, timed with the others
    work = flops(cfg, factor)
    results = []
    for row in rows:
        t = medians[row["backend"]]
        results.append({**row, "torch_s": base, "s": t, "gflops": work / t / 1e9, "peak": peak})
    for backend, est in skipped.items():
        results.append({"backend": backend, "torch_s": base, "skipped": est})
    order = {b: i for i, b in enumerate(backends)}
    return sorted(results, key=lambda r: order[r["backend"]])


def table(results: list[tuple[Config, str, dict]]) -> str:
    """The results as a markdown table."""
    lines = [
        "| id | cell | mode | torch.nn ms | backend | ms | x torch.nn | GFLOP/s | % of peak "
        "| max abs diff |",
        "|---|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for cfg, cell, r in results:
        mode = "train" if cfg.train else "infer"
        head = f"| {cfg.id} | {cell} | {mode} | {r['torch_s'] * 1e3:.1f} | {r['backend']} "
        if "skipped" in r:
            lines.append(
                head + f"| skipped (too slow; est. {r['skipped']:.0f} s per call) | | | | |"
            )
        else:
            lines.append(
                head + f"| {r['s'] * 1e3:.1f} | {r['s'] / r['torch_s']:.2f} | "
                f"{r['gflops']:.1f} | {100 * r['gflops'] / r['peak']:.0f}% | {r['diff']:.1e} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="S4 and S5, LSTM and GRU, native and bptt"
    )
    parser.add_argument("--configs", nargs="+", default=None, help="subset of S1..S5")
    parser.add_argument("--cells", nargs="+", default=None, choices=sorted(CELLS))
    parser.add_argument("--backends", nargs="+", default=None, choices=BACKENDS)
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions (median); >= 5")
    parser.add_argument(
        "--budget", type=float, default=60.0, help="skip a cell estimated above this many seconds"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    parser.add_argument("--out", default=None, help="write the markdown report here")
    args = parser.parse_args(argv)
    if args.reps < 5:
        parser.error(f"--reps must be >= 5 (a median of at least 5), got {args.reps}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    configs = args.configs or (["S4", "S5"] if args.quick else [c.id for c in GRID])
    cells = args.cells or (["LSTM", "GRU"] if args.quick else list(CELLS))
    backends = args.backends or (["native", "bptt"] if args.quick else list(BACKENDS))
    unknown = sorted(set(configs) - {c.id for c in GRID})
    if unknown:
        parser.error(f"--configs: unknown {unknown}; expected some of S1..S5")

    started = time.time()
    about = machine(device)
    print(f"{about}\nmatmul peak now: {matmul_peak_gflops(device):.1f} GFLOP/s", flush=True)
    results = []
    for cfg in (c for c in GRID if c.id in configs):
        for cell in cells:
            for r in bench_cell(cfg, cell, backends, args, device):
                results.append((cfg, cell, r))
                print(table([(cfg, cell, r)]).splitlines()[-1], flush=True)
    report = table(results)
    peaks = [r["peak"] for _, _, r in results if "peak" in r] or [float("nan")]
    print(report)
    if args.out:
        command = "python3 benchmarks/speed.py " + " ".join(sys.argv[1:] if argv is None else argv)
        noise = noise_note(results)
        write_text(args.out, render(command, about, peaks, report + noise, time.time() - started))
        print(f"wrote {args.out}")
    return 0


def noise_note(results: list[tuple[Config, str, dict]]) -> str:
    """The spread of native / torch.nn: the same kernel timed twice, so it is the run's noise."""
    ratios = [r["s"] / r["torch_s"] for _, _, r in results if r["backend"] == "native" and "s" in r]
    if not ratios:
        return ""
    return (
        f"\n\n`native` runs the very kernel torch.nn runs, so its ratios, here "
        f"{min(ratios):.2f} to {max(ratios):.2f}, show the noise of this run: read a ratio "
        "inside that band as equal to torch.nn."
    )


def render(command: str, about: str, peaks: list[float], report: str, seconds: float) -> str:
    """The markdown document for docs/benchmarks/speed.md."""
    grid = "\n".join(
        f"| {c.id} | {c.what} | {c.batch} | {c.steps} | {c.input_size} | {c.hidden_size} "
        f"| {c.num_layers} |"
        for c in GRID
    )
    return f"""# Speed of the recurrent layers (rnnkit.RNN / LSTM / GRU)

Made by `{command.strip()}` ({seconds:.0f} s).

Machine: {about}.
Matrix-multiply peak (float32, {MATMUL_N} x {MATMUL_N}), timed interleaved with each row's
contenders so that `% of peak` compares like with like: {min(peaks):.1f} to
{max(peaks):.1f} GFLOP/s over the run.

Each row times torch.nn and one rnnkit backend with the same weights, float32, interleaved
in the same run, median of the repetitions. `x torch.nn` is our time over torch.nn's
(below 1 is faster). GFLOP/s counts Elman 2H(I+H), GRU 6H(I+H), LSTM 8H(I+H) per step,
sample and layer, x3 for a training step (forward + backward of the summed output).
`max abs diff` is the largest difference of our output from torch.nn's on that input.

| id | what | B | T | input | hidden | layers |
|---|---|---|---|---|---|---|
{grid}

{report}
"""


if __name__ == "__main__":
    raise SystemExit(main())
