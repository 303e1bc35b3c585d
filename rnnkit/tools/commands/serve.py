"""``rnnkit serve RUN_DIR [--host H] [--port P]``: the run behind an HTTP JSON API
(FastAPI + uvicorn; see :mod:`rnnkit.deploy.server`)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``serve`` and its options."""
    from rnnkit.deploy.server import Limits

    d = Limits()
    p = subparsers.add_parser(
        "serve",
        help="serve a trained run over HTTP (JSON)",
        description="Load the best weights of a run directory once and answer POST /predict "
        '({"inputs": ["text", ...]}), GET /health and GET /metadata; the OpenAPI document is '
        "at /docs. Needs the extra: pip install 'rnnkit[deploy]'.",
        epilog="example:\n  rnnkit serve runs/sentiment-1 --port 8000\n"
        "  curl -s localhost:8000/predict -H 'content-type: application/json' \\\n"
        '       -d \'{"inputs": ["a gripping thriller"]}\'',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by rnnkit train")
    p.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1 (this machine only)")
    p.add_argument("--port", type=int, default=8000, help="default: 8000")
    p.add_argument("--device", metavar="cpu|cuda", default=None, help="default: cpu")
    p.add_argument("--max-items", type=int, default=d.max_items,
                   help=f"inputs per request (default {d.max_items})")  # fmt: skip
    p.add_argument("--max-text-chars", type=int, default=d.max_text_chars,
                   help=f"characters per input (default {d.max_text_chars})")  # fmt: skip
    p.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes,
                   help=f"bytes per request body (default {d.max_body_bytes})")  # fmt: skip
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    from rnnkit.deploy.server import Limits, serve

    limits = Limits(args.max_items, args.max_text_chars, args.max_body_bytes)
    serve(args.run_dir, host=args.host, port=args.port, limits=limits, device=args.device)
    return 0
