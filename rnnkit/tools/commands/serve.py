"""``rnnkit serve RUN_DIR [--host H] [--port P] [--engine torch|onnx|onnx-int8]``: the run
behind an HTTP JSON API (FastAPI + uvicorn; see :mod:`rnnkit.deploy.server`)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``serve`` and its options."""
    from rnnkit.deploy.server import Batching, Limits

    d, b = Limits(), Batching()
    p = subparsers.add_parser(
        "serve",
        help="serve a trained run over HTTP (JSON)",
        description="Load the best weights of a run directory once and answer POST /predict "
        '({"inputs": ["text", ...]}, or series as arrays), POST /forecast (forecast runs), '
        "POST /generate (char-LMs), GET /health and GET /metadata; the OpenAPI document is "
        "at /docs. Concurrent requests are batched into one model call. Needs the extra: "
        "pip install 'rnnkit[deploy]'.",
        epilog="example:\n  rnnkit serve runs/sentiment-1 --port 8000\n"
        "  curl -s localhost:8000/predict -H 'content-type: application/json' \\\n"
        '       -d \'{"inputs": ["a gripping thriller"]}\'',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by rnnkit train")
    p.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1 (this machine only)")
    p.add_argument("--port", type=int, default=8000, help="default: 8000")
    p.add_argument("--device", metavar="cpu|cuda", default=None, help="default: cpu")
    p.add_argument("--engine", default="torch", choices=["torch", "onnx", "onnx-int8"],
                   help="torch (default), or ONNX Runtime on the run's graph (float32 or "
                   "dynamic int8); /generate always runs on torch")  # fmt: skip
    p.add_argument("--batch-window-ms", type=float, default=b.window_ms,
                   help=f"gather concurrent requests this long (default {b.window_ms:g}; "
                   "0 = no batching)")  # fmt: skip
    p.add_argument("--max-batch", type=int, default=b.max_batch,
                   help=f"inputs per model call, at most (default {b.max_batch})")  # fmt: skip
    p.add_argument("--max-items", type=int, default=d.max_items,
                   help=f"inputs per request (default {d.max_items})")  # fmt: skip
    p.add_argument("--max-text-chars", type=int, default=d.max_text_chars,
                   help=f"characters (or series values) per input "
                   f"(default {d.max_text_chars})")  # fmt: skip
    p.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes,
                   help=f"bytes per request body (default {d.max_body_bytes})")  # fmt: skip
    p.add_argument("--max-generate", type=int, default=d.max_generate,
                   help=f"symbols per /generate (default {d.max_generate})")  # fmt: skip
    p.add_argument("--timeout", type=int, default=d.timeout_s,
                   help=f"seconds the model may take per request "
                   f"(default {d.timeout_s})")  # fmt: skip
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    from rnnkit.deploy.server import Batching, Limits, serve

    limits = Limits(args.max_items, args.max_text_chars, args.max_body_bytes,
                    args.max_generate, args.timeout)  # fmt: skip
    batching = Batching(args.batch_window_ms, args.max_batch)
    serve(args.run_dir, host=args.host, port=args.port, limits=limits, device=args.device,
          batching=batching, engine=args.engine)  # fmt: skip
    return 0
