"""A trained run in plain ``torch.nn``: rnnkit's LSTM/GRU/RNN layers carry torch.nn's
parameter names and gate order, so their weights load into ``torch.nn.LSTM`` as they are.

    python3 examples/plain_torch.py RUN_DIR     # a run of yours (e.g. from rnnkit train)
    python3 examples/plain_torch.py --smoke     # trains a tiny tsclass run first

For each recurrent layer of the run's model the script builds the ``torch.nn`` twin,
loads the state_dict, and checks that both give the same outputs on a random batch.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from torch import nn

import rnnkit

TWINS = {rnnkit.LSTM: nn.LSTM, rnnkit.GRU: nn.GRU, rnnkit.RNN: nn.RNN}


def torch_twin(layer: nn.Module) -> nn.Module:
    """The ``torch.nn`` layer with the same architecture and weights as ``layer``."""
    cls = TWINS[type(layer)]
    kwargs = dict(
        input_size=layer.input_size,
        hidden_size=layer.hidden_size,
        num_layers=layer.num_layers,
        bias=layer.bias,
        batch_first=layer.batch_first,
        bidirectional=layer.bidirectional,
    )
    if cls is nn.LSTM:
        kwargs["proj_size"] = layer.proj_size
    if cls is nn.RNN:
        kwargs["nonlinearity"] = layer.nonlinearity
    twin = cls(**kwargs)
    twin.load_state_dict(layer.state_dict())  # same names: weight_ih_l0, bias_hh_l1, ...
    return twin.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", type=Path)
    parser.add_argument("--smoke", action="store_true", help="train a tiny run first")
    args = parser.parse_args()
    run_dir = args.run_dir
    if run_dir is None:
        run_dir = Path(tempfile.mkdtemp(prefix="rnnkit-torch-")) / "run"
        rnnkit.train("tsclass", out=run_dir, verbose=False, data={"source": "GunPoint"},
                     model={"hidden_size": 8, "num_layers": 2},
                     train={"epochs": 1, "progress": False})  # fmt: skip

    run = rnnkit.load(run_dir)
    layers = [(n, m) for n, m in run.model.named_modules() if type(m) in TWINS]
    if not layers:
        raise SystemExit(f"{run_dir}: no RNN/LSTM/GRU layer in this model ({run.config.task})")
    for name, layer in layers:
        twin = torch_twin(layer)
        x = torch.randn(4, 9, layer.input_size)  # (B, T, I) if batch_first else (T, B, I)
        with torch.no_grad():
            ours, _ = layer.eval()(x)
            theirs, _ = twin(x)
        diff = (ours - theirs).abs().max().item()
        print(f"{name}: {type(layer).__name__} -> torch.nn.{type(twin).__name__}, "
              f"max |difference| {diff:.2e}")  # fmt: skip
        assert diff < 1e-5, "the torch.nn twin disagrees"


if __name__ == "__main__":
    main()
