"""``rnnkit export RUN_DIR [--format onnx] [--out FILE] [--int8]``: the trained model as ONNX, with
dynamic batch and time axes and a ``lengths`` input (see :mod:`rnnkit.deploy`)."""

from __future__ import annotations

import argparse
from pathlib import Path


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
    p.add_argument(
        "--int8",
        action="store_true",
        help="dynamic int8 quantisation of the weights (ONNX Runtime; default FILE: "
        "RUN_DIR/model.int8.onnx); reports the size and the test-split change",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Export the run and print where it went."""
    from rnnkit.deploy import export_run
    from rnnkit.rundir import check_output, writing_outputs

    if args.out:
        check_output(args.out, "--out")  # never a file of a run directory
    target = args.out or Path(args.run_dir) / "model.onnx"  # the default lies in the run
    with writing_outputs(target):  # no training writes the run meanwhile
        path, meta = export_run(args.run_dir, args.out, overwrite=args.overwrite, int8=args.int8)
    names = ", ".join(i["name"] for i in meta["inputs"])
    outs = ", ".join(o["name"] for o in meta["outputs"])
    print(
        f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB; inputs {names}; outputs {outs}; "
        f"max |onnxruntime - torch| = {meta['parity_max_abs_diff']:.1e}"
        + (" for the float32 graph)" if meta["int8"] else ")")
    )
    q = meta["int8"]
    if q:
        print(
            f"int8: {q['float32_bytes'] / 1e6:.2f} MB -> {q['int8_bytes'] / 1e6:.2f} MB; "
            f"quantised {_ops(q['quantised'])}; kept float32 {_ops(q['kept_float32'])}"
        )
        if q.get("note"):
            print(f"int8: {q['note']}")
        t = q["test"]
        if "skipped" in t:
            print(f"int8: test split not compared: {t['skipped']}")
        elif "accuracy_change" in t:
            print(
                f"int8 on the {t['split']} split ({t['sequences']} sequences): accuracy "
                f"{t['float32_accuracy']:.4f} -> {t['int8_accuracy']:.4f} "
                f"({100 * t['accuracy_change']:+.2f} points)"
            )
        else:
            print(
                f"int8 on the {t['split']} split ({t['sequences']} sequences): "
                f"{t['output']} changes by {t['mean_abs_change']:.2e} on average, "
                f"{t['max_abs_change']:.2e} at most"
            )
        if t.get("warning"):
            print(f"WARNING: {t['warning']}")
    print(f"wrote {path.with_name(path.name + '.json')} (metadata)")
    return 0


def _ops(counts: dict[str, int]) -> str:
    """``{"LSTM": 2, "MatMul": 1}`` -> ``"2 LSTM, 1 MatMul"`` (``"none"`` when empty)."""
    return ", ".join(f"{n} {op}" for op, n in counts.items()) or "none"
