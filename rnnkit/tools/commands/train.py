"""``rnnkit train TASK``: train a task's model into a run directory.

The config is resolved in this order, later winning: the task's defaults (or, with
``--resume``, the run's saved ``config.yaml``), ``--config FILE.yaml``, ``--set key=value``,
then the flags ``--data``, ``--epochs``, ``--device``, ``--seed``.

Under ``torchrun`` (``torchrun --nproc-per-node N -m rnnkit train TASK ...``, or
``--nproc N``, which starts the same with torchrun's machinery) every rank runs this
command: rank 0 opens the run directory and prints, the others train silently. After an
elastic restart (torchrun ``--max-restarts``) a run directory holding a checkpoint is
resumed (docs/distributed.md).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rnnkit.config import RunConfig

EPILOG_HEAD = """\
examples:
  rnnkit train sentiment --epochs 3
  rnnkit train sentiment --data path/to/aclImdb --set model.cell=gru train.lr=3e-4
  rnnkit train forecast --config my.yaml --out runs/air --overwrite
  rnnkit train charlm --out runs/lm --resume --epochs 30     # continue, with more epochs
  rnnkit train sentiment --help                              # every key of one task
  rnnkit train sentiment --nproc 2                           # DDP on 2 local processes
  torchrun --nproc-per-node 2 -m rnnkit train sentiment      # the same, with torchrun

config keys shared by all tasks (KEY  TYPE  DEFAULT  # MEANING; tasks change some defaults
and add their own data.* and model.* keys: see rnnkit train TASK --help):
"""
TASK_EPILOG = """\
config keys of {task} (KEY  TYPE  DEFAULT  # MEANING; set them with --set KEY=VALUE or in
a --config YAML file):
"""


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _epilog() -> str:
    from rnnkit.config import ModelConfig, RunConfig, TrainConfig, format_key_rows, list_keys

    rows = list_keys(ModelConfig(), "model.") + list_keys(TrainConfig(), "train.")
    rows += list_keys(RunConfig(task="TASK", data=None))
    return EPILOG_HEAD + _indent(format_key_rows(rows))


def _task_help(parser: argparse.ArgumentParser, task: str) -> str:
    """``rnnkit train TASK --help``: the usage and options, then every key of TASK with
    the task's own defaults (instead of the keys shared by all tasks)."""
    from rnnkit.config import format_keys
    from rnnkit.tasks.resolve import default_config

    keys = format_keys(default_config(task))  # refuses an unknown task with the list
    parser.epilog = TASK_EPILOG.format(task=task) + _indent(keys)
    return parser.format_help()


def header(cfg: RunConfig) -> str:
    """The run in one line: task, data, the recurrent stack and its options that are set,
    and the loop's main settings (the whole config goes to ``config.yaml``)."""
    from rnnkit.config import ModelConfig, data_key
    from rnnkit.errors import RnnkitError

    m, t, plain = cfg.model, cfg.train, ModelConfig()
    stack = f"{m.cell} {m.num_layers}x{m.hidden_size}"
    options = [
        name if value is True else f"{name} {value:g}"
        for name in ("bidirectional", "dropout", "layer_norm", "peephole", "recurrent_dropout",
                     "zoneout", "weight_drop")
        if (value := getattr(m, name, None)) not in (None, getattr(plain, name))
    ]  # fmt: skip
    try:
        on = f" on {getattr(cfg.data, data_key(cfg.data))}"
    except RnnkitError:  # generated data (adding, copy ...): no name or path
        on = ""
    return (
        f"train {cfg.task}{on}: {', '.join([stack, *options])}; {t.epochs} epochs, "
        f"batch {t.batch_size}, {t.optimizer} lr {t.lr:g}, seed {cfg.seed}, {cfg.device}"
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``train`` and its options."""
    from rnnkit.tasks import TASKS

    p = subparsers.add_parser(
        "train",
        help="train a task's model into a run directory",
        description="Train a task's model: data -> model -> training loop -> run directory "
        "(config.yaml, model.safetensors, checkpoint.pt, metrics.jsonl, report.json).",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,  # -h is ours: with a TASK it lists that task's keys
    )
    p.add_argument(
        "-h",
        "--help",
        action="store_true",
        help="show this help and exit (after TASK: with every config key of that task)",
    )
    p.add_argument("task", metavar="TASK", nargs="?", help=f"the task: {', '.join(sorted(TASKS))}")
    p.add_argument("--config", metavar="FILE.yaml", help="a YAML file of config keys")
    p.add_argument(
        "--data",
        metavar="NAME|PATH",
        help="the data: a built-in name (rnnkit data list) or a path (sets data.name/source)",
    )
    p.add_argument(
        "--out", metavar="RUN_DIR", help="the run directory (default: runs/TASK-TIMESTAMP)"
    )
    p.add_argument("--epochs", metavar="N", type=int, help="sets train.epochs")
    p.add_argument("--device", metavar="cpu|cuda", help="sets device (default cpu)")
    p.add_argument("--seed", metavar="N", type=int, help="sets seed")
    p.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        nargs="+",
        action="extend",
        default=[],
        help="config overrides, e.g. --set model.cell=gru train.lr=3e-4 (lists: a,b,c)",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its checkpoint"
    )
    mode.add_argument(
        "--overwrite", action="store_true", help="replace the run directory --out if it exists"
    )
    p.add_argument(
        "--nproc",
        metavar="N",
        type=int,
        help="train on N local processes with DistributedDataParallel, started by torchrun's "
        "machinery (train.batch_size stays the global batch; see docs/distributed.md)",
    )
    p.add_argument(
        "--list-keys",
        action="store_true",
        help="print every config key of TASK with its type, default and meaning, and exit",
    )
    p.set_defaults(run=run, parser=p)


def resolve_from_args(args: argparse.Namespace):  # noqa: ANN201 (RunConfig; lazy import)
    """The RunConfig that ``args`` describe (see the module docstring for the order)."""
    from rnnkit import runs
    from rnnkit.config import data_key
    from rnnkit.tasks.resolve import resolve_config

    base = runs.read_config(args.out) if args.resume and args.out else None
    cfg = resolve_config(args.task, args.config, args.overrides, base=base)
    if args.data is not None:
        data = dataclasses.replace(cfg.data, **{data_key(cfg.data): args.data})
        cfg = dataclasses.replace(cfg, data=data)
    if args.epochs is not None:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=args.epochs))
    if args.device is not None:
        cfg = dataclasses.replace(cfg, device=args.device)
    if args.seed is not None:
        cfg = dataclasses.replace(cfg, seed=args.seed)
    return cfg


def resume_after_restart(args: argparse.Namespace) -> None:
    """After an elastic restart (``TORCHELASTIC_RESTART_COUNT`` > 0), continue ``--out``
    from its checkpoint when it has one (instead of refusing the existing directory)."""
    import os
    from pathlib import Path

    from rnnkit import runs

    restarts = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    if not restarts.isdigit() or int(restarts) == 0 or args.resume or args.out is None:
        return
    if (Path(args.out) / runs.CHECKPOINT).is_file():
        args.resume, args.overwrite = True, False  # never erase what the last attempt did
        if os.environ.get("RANK", "0") == "0":
            print(f"restart {restarts}: resuming {args.out} from its last checkpoint")


def run(args: argparse.Namespace) -> int:
    """Resolve the config, print it, train, and print where the run went."""
    from rnnkit import distributed, runs
    from rnnkit.config import format_keys
    from rnnkit.errors import RnnkitError
    from rnnkit.rundir import writing
    from rnnkit.tasks import TASKS, get_task_class
    from rnnkit.tasks.resolve import default_config
    from rnnkit.training.loop import fit, resolve_device
    from rnnkit.training.precision import make_precision

    if args.help:
        parser = args.parser
        print(parser.format_help() if args.task is None else _task_help(parser, args.task))
        return 0
    if args.task is None:
        raise RnnkitError(f"TASK is missing; expected one of: {', '.join(sorted(TASKS))}")
    if args.list_keys:
        print(format_keys(default_config(args.task)))
        return 0
    if args.nproc is not None and args.nproc < 1:
        raise RnnkitError(f"--nproc: expected at least 1 process, got {args.nproc}")
    resume_after_restart(args)
    cfg = resolve_from_args(args)
    device = resolve_device(cfg.device)  # refuse a missing GPU before creating anything
    make_precision(cfg.train.precision, device)  # and fp16 on a CPU
    if args.nproc is not None and args.nproc > 1:  # the config was checked: start the workers
        from rnnkit.distributed.launch import launch, strip_nproc

        launch(args.nproc, strip_nproc(args.argv))
        return 0
    task = get_task_class(cfg.task)(cfg)
    dist = distributed.setup(device)  # one process outside torchrun
    try:
        with contextlib.ExitStack() as stack:
            refused = None
            if dist.is_main:  # locked; nothing goes in place until fit has made every check
                try:
                    run_dir = stack.enter_context(
                        writing(args.out, cfg.task, overwrite=args.overwrite, resume=args.resume)
                    )
                except RnnkitError as e:
                    refused = e
            # the other ranks stop too when rank 0 refuses the run directory (it says why)
            if distributed.broadcast_object(refused is not None):
                if refused is not None:
                    raise refused
                return 2
            if not dist.is_main:
                fit(task, args.out or ".", resume=args.resume)  # writes a scratch directory
                return 0
            print(header(cfg))
            print(f"run directory: {run_dir}  (every config key: {run_dir}/config.yaml)")
            try:
                report = fit(task, run_dir, resume=args.resume)
            except KeyboardInterrupt:
                if (run_dir / runs.CHECKPOINT).is_file():
                    print(f"the last finished epoch is saved; continue with: rnnkit train "
                          f"{cfg.task} --out {run_dir} --resume", file=sys.stderr)  # fmt: skip
                raise
    finally:
        distributed.shutdown()
    print(f"report: {run_dir / runs.REPORT}  ({report['wall_time_s']:.1f}s)")
    return 0
