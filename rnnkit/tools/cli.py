"""The ``rnnkit`` command line: ``rnnkit COMMAND ...``.

Each command lives in its own module under ``rnnkit/tools/commands/`` exposing
``add_parser(subparsers)`` (registering its arguments, with help for every option) and
``run(args) -> int``. Adding a command: write the module and add its name to ``COMMANDS``.

Errors in what the user gave (:class:`rnnkit.errors.RnnkitError`, and ``ValueError`` /
``TypeError`` raised at the layers' boundary) are printed as one line, ``error: ...``,
with exit code 2 and no traceback. Set ``RNNKIT_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from rnnkit.errors import RnnkitError

# Command modules, in the order `rnnkit --help` lists them.
COMMANDS: list[str] = [
    # "train", "evaluate", "predict", "generate", "forecast", "explain", "diagnose", "data", "bench"
    "train",
    "tune",
    "evaluate",
    "predict",
    "translate",
    "generate",
    "forecast",
    "explain",
    "diagnose",
    "data",
    "export",
    "serve",
    "info",
]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every command's sub-parser."""
    from rnnkit import __version__

    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="Recurrent neural networks: train, evaluate and inspect sequence models.",
    )
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"rnnkit.tools.commands.{name}")
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rnnkit`` script; returns the exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # as given (train --nproc)
    # argparse ends a variable list of positionals at the first option, so in
    # `predict RUN --json "a" "b"` the texts after --json come back unparsed: they belong
    # to the command's INPUT list. Anything else left over is an error, as with parse_args.
    inputs = getattr(args, "inputs", None)
    if extra and (isinstance(inputs, list) and not any(a.startswith("-") for a in extra)):
        inputs.extend(extra)
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.run(args) or 0)
    except (RnnkitError, ValueError, TypeError, FileNotFoundError) as e:
        if os.environ.get("RNNKIT_DEBUG"):
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`rnnkit data list | head -1`): stop quietly, as the Unix
        # tools do. Point stdout at devnull so the interpreter's final flush does not fail
        # again, and exit with 128 + SIGPIPE like a process killed by the signal.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OSError as e:  # a file that cannot be read or written: permissions, disk full
        if os.environ.get("RNNKIT_DEBUG"):
            raise
        print(f"error: {e}", file=sys.stderr)  # "[Errno 28] No space left on device: 'x'"
        return 2


if __name__ == "__main__":
    sys.exit(main())
