"""Speed of the regularised / normalised cells and the new families, as ratios.

For S1 (B=64, T=200, I=128, H=128, one layer) and S3 (B=16, T=2000, I=32, H=128) every
contender runs one training step (forward + backward of the summed output), timed in turn,
interleaved, median of ``--reps``; the table gives the time, the ratio to plain
``torch.nn.LSTM`` and to *the way a user writes that cell today* (a Python loop over
``nn.LSTMCell`` or over the cell's own step, autograd for the backward; for DropConnect
the AWD-LSTM trick of masking ``weight_hh`` of a fused ``nn.LSTM``), all in the same run,
plus the achieved GFLOP/s against a matrix-multiply peak measured in the same run.
A second table times MinGRU's parallel scan against ``torch.nn.GRU`` at T = 512 and 4096.

    python3 benchmarks/cells.py                     # S1 and S3, then the MinGRU table
    python3 benchmarks/cells.py --sizes S1 --reps 5 --out docs/benchmarks/cells.md
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from _timing import interleaved, machine, matmul_peak_gflops
from torch import nn
from torch.func import functional_call

import rnnkit

SIZES = {"S1": (64, 200, 128, 128), "S3": (16, 2000, 32, 128), "tiny": (4, 20, 8, 16)}  # B, T, I, H


# ----------------------------------------------------------------------------- user code
# What a PyTorch user writes today for each cell: a module with a Python loop over time.


class LoopLSTM(nn.Module):
    """nn.LSTMCell in a loop, with the option a user adds by hand."""

    def __init__(self, i: int, h: int, option: str, p: float = 0.0) -> None:
        super().__init__()
        self.cell, self.option, self.p, self.h = nn.LSTMCell(i, h), option, p, h
        if option == "peephole":
            self.w_c = nn.Parameter(torch.zeros(3, h).uniform_(-0.1, 0.1))
        if option == "layer_norm":  # an LN-LSTM cell: two linears and three LayerNorms
            self.ih, self.hh = nn.Linear(i, 4 * h), nn.Linear(h, 4 * h, bias=False)
            self.ln_ih, self.ln_hh, self.ln_c = (
                nn.LayerNorm(4 * h),
                nn.LayerNorm(4 * h),
                nn.LayerNorm(h),
            )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        B, T, _ = x.shape
        h = c = x.new_zeros(B, self.h)
        mask = (
            F.dropout(x.new_ones(B, self.h), self.p) if self.option == "recurrent_dropout" else None
        )
        outs = []
        for t in range(T):
            if self.option == "layer_norm":
                a = self.ln_ih(self.ih(x[:, t])) + self.ln_hh(self.hh(h))
                i, f, g, o = a.chunk(4, 1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(self.ln_c(c))
            elif self.option == "peephole":
                a = (
                    x[:, t] @ self.cell.weight_ih.t()
                    + h @ self.cell.weight_hh.t()
                    + self.cell.bias_ih
                )
                i, f, g, o = a.chunk(4, 1)
                i, f = torch.sigmoid(i + self.w_c[0] * c), torch.sigmoid(f + self.w_c[1] * c)
                c = f * c + i * torch.tanh(g)
                h = torch.sigmoid(o + self.w_c[2] * c) * torch.tanh(c)
            elif self.option == "recurrent_dropout":
                h, c = self.cell(x[:, t], (h * mask, c))
            elif self.option == "zoneout":
                h_new, c_new = self.cell(x[:, t], (h, c))
                kh = torch.empty_like(h).bernoulli_(self.p)
                kc = torch.empty_like(c).bernoulli_(self.p)
                h, c = kh * h + (1 - kh) * h_new, kc * c + (1 - kc) * c_new
            else:
                h, c = self.cell(x[:, t], (h, c))
            outs.append(h)
        return torch.stack(outs, 1), None


class LoopLNGRU(nn.Module):
    """A layer-normalised GRU cell in a Python loop."""

    def __init__(self, i: int, h: int) -> None:
        super().__init__()
        self.ih, self.hh, self.h = nn.Linear(i, 3 * h), nn.Linear(h, 3 * h), h
        self.ln_ih, self.ln_hh = nn.LayerNorm(3 * h), nn.LayerNorm(3 * h)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        h, outs = x.new_zeros(x.shape[0], self.h), []
        for t in range(x.shape[1]):
            xr, xz, xn = self.ln_ih(self.ih(x[:, t])).chunk(3, 1)
            hr, hz, hn = self.ln_hh(self.hh(h)).chunk(3, 1)
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            h = (1 - z) * torch.tanh(xn + r * hn) + z * h
            outs.append(h)
        return torch.stack(outs, 1), None


class WeightDropLSTM(nn.Module):
    """AWD-LSTM's DropConnect: a masked copy of weight_hh fed to the fused nn.LSTM."""

    def __init__(self, i: int, h: int, p: float) -> None:
        super().__init__()
        self.lstm, self.p = nn.LSTM(i, h, batch_first=True), p

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        params = dict(self.lstm.named_parameters())
        params["weight_hh_l0"] = F.dropout(params["weight_hh_l0"], self.p, training=True)
        return functional_call(self.lstm, params, (x,))[0], None


# ----------------------------------------------------------------------------- timing


def train_step(module: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        module.zero_grad(set_to_none=True)
        out, _ = module(x)
        out.sum().backward()

    return step


def rows_for(B: int, T: int, I: int, H: int) -> list[tuple[str, nn.Module, nn.Module, int]]:
    """(what, rnnkit module, the user's module, forward FLOPs per step and sample)."""
    L, G = rnnkit.LSTM, rnnkit.GRU
    kw = {"batch_first": True}
    lstm, gru = 8 * H * (I + H), 6 * H * (I + H)  # the gate matmuls (multiply-add = 2)
    return [
        ("LSTM layer_norm", L(I, H, layer_norm=True, **kw), LoopLSTM(I, H, "layer_norm"), lstm),
        ("LSTM peephole", L(I, H, peephole=True, **kw), LoopLSTM(I, H, "peephole"), lstm),
        (
            "LSTM recurrent_dropout=0.25",
            L(I, H, recurrent_dropout=0.25, **kw),
            LoopLSTM(I, H, "recurrent_dropout", 0.25),
            lstm,
        ),
        ("LSTM zoneout=0.1", L(I, H, zoneout=0.1, **kw), LoopLSTM(I, H, "zoneout", 0.1), lstm),
        ("LSTM weight_drop=0.5", L(I, H, weight_drop=0.5, **kw), WeightDropLSTM(I, H, 0.5), lstm),
        ("GRU layer_norm", G(I, H, layer_norm=True, **kw), LoopLNGRU(I, H), gru),
        (
            "IndRNN",
            rnnkit.IndRNN(I, H, **kw),
            rnnkit.IndRNN(I, H, backend="reference", **kw),
            2 * H * I,
        ),
        (
            "MinGRU (scan)",
            rnnkit.MinGRU(I, H, **kw),
            rnnkit.MinGRU(I, H, backend="reference", **kw),
            2 * 2 * H * I,
        ),
        (
            "MinLSTM (scan)",
            rnnkit.MinLSTM(I, H, **kw),
            rnnkit.MinLSTM(I, H, backend="reference", **kw),
            2 * 3 * H * I,
        ),
    ]


def bench_size(size: str, reps: int, peak: float, only: list[str] | None = None) -> list[str]:
    B, T, I, H = SIZES[size]
    torch.manual_seed(0)
    x = torch.randn(B, T, I)
    base = nn.LSTM(I, H, batch_first=True)
    fns = {"torch.nn.LSTM": train_step(base, x)}
    rows = [r for r in rows_for(B, T, I, H) if only is None or any(o in r[0] for o in only)]
    for name, ours, user, _ in rows:
        fns[name] = train_step(ours.train(), x)
        fns[name + " [user loop]"] = train_step(user.train(), x)
    t0 = time.time()
    med = interleaved(fns, torch.device("cpu"), reps=reps, warmup=1)
    print(f"{size}: timed in {time.time() - t0:.0f} s", file=sys.stderr)
    ref = med["torch.nn.LSTM"]
    lstm_flops = 3 * 8 * H * (I + H) * B * T
    lines = [
        f"\n### {size}: B={B}, T={T}, I={I}, H={H}, 1 layer, training step (fwd + bwd)\n",
        "| cell | rnnkit ms | × torch.nn.LSTM | user's loop ms | speed-up over the loop "
        "| rnnkit GFLOP/s (% peak) |",
        "|---|---|---|---|---|---|",
        f"| torch.nn.LSTM (native) | {ref * 1e3:.0f} | 1.00 | | | "
        f"{lstm_flops / ref / 1e9:.1f} ({100 * lstm_flops / ref / 1e9 / peak:.0f}%) |",
    ]
    for name, _, _, per_step in rows:
        ours, user = med[name], med[name + " [user loop]"]
        fl = 3 * per_step * B * T / ours / 1e9  # a training step is about 3x the forward
        lines.append(
            f"| {name} | {ours * 1e3:.0f} | {ours / ref:.2f} | {user * 1e3:.0f} | "
            f"{user / ours:.2f}× | {fl:.1f} ({100 * fl / peak:.0f}%) |"
        )
    return lines


def bench_mingru(reps: int) -> list[str]:
    B, I, H = 16, 32, 128
    lines = [
        "\n### MinGRU parallel scan vs torch.nn.GRU (B=16, I=32, H=128, 1 layer, training step)\n",
        "| T | torch.nn.GRU ms | MinGRU scan ms | MinGRU / GRU | 3-layer MinGRU ms "
        "| 3-layer / GRU |",
        "|---|---|---|---|---|---|",
    ]
    for T in (512, 4096):
        torch.manual_seed(0)
        x = torch.randn(B, T, I)
        fns = {
            "gru": train_step(nn.GRU(I, H, batch_first=True), x),
            "mingru": train_step(rnnkit.MinGRU(I, H, batch_first=True), x),
            "mingru3": train_step(rnnkit.MinGRU(I, H, num_layers=3, batch_first=True), x),
        }
        med = interleaved(fns, torch.device("cpu"), reps=reps, warmup=1)
        g = med["gru"]
        lines.append(
            f"| {T} | {g * 1e3:.0f} | {med['mingru'] * 1e3:.0f} | {med['mingru'] / g:.2f} | "
            f"{med['mingru3'] * 1e3:.0f} | {med['mingru3'] / g:.2f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="S1,S3", help="S1, S3 (tiny: smoke test; empty: none)")
    ap.add_argument("--reps", type=int, default=5, help="interleaved repetitions (median)")
    ap.add_argument("--no-mingru", action="store_true", help="skip the MinGRU vs GRU table")
    ap.add_argument("--rows", help="comma list: only the rows whose name contains one of these")
    ap.add_argument("--out", help="also write the tables to this markdown file")
    args = ap.parse_args(argv)
    device = torch.device("cpu")
    peak = matmul_peak_gflops(device)
    lines = [f"Machine: {machine(device)}; matmul peak {peak:.0f} GFLOP/s (measured in this run)."]
    for size in filter(None, args.sizes.split(",")):
        if size not in SIZES:
            ap.error(f"--sizes: {size!r} is not one of {', '.join(SIZES)}")
        table = bench_size(size, args.reps, peak, args.rows.split(",") if args.rows else None)
        print("\n".join(table), flush=True)
        lines += table
    if not args.no_mingru:
        table = bench_mingru(args.reps)
        print("\n".join(table), flush=True)
        lines += table
    if args.out:
        from rnnkit.io import write_text

        cmd = "python3 benchmarks/cells.py " + " ".join(argv if argv is not None else sys.argv[1:])
        write_text(args.out, f"Command: `{cmd}`\n\n" + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
