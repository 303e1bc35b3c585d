"""``rnnkit export RUN_DIR [--format onnx] [--out FILE]``: the trained model as ONNX, with
dynamic batch and time axes and a ``lengths`` input (see :mod:`rnnkit.deploy`)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``export`` and its options."""
    p = subparsers.add_parser(
        "export",
        help="export a trained run as an ONNX file",
        description="Write the best weights of a run directory as one ONNX file (dynamic "
        "batch and time axes, a lengths input) and its description FILE.json (inputs, "
        "outputs, labels, tokenizer, rnnkit version, weights checksum). The graph is checked "
        "against the PyTorch model with ONNX Runtime before anything is written. Needs the "
        "extra: pip install 'rnnkit[deploy]'.",
        epilog="example:\n  rnnkit export runs/sentiment-1 --out sentiment.onnx",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by rnnkit train")
    p.add_argument("--format", default="onnx", choices=["onnx"], help="default: onnx")
    p.add_argument("--out", metavar="FILE", help="the .onnx file (default: RUN_DIR/model.onnx)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing FILE")
    p.add_argument("--int8", action="store_true", help="int8 weights (not available yet)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Export the run and print where it went."""
    from rnnkit.errors import RnnkitError

    if args.int8:
        raise RnnkitError("--int8 is not implemented yet; export float32 without --int8")
    from rnnkit.deploy import export_run

    path, meta = export_run(args.run_dir, args.out, overwrite=args.overwrite)
    names = ", ".join(i["name"] for i in meta["inputs"])
    outs = ", ".join(o["name"] for o in meta["outputs"])
    print(
        f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB; inputs {names}; outputs {outs}; "
        f"max |onnxruntime - torch| = {meta['parity_max_abs_diff']:.1e})"
    )
    print(f"wrote {path.with_name(path.name + '.json')} (metadata)")
    return 0
