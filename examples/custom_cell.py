"""A cell of your own as a sequence layer: ``rnnkit.Recurrent`` owns time, lengths,
directions and layers; you write one step.

    python3 examples/custom_cell.py            # train it on a toy task, a few seconds
    python3 examples/custom_cell.py --smoke    # fewer steps

The cell here is the minimal gated unit (MGU, Zhou et al. 2016): one forget gate,
f = sigmoid(W_f [x, h] + b_f), candidate n = tanh(W_n [x, f * h] + b_n),
h' = (1 - f) * h + f * n. The script checks that the layer equals stepping the cell by
hand over each sequence's real length, then trains it to output the running maximum of
its input.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import rnnkit


class MGUCell(nn.Module):
    """One step: ``(x_t (B, I), h (B, H)) -> (y_t = h' (B, H), h' (B, H))``."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.gate = nn.Linear(input_size + hidden_size, hidden_size)
        self.candidate = nn.Linear(input_size + hidden_size, hidden_size)

    def initial_state(self, batch: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        return torch.zeros(batch, self.hidden_size, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = torch.sigmoid(self.gate(torch.cat([x, h], -1)))  # (B, H)
        n = torch.tanh(self.candidate(torch.cat([x, f * h], -1)))  # (B, H)
        h = (1 - f) * h + f * n
        return h, h


def check_against_hand_stepping(layer: rnnkit.Recurrent, cell: MGUCell) -> None:
    x = torch.randn(3, 7, 1)  # (B, T, I)
    lengths = torch.tensor([7, 4, 1])
    out, _ = layer(x, lengths=lengths)  # (B, T, H), zeros at padding
    for b in range(3):
        h = cell.initial_state(1, x.device, x.dtype)
        for t in range(int(lengths[b])):
            y, h = cell(x[b : b + 1, t], h)
            assert torch.allclose(out[b, t], y[0], atol=1e-6)
        assert (out[b, int(lengths[b]) :] == 0).all()
    print("Recurrent(MGUCell) equals stepping the cell by hand: ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="50 training steps")
    args = parser.parse_args()
    torch.manual_seed(0)

    cell = MGUCell(1, 32)
    layer = rnnkit.Recurrent(cell, batch_first=True)
    check_against_hand_stepping(layer, cell)

    head = nn.Linear(32, 1)
    params = [*layer.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-2)
    steps = 50 if args.smoke else 600
    for step in range(1, steps + 1):
        x = torch.rand(64, 20, 1)  # (B, T, 1)
        lengths = torch.randint(5, 21, (64,))
        target = x.cummax(dim=1).values  # running maximum, (B, T, 1)
        out, _ = layer(x, lengths=lengths)
        mask = (torch.arange(20)[None, :] < lengths[:, None]).unsqueeze(-1)  # (B, T, 1)
        loss = ((head(out) - target) ** 2 * mask).sum() / mask.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % (steps // 5) == 0:
            print(f"step {step:4d}  mse {loss.item():.4f}")
    # Two directions, two layers: a factory gives each layer and direction its own cell.
    deep = rnnkit.Recurrent(lambda layer: MGUCell(1 if layer == 0 else 64, 32),
                            num_layers=2, bidirectional=True, batch_first=True)  # fmt: skip
    out, _ = deep(torch.randn(2, 5, 1), lengths=torch.tensor([5, 3]))
    print("bidirectional 2-layer output:", tuple(out.shape))


if __name__ == "__main__":
    main()
