"""``rnnkit info``: versions, the backends and whether each can run here, and thread counts."""

from __future__ import annotations

import argparse
import json
import platform


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``info``."""
    p = subparsers.add_parser(
        "info",
        help="versions, available backends, threads",
        description="What rnnkit runs on here: Python, torch and compiler versions, each "
        "registered backend and whether it is available (with the reason when not), and the "
        "CPU thread counts.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.set_defaults(run=run)


def collect() -> dict:
    """Everything ``rnnkit info`` prints, as a dict."""
    import torch

    import rnnkit
    from rnnkit import fused
    from rnnkit.fused import build
    from rnnkit.layers import backends

    fused_reason = fused.unavailable_reason()
    backend_rows = {}
    for name in backends.names():
        backend = backends.get(name)
        status = "available"
        if name == "fused" and fused_reason is not None:
            status = f"unavailable: {fused_reason}"
        backend_rows[name] = {
            "status": status,
            "families": sorted(backend.runs),
            "description": backend.description,
        }
    built = build.read_build_info() or {}
    try:
        compiler = build.compiler_version(build.find_compiler())
    except build.BuildError as error:
        compiler = f"none ({error})"
    return {
        "rnnkit": rnnkit.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "compiler": compiler,
        "fused_build": built,
        "backends": backend_rows,
        "threads": {
            "torch": torch.get_num_threads(),
            "torch_interop": torch.get_num_interop_threads(),
        },
    }


def run(args: argparse.Namespace) -> int:
    """Print the information (a table, or JSON with ``--json``)."""
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"rnnkit {info['rnnkit']}, Python {info['python']}, torch {info['torch']}")
    print(f"CUDA available: {info['cuda']}")
    print(f"C++ compiler: {info['compiler']}")
    built = info["fused_build"]
    if built:
        print(
            f"fused kernels: built for torch {built.get('torch')} with {built.get('compiler')} "
            f"in {built.get('build_seconds')} s at {built.get('built_at')}"
        )
    else:
        print("fused kernels: not built (python3 -m rnnkit.fused.build)")
    print("backends:")
    for name, row in info["backends"].items():
        print(f"  {name:<10} {row['status']}  [{', '.join(row['families'])}]")
    threads = info["threads"]
    print(f"threads: torch {threads['torch']}, inter-op {threads['torch_interop']}")
    return 0
