"""The adding problem at long lengths: IndRNN, MinGRU and LSTM side by side, time-boxed.

Each step of a sequence carries a U(0, 1) value and a marker; two steps are marked and the
target is the sum of their values (``rnnkit.data.synthetic.adding_problem``). Always
answering 1 scores an MSE of 1/6 = 0.167. Every model trains with Adam on fresh batches
for the same wall-clock budget and is scored on one fixed test set; the table gives the
test MSE reached *within that budget* (with the steps it managed), beside the anchors:
LSTM fails at T = 1000 (TCN paper: LSTM 0.164 at T = 600); IndRNN solves T = 5000 (Li et
al. 2018, after many thousands of steps). A CPU budget of minutes is far from the papers'
training runs: read the figures as "how far each got in the same time", not as converged.

    python3 benchmarks/adding_long.py                              # T = 1000 and 5000
    python3 benchmarks/adding_long.py --lengths 1000 --seconds 60 --out docs/benchmarks/adding.md
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from torch import nn

import rnnkit
from rnnkit.data.synthetic import adding_baseline_mse, adding_problem

ANCHORS = {
    1000: "LSTM fails (≈0.167); TCN paper: LSTM 0.164 at T=600",
    5000: "IndRNN solves it (Li et al. 2018: MSE ≪ 0.01 after ~10^4+ steps)",
}


class Regressor(nn.Module):
    """A recurrent stack, then a linear read-out of the last step's output."""

    def __init__(self, kind: str, steps: int, hidden: int) -> None:
        super().__init__()
        if kind == "indrnn":  # Li et al.: |u| <= 2^(1/T), last layer's u near 1
            self.rnn = rnnkit.IndRNN(
                2, hidden, num_layers=2, batch_first=True,
                recurrent_max=rnnkit.IndRNN.bound(steps),
                last_layer_init=(0.5 ** (1 / steps), rnnkit.IndRNN.bound(steps)),
            )  # fmt: skip
        elif kind == "mingru":
            self.rnn = rnnkit.MinGRU(2, hidden, num_layers=2, batch_first=True)
        elif kind == "lstm":
            self.rnn = rnnkit.LSTM(2, hidden, batch_first=True)  # auto: torch's fused kernel
        else:
            raise ValueError(f"unknown model {kind!r}")
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # (B, T, H)
        return self.head(out[:, -1]).squeeze(-1)  # (B,)


def train(kind: str, steps: int, seconds: float, batch: int, lr: float, seed: int) -> dict:
    """Train for ``seconds`` of wall time; return test MSE, steps and time taken."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x_test, y_test = adding_problem(256, steps, torch.Generator().manual_seed(10_000 + steps))
    model = Regressor(kind, steps, 128)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        x, y = adding_problem(batch, steps, gen)
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if kind == "indrnn":
            model.rnn.constrain_()  # keep |u| within the bound after every update
        n += 1
    elapsed = time.perf_counter() - start
    with torch.no_grad():
        mse = nn.functional.mse_loss(model(x_test), y_test).item()
    return {"mse": mse, "steps": n, "seconds": elapsed}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lengths", default="1000,5000", help="comma list of T")
    ap.add_argument("--models", default="indrnn,mingru,lstm")
    ap.add_argument("--seconds", type=float, default=90.0, help="training budget per run")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="also write the table to this markdown file")
    args = ap.parse_args(argv)
    lines = [
        f"Adding problem, Adam lr={args.lr}, batch {args.batch}, hidden 128, "
        f"{args.seconds:.0f} s of training per run, test MSE on 256 fixed sequences; "
        f"predicting 1 gives {adding_baseline_mse():.3f}.\n",
        "| T | model | test MSE | training steps in budget | anchor |",
        "|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for steps in (int(t) for t in args.lengths.split(",")):
        for kind in args.models.split(","):
            r = train(kind, steps, args.seconds, args.batch, args.lr, args.seed)
            line = (
                f"| {steps} | {kind} | {r['mse']:.4f} | {r['steps']} ({r['seconds']:.0f} s) | "
                f"{ANCHORS.get(steps, '')} |"
            )
            print(line, flush=True)
            lines.append(line)
    if args.out:
        from rnnkit.io import write_text

        cmd = "python3 benchmarks/adding_long.py " + " ".join(
            argv if argv is not None else sys.argv[1:]
        )
        write_text(args.out, f"Command: `{cmd}`\n\n" + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
