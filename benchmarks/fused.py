"""Speed of rnnkit's fused C++ kernels against torch.nn and the PyTorch BPTT twin.

For each configuration of the speed grid (``GRID`` below: the project's standard sizes
S1..S5 and the ragged rows R1/R2) and each cell (LSTM, GRU, Elman tanh), times in turn,
interleaved, median of ``--reps``, with the same weights:

* ``torch.nn``: torch.nn.LSTM / GRU / RNN (on a PackedSequence for the ragged rows),
* ``fused``: :mod:`rnnkit.fused` one layer at a time (a layer's output feeds the next),
* ``bptt``: :mod:`rnnkit.cells` ``mode="bptt"`` the same way,
* for the ragged rows also ``torch.nn unpadded``: torch.nn on the same batch without lengths,

and prints each time, its ratio to torch.nn in the same run, GFLOP/s and the share of a
matrix-multiply peak timed with the row, and the largest output difference to torch.nn.
Run it on a quiet machine only (the load average is printed):

    python3 -m rnnkit.fused.build           # once
    python3 benchmarks/fused.py             # the whole grid, every cell
    python3 benchmarks/fused.py --configs S1 R2 --cells LSTM --reps 7
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

import torch
from _timing import interleaved, machine, matmul_peak_gflops
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit import cells, fused


@dataclass(frozen=True)
class Config:
    """One row: sizes, training step or inference, and the range of lengths (None: full)."""

    id: str
    batch: int
    steps: int
    input_size: int
    hidden_size: int
    num_layers: int
    train: bool
    lengths: tuple[int, int] | None = None  # lengths drawn uniformly in [low, high]


GRID = [
    Config("S1", 64, 200, 128, 128, 2, True),
    Config("S2", 32, 128, 64, 512, 1, True),
    Config("S3", 16, 2000, 32, 128, 1, True),
    Config("S4", 1, 500, 32, 256, 1, False),
    Config("S5", 256, 100, 256, 256, 1, False),
    Config("R1", 64, 200, 128, 128, 2, True, (197, 200)),
    Config("R2", 64, 800, 128, 128, 2, True, (100, 800)),
]
# cell -> (torch.nn class, forward FLOPs per step and sample / (H (I + H)))
CELLS = {
    "LSTM": (nn.LSTM, 8),
    "GRU": (nn.GRU, 6),
    "RNN": (nn.RNN, 2),
}
MATMUL_N = 1024


def layer_weights(module: nn.Module, layer: int) -> list[torch.Tensor]:
    """torch.nn's (w_ih, w_hh, b_ih, b_hh) of one layer."""
    return [getattr(module, f"{kind}_l{layer}") for kind in ("weight_ih", "weight_hh",
                                                               "bias_ih", "bias_hh")]  # fmt: skip


Run = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x, lengths) -> out


def stack(cell: str, impl: str, module: nn.Module) -> Run:
    """The layers of ``module`` run one at a time through the fused kernels or the bptt twin."""

    def run(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        B, H = x.shape[0], module.hidden_size
        for layer in range(module.num_layers):
            w = layer_weights(module, layer)
            h0 = x.new_zeros(B, H)
            if cell == "LSTM":
                if impl == "fused":
                    x = fused.lstm_sequence(x, lengths, h0, h0, *w)[0]
                else:
                    x = cells.lstm_sequence(x, lengths, h0, h0, *w, mode="bptt")[0]
            elif cell == "GRU":
                if impl == "fused":
                    x = fused.gru_sequence(x, lengths, h0, *w)[0]
                else:
                    x = cells.gru_sequence(x, lengths, h0, *w, mode="bptt")[0]
            elif impl == "fused":
                x = fused.elman_sequence(x, lengths, h0, *w)[0]
            else:
                x = cells.elman_sequence(x, lengths, h0, *w, mode="bptt")[0]
        return x

    return run


def flops(cfg: Config, factor: int) -> float:
    """FLOPs of one call on the full padded length (x3 for a training step)."""
    per_step = sum(
        factor * cfg.hidden_size
        * ((cfg.input_size if k == 0 else cfg.hidden_size) + cfg.hidden_size)
        for k in range(cfg.num_layers)
    )  # fmt: skip
    return per_step * cfg.batch * cfg.steps * (3 if cfg.train else 1)


def timed(
    fn: Callable[[], torch.Tensor], params: list[torch.Tensor], train: bool
) -> Callable[[], None]:
    """A training step (forward + backward of the summed output) or an inference call."""

    def step() -> None:
        if train:
            for p in params:
                p.grad = None
            fn().sum().backward()
        else:
            with torch.no_grad():
                fn()

    return step


def bench(cfg: Config, cell: str, reps: int) -> dict[str, float]:
    """Median seconds of every contender on one row, plus the peak and the differences."""
    torch_cls, _ = CELLS[cell]
    torch.manual_seed(0)
    module = torch_cls(cfg.input_size, cfg.hidden_size, cfg.num_layers, batch_first=True)
    params = list(module.parameters())
    x = torch.randn(cfg.batch, cfg.steps, cfg.input_size)
    if cfg.lengths is None:
        lengths = torch.full((cfg.batch,), cfg.steps, dtype=torch.int64)
    else:
        lengths = torch.randint(cfg.lengths[0], cfg.lengths[1] + 1, (cfg.batch,))
        lengths[0] = cfg.lengths[1]

    def torch_nn() -> torch.Tensor:
        if cfg.lengths is None:
            return module(x)[0]
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        return module(packed)[0].data

    fused_run, bptt_run = stack(cell, "fused", module), stack(cell, "bptt", module)
    fns = {
        "torch.nn": timed(torch_nn, params, cfg.train),
        "fused": timed(lambda: fused_run(x, lengths), params, cfg.train),
        "bptt": timed(lambda: bptt_run(x, lengths), params, cfg.train),
    }
    if cfg.lengths is not None:
        fns["torch.nn unpadded"] = timed(lambda: module(x)[0], params, cfg.train)
    a, b = torch.randn(MATMUL_N, MATMUL_N), torch.randn(MATMUL_N, MATMUL_N)
    fns["matmul"] = lambda: a @ b
    with torch.no_grad():  # the ragged rows: against torch.nn's packed output, real steps
        if cfg.lengths is None:
            expected = module(x)[0]
        else:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            expected = pad_packed_sequence(module(packed)[0], True, total_length=cfg.steps)[0]
        real = (torch.arange(cfg.steps) < lengths[:, None])[..., None]  # (B, T, 1)
        diff = ((fused_run(x, lengths) - expected) * real).abs().max()
    medians = interleaved(fns, torch.device("cpu"), reps=reps, warmup=1)
    medians["peak"] = 2 * MATMUL_N**3 / medians.pop("matmul") / 1e9
    medians["diff"] = float(diff)
    return medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=[c.id for c in GRID])
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=sorted(CELLS))
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions (median); >= 5")
    args = parser.parse_args(argv)
    if args.reps < 5:
        parser.error(f"--reps must be >= 5 (a median of at least 5), got {args.reps}")
    unknown = sorted(set(args.configs) - {c.id for c in GRID})
    if unknown:
        parser.error(f"--configs: unknown {unknown}; expected some of {[c.id for c in GRID]}")
    fused.ensure_available()
    device = torch.device("cpu")
    print(f"{machine(device)}\nmatmul peak now: {matmul_peak_gflops(device):.1f} GFLOP/s")
    print("| id | cell | mode | contender | ms | x torch.nn | GFLOP/s | % of peak | max abs diff |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|")
    for cfg in (c for c in GRID if c.id in args.configs):
        for cell in args.cells:
            m = bench(cfg, cell, args.reps)
            work = flops(cfg, CELLS[cell][1])
            mode = "train" if cfg.train else "infer"
            for name in ("torch.nn", "fused", "bptt", "torch.nn unpadded"):
                if name not in m:
                    continue
                s = m[name]
                diff = f"{m['diff']:.1e}" if name == "fused" else ""
                print(
                    f"| {cfg.id} | {cell} | {mode} | {name} | {s * 1e3:.1f} | "
                    f"{s / m['torch.nn']:.2f} | {work / s / 1e9:.1f} | "
                    f"{100 * work / s / 1e9 / m['peak']:.0f}% | {diff} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
