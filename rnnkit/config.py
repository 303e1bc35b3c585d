"""One dataclass tree for every run: ``RunConfig(task, data, model, train, ...)``.

``data`` and ``model`` are the task's own dataclasses (each task declares them; a task's
model config extends :class:`ModelConfig`, the recurrent stack, with its head's fields);
``train`` is shared by all tasks, with per-task defaults. Configs come from YAML files and
``--set key.sub=value`` overrides, every value type-checked against its field, and the
resolved config is saved in the run directory as ``config.yaml``.

Every field says what it means in its metadata (``option(default, "help")``); that text
is what ``rnnkit train --list-keys TASK`` prints. Resolving a config by task name (which
needs the task registry) is :mod:`rnnkit.tasks.resolve`; this module never imports a task.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rnnkit.errors import RnnkitError


def option(default: Any, help: str) -> Any:
    """A config field with its meaning: ``lr: float = option(1e-3, "peak learning rate")``.

    ``help`` (the field metadata ``"help"``) is printed by ``--list-keys``; a list default
    is copied for each instance.
    """
    if isinstance(default, list):
        items = list(default)
        return field(default_factory=lambda: list(items), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class ModelConfig:
    """The recurrent stack every task's model has; a task's model config extends it with
    the fields of its encoder and head (e.g. :class:`rnnkit.models.classifier.ClassifierConfig`)."""

    cell: str = option("lstm", "lstm | gru | rnn | indrnn | mingru | minlstm")
    hidden_size: int = option(128, "units per layer and direction")
    num_layers: int = option(2, "stacked recurrent layers")
    bidirectional: bool = option(False, "run a second direction right-to-left")
    dropout: float = option(0.0, "dropout between stacked layers, in [0, 1)")
    backend: str = option("auto", "auto | native | bptt | reference (see rnnkit.layers)")
    nonlinearity: str = option("tanh", "Elman RNN only: tanh | relu")
    # Regularised / normalised cells (rnnkit.LSTM / rnnkit.GRU options):
    layer_norm: bool = option(False, "layer-normalise pre-activations (Ba et al. 2016)")
    recurrent_dropout: float = option(0.0, "variational dropout on the recurrent input")
    zoneout: float = option(0.0, "zoneout of the hidden (and cell) state")
    weight_drop: float = option(0.0, "DropConnect on the recurrent weights")
    peephole: bool = option(False, "LSTM peephole connections")


@dataclass
class TrainConfig:
    """The training loop."""

    epochs: int = option(10, "passes over the training split")
    batch_size: int = option(64, "sequences per step")
    optimizer: str = option("adam", "sgd | adam | adamw")
    lr: float = option(1e-3, "peak learning rate")
    momentum: float = option(0.9, "SGD only")
    weight_decay: float = option(0.0, "L2 (sgd, adam) or decoupled (adamw)")
    schedule: str = option("constant", "constant | cosine | step | plateau")
    warmup_steps: int = option(0, "linear warmup before the schedule")
    lr_decay: float = option(0.1, "step / plateau: multiply the learning rate by this")
    lr_step_epochs: int = option(0, "step: decay every this many epochs; 0 = a third of the epochs")
    lr_patience: int = option(1, "plateau: epochs without improvement before decaying")
    clip_norm: float = option(1.0, "clip the global gradient norm to this; 0 turns clipping off")
    early_stopping: int = option(3, "stop after this many epochs without improvement; 0 = off")
    monitor: str = option(
        "",
        'validation metric for early stopping and best weights; "" = the task\'s',
    )
    monitor_mode: str = option(
        "",
        'min | max for train.monitor; "" = the task\'s, or by the name',
    )
    deterministic: bool = option(False, "torch.use_deterministic_algorithms")
    precision: str = option(
        "fp32", "fp32 | bf16 (autocast, cpu and cuda) | fp16 (autocast + grad scaler, cuda)"
    )
    progress: bool = option(True, "progress bar with loss, metric and throughput")
    tensorboard: bool = option(True, "write TensorBoard scalars to RUN_DIR/tb")
    max_minutes: float = option(
        0.0, "stop after this many minutes of training (not data prep); 0 = off"
    )
    gradflow: bool = option(
        False,
        "record ||dL/dh_t|| over the time steps on the first batch of each epoch and save "
        "RUN_DIR/gradflow.png (tasks whose model exposes its recurrent stack)",
    )


@dataclass
class RunConfig:
    """Everything that defines a run; saved as ``config.yaml`` in the run directory."""

    task: str = field(metadata={"help": "the task name (rnnkit train TASK)"})
    data: Any = field(metadata={"help": "the task's data dataclass"})
    model: ModelConfig = field(
        default_factory=ModelConfig, metadata={"help": "the task's model dataclass"}
    )
    train: TrainConfig = field(default_factory=TrainConfig, metadata={"help": "the loop"})
    seed: int = option(0, "seeds data splits, initialisation and shuffling")
    device: str = option("cpu", "cpu | cuda")


# ----------------------------------------------------------------------------- helpers


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain nested dict of a config dataclass (for YAML and report.json)."""
    return dataclasses.asdict(cfg)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check (and, for strings from the command line, parse) ``value`` against type ``tp``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except RnnkitError as e:
                errors.append(str(e))
        raise RnnkitError(f"config key '{key}': {value!r} is not a {tp}")
    if origin in (list, tuple):
        (item_tp, *_) = typing.get_args(tp) or (Any,)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v != ""]
        if not isinstance(value, list | tuple):
            raise RnnkitError(f"config key '{key}': expected a list, got {value!r}")
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise RnnkitError(f"config key '{key}': expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise RnnkitError(f"config key '{key}': expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise RnnkitError(f"config key '{key}': expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise RnnkitError(f"config key '{key}': expected a number, got {value!r}")
        number: float | None = None
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                number = None
        if number is None:
            raise RnnkitError(f"config key '{key}': expected a number, got {value!r}")
        if not math.isfinite(number):  # nan would train silently to nan weights
            raise RnnkitError(f"config key '{key}': expected a finite number, got {value!r}")
        return number
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise RnnkitError(f"config key '{key}': expected a string, got {value!r}")
    raise RnnkitError(f"config key '{key}': unsupported field type {_type_name(tp)}")


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def update_dataclass(obj: Any, values: dict[str, Any], prefix: str = "") -> Any:
    """Return a copy of dataclass ``obj`` with ``values`` (a nested dict) applied, type-checked.

    Unknown keys raise :class:`RnnkitError` naming the key and the known keys.
    """
    if not isinstance(values, dict):
        section = prefix.rstrip(".") or "<root>"
        raise RnnkitError(
            f"config section '{section}' must be a mapping of keys (e.g. {section}: "
            f"{{key: value}}), got {repr(values)[:80]}"
        )
    types_ = _field_types(type(obj))
    changes: dict[str, Any] = {}
    for name, value in values.items():
        key = f"{prefix}{name}"
        if name not in types_:
            known = ", ".join(sorted(types_))
            raise RnnkitError(f"unknown config key '{key}' (known keys here: {known})")
        current = getattr(obj, name)
        if dataclasses.is_dataclass(current):
            changes[name] = update_dataclass(current, value, prefix=f"{key}.")
        else:
            changes[name] = _coerce(value, types_[name], key)
    return dataclasses.replace(obj, **changes)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """Turn ``["train.lr=3e-4", "model.cell=gru"]`` into a nested dict of strings."""
    nested: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise RnnkitError(f"--set expects key.sub=value, got {pair!r}")
        key, value = pair.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise RnnkitError(f"--set has an empty key part in {pair!r}")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise RnnkitError(f"--set sets both {part!r} and a key below it")
        node[parts[-1]] = value
    return nested


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a dict, with clear errors for missing or malformed files."""
    from rnnkit.data.files import check_data_file

    path = Path(path)
    check_data_file(path, "config file")  # a device or a pipe: refused, not read
    if not path.is_file():
        raise RnnkitError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise RnnkitError(f"config file {path}{where}: not valid YAML ({problem})") from None
    except UnicodeDecodeError:
        raise RnnkitError(f"config file {path} is not UTF-8 text") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise RnnkitError(f"config file {path} must hold a mapping of keys, got a {kind}")
    return data


def save_yaml(cfg: RunConfig, path: str | Path) -> None:
    """Write the resolved config atomically as YAML."""
    from rnnkit.io import write_text

    write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))


# ----------------------------------------------------------------------------- resolving


def apply_values(cfg: RunConfig, values: dict[str, Any], origin: str = "") -> RunConfig:
    """``cfg`` with the nested ``values`` applied, type-checked. ``task`` may be given only
    when it names the same task (``origin`` names the source in the error message)."""
    values = dict(values)
    if "task" in values:
        task = values.pop("task")
        if task != cfg.task:
            where = f"{origin}: " if origin else ""
            raise RnnkitError(f"{where}config key 'task' is {task!r} but the run is {cfg.task!r}")
    try:
        return update_dataclass(cfg, values)
    except RnnkitError as e:
        if not origin:
            raise
        raise RnnkitError(f"{origin}: {e}") from None  # which file (or --set) it came from


def nest_dotted(values: dict[str, Any]) -> dict[str, Any]:
    """``{"train.lr": 1e-3, "model": {...}}`` -> ``{"train": {"lr": 1e-3}, "model": {...}}``."""
    nested: dict[str, Any] = {}
    for key, value in values.items():
        *parents, last = str(key).split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise RnnkitError(f"config override sets both {part!r} and a key below it")
        if isinstance(value, dict) and isinstance(node.get(last), dict):
            node[last].update(value)
        else:
            node[last] = value
    return nested


def data_key(data_config: Any) -> str:
    """The field of a task's DataConfig that ``--data NAME|PATH`` sets: ``name``, else
    ``source``, else ``path``."""
    names = {f.name for f in dataclasses.fields(data_config)}
    for candidate in ("name", "source", "path"):
        if candidate in names:
            return candidate
    raise RnnkitError(f"{type(data_config).__name__} has no name/source/path field for --data")


# ----------------------------------------------------------------------------- key listing


@dataclass(frozen=True)
class KeyInfo:
    """One config key for ``rnnkit train --list-keys``."""

    key: str  # dotted key, e.g. "train.lr"
    type: str  # the annotation as written, e.g. "float"
    default: Any  # the default for the task
    comment: str  # the field's help (metadata "help"), in full


def list_keys(cfg: Any, prefix: str = "") -> list[KeyInfo]:
    """Every settable key of config dataclass ``cfg`` (for a RunConfig: ``data.*``,
    ``model.*``, ``train.*``, ``seed``, ``device``) with its type, value and help (the
    ``help`` metadata that :func:`option` writes)."""
    out: list[KeyInfo] = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "task" or value is None and f.name == "data":
            continue
        if dataclasses.is_dataclass(value):
            out += list_keys(value, f"{prefix}{f.name}.")
            continue
        tp = f.type if isinstance(f.type, str) else _type_name(f.type)
        out.append(KeyInfo(f"{prefix}{f.name}", tp, value, f.metadata.get("help", "")))
    return out


def _show(value: Any) -> str:
    """A config value as it is written in YAML (``true``, ``''``, ``[a, b]``)."""
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def format_keys(cfg: Any, prefix: str = "") -> str:
    """The table ``rnnkit train --list-keys TASK`` prints: key, type, default, comment
    (``cfg`` is a RunConfig or one section, e.g. ``TrainConfig()`` with ``prefix="train."``)."""
    return format_key_rows(list_keys(cfg, prefix))


def format_key_rows(rows: list[KeyInfo]) -> str:
    """Rows of :func:`list_keys` as aligned text: key, type, default, ``# comment``."""
    defaults = [_show(r.default) for r in rows]
    key_w = max(len(r.key) for r in rows)
    type_w = max(len(r.type) for r in rows)
    value_w = min(max(len(d) for d in defaults), 16)
    lines = []
    for r, default in zip(rows, defaults):
        head = f"{r.key:<{key_w}}  {r.type:<{type_w}}  {default:<{value_w}}"
        lines.append(f"{head}  # {r.comment}" if r.comment else head.rstrip())
    return "\n".join(lines)
