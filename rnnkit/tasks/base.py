"""The task protocol: what the training loop and the commands need from a task.

A task owns its data (loading, splitting, preprocessing fitted on the training split),
its model (encoder -> recurrent stack -> head), its loss, metrics, baselines and the
published anchor. The loop in :mod:`rnnkit.training` owns everything else, and every
command after training (evaluate, predict, generate, forecast, explain) reads only the
run directory: ``Task.restore(run_dir)`` brings back what ``Task.prepare`` saved.

Adding a task: subclass :class:`Task` in ``rnnkit/tasks/<name>.py``, list what it can do
in ``capabilities`` (and implement the matching methods), and add it to ``TASKS`` in
``rnnkit/tasks/__init__.py``. The commands ask the task (:meth:`Task.supports`,
:meth:`Task.require`); none of them knows a task by name.

Capabilities (:data:`CAPABILITIES`) and the method each one promises:

=============  ==========================================  ===========================
capability     method                                      command
=============  ==========================================  ===========================
``evaluate``   :meth:`Task.evaluate` (every task)          ``rnnkit evaluate``
``predict``    :meth:`Task.predict`                        ``rnnkit predict``
``explain``    :meth:`Task.explain_input`                  ``rnnkit explain``
``generate``   :meth:`Task.generate`                       ``rnnkit generate``
``forecast``   :meth:`Task.forecast_series`                ``rnnkit forecast``
``export``     a writer; :meth:`Task.export_info`          ``rnnkit export``
``translate``  :meth:`Task.predict` of text -> text        ``rnnkit translate``
=============  ==========================================  ===========================
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from rnnkit.config import ModelConfig, RunConfig, data_key
from rnnkit.data.batch import Batch
from rnnkit.errors import RnnkitError

if TYPE_CHECKING:
    from rnnkit.tasks.explaining import ExplainInput
    from rnnkit.tune.space import Param

CAPABILITIES = ("evaluate", "predict", "explain", "generate", "forecast", "export", "translate")
# data.gradflow became train.gradflow (the loop's gradient-flow callback)
GRADFLOW_RENAMED = {"data.gradflow": "train.gradflow"}


class Task(ABC):
    """One kind of job rnnkit trains: ``sentiment``, ``forecast``, ``charlm`` ...

    Attributes:
        name: the name used on the command line (``rnnkit train NAME``).
        DataConfig: the dataclass of this task's ``data`` config section.
        ModelConfig: the dataclass of its ``model`` section: :class:`rnnkit.config.ModelConfig`
            (the recurrent stack) or a subclass adding the encoder's and head's fields.
        model_defaults / train_defaults: this task's defaults for the ``model`` and the
            shared ``train`` section, as overrides of ``ModelConfig`` / ``TrainConfig``.
        renamed_keys: config keys this task used to have, ``{"data.old": "model.new"}``:
            still read (YAML, ``--set``, saved runs), with a note giving the new name.
        monitor: the validation metric that picks the best epoch, and its ``mode``.
        anchor: the published figure for this task (``{"source": ..., <metric>: ...}``).
        capabilities: what the commands may ask of this task (see :data:`CAPABILITIES`).
        explain_help: what ``rnnkit explain``'s INPUT is for this task (``explain``).
        explain_reads_splits: INPUT names an example of a split (``test:INDEX``), so
            ``rnnkit explain --data`` applies.
        serve_input: what :meth:`predict` reads, for ``rnnkit serve``: ``"text"``, or
            ``"series"`` (numbers as text; the server also takes JSON arrays for them), or
            ``"files"`` (paths of local files, e.g. WAV clips: the server refuses them, as it
            never opens a path that a request names).
        data_files: when the data is a folder, globs (relative to it) of the files the
            task reads, which the run's data digest covers; empty: every file.
    """

    name: ClassVar[str]
    DataConfig: ClassVar[type]
    ModelConfig: ClassVar[type] = ModelConfig
    renamed_keys: ClassVar[dict[str, str]] = {}
    model_defaults: ClassVar[dict[str, Any]] = {}
    train_defaults: ClassVar[dict[str, Any]] = {}
    monitor: ClassVar[str] = "loss"
    monitor_mode: ClassVar[str] = "min"  # "min" or "max"
    anchor: ClassVar[dict[str, Any] | None] = None
    capabilities: ClassVar[frozenset[str]] = frozenset({"evaluate"})
    explain_help: ClassVar[str] = ""
    explain_reads_splits: ClassVar[bool] = False
    serve_input: ClassVar[str] = "text"
    data_files: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: RunConfig) -> None:
        if not isinstance(cfg.model, self.ModelConfig) and dataclasses.is_dataclass(cfg.model):
            # a RunConfig made by hand with the plain stack config: this task's model config
            # with the stack's values (and the head's defaults)
            known = {f.name for f in dataclasses.fields(self.ModelConfig)}
            values = {k: v for k, v in vars(cfg.model).items() if k in known}
            cfg = dataclasses.replace(cfg, model=self.ModelConfig(**values))
        self.cfg = cfg

    # --------------------------------------------------------------- data
    @abstractmethod
    def prepare(self, run_dir: Path) -> None:
        """Load the data, split it, fit preprocessing on the training split only, and save
        what later commands need (tokenizer, scaler, vocabulary ...) into ``run_dir``."""

    @abstractmethod
    def restore(self, run_dir: Path) -> None:
        """Bring back what :meth:`prepare` saved, without reading the training data."""

    @abstractmethod
    def batches(
        self, split: str, *, shuffle: bool = False, generator: torch.Generator | None = None
    ) -> Iterable[Batch]:
        """The batches of ``split`` ("train", "val" or "test"), re-iterable each epoch."""

    def split_size(self, split: str) -> int:
        """Number of sequences (or streams x chunks) in ``split``, for progress and reports."""
        return sum(len(b) for b in self.batches(split))

    # -------------------------------------------------------------- model
    @abstractmethod
    def build_model(self) -> nn.Module:
        """A freshly initialised model for this config (after prepare or restore)."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """The scalar training loss of ``model`` on ``batch``."""

    def training_step(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """The loss to backpropagate for one training batch. Tasks that carry state across
        batches (truncated BPTT) override this and :meth:`on_epoch_start`."""
        return self.loss(model, batch)

    def on_epoch_start(self, model: nn.Module, split: str) -> None:  # noqa: B027
        """Called before iterating ``split`` (train or evaluation); resets carried state."""

    @abstractmethod
    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        """The task's metrics on ``split`` (must include ``loss`` and ``self.monitor``)."""

    def baselines(self) -> dict[str, dict[str, Any]]:
        """The simple methods a user would try first, on the same test split: name ->
        their metrics (numbers) and, where they did something a reader must know (e.g.
        resampled the series) or could not run, what, in extra keys (``note``: a text)."""
        return {}

    def search_space(self) -> list[Param]:
        """What ``rnnkit tune`` searches over (:mod:`rnnkit.tune.space`): by default the
        learning rate, batch size, hidden size, layers, dropout and cell, centred on this
        task's config (:func:`~rnnkit.tune.space.stack_space`). A task adds its own keys."""
        from rnnkit.tune.space import stack_space

        return stack_space(self)

    # ------------------------------------------------- after training (commands, report)
    def describe_data(self) -> str:
        """One line about the data for ``report.json`` ("data"): by default the value of the
        data section's ``name`` / ``source`` / ``path`` field."""
        return str(getattr(self.cfg.data, data_key(self.cfg.data)))

    def set_data(self, source: str) -> None:
        """Evaluate on another data source in the same format (``rnnkit evaluate --data``).
        The saved preprocessing (tokenizer, scaler) is kept, never refitted."""
        raise RnnkitError(f"task {self.name!r} does not support evaluating on other data (--data)")

    def predict(self, model: nn.Module, inputs: list[str]) -> list[dict[str, Any]]:
        """One prediction per raw input (``rnnkit predict``), e.g. ``{"label": ..., "p": ...}``.
        ``model`` is in eval mode; called after :meth:`restore` (capability ``predict``)."""
        raise self.unsupported("predict", "rnnkit predict")

    def input_cuts(self, inputs: Sequence[str]) -> list[str]:
        """What the model does not read of each raw ``predict`` input: ``""`` when it reads
        all of it, else one phrase, e.g. ``"412 tokens; the model reads the first 200
        (data.max_length)"``. ``rnnkit predict`` prints it as a note, or refuses the input
        (``--refuse-long``). Default: every input is read whole."""
        return [""] * len(inputs)

    def format_prediction(self, input: str, prediction: dict[str, Any]) -> str:
        """The line ``rnnkit predict`` prints for one input (default: ``key=value`` pairs)."""
        fields = "  ".join(
            f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in prediction.items()
        )
        return f"{fields}  {input!r}"

    def explain_input(self, model: nn.Module, spec: str) -> ExplainInput:
        """``rnnkit explain``'s INPUT ``spec`` as the scalar to explain and its input
        (capability ``explain``; see :mod:`rnnkit.tasks.explaining`)."""
        raise self.unsupported("explain", "rnnkit explain")

    def generate(self, model: nn.Module, prime: str, length: int, **sampling: Any) -> str:
        """``prime`` followed by ``length`` sampled symbols (capability ``generate``).
        ``sampling``: ``temperature``, ``top_k``, ``top_p``, ``generator``."""
        raise self.unsupported("generate", "rnnkit generate")

    def forecast_series(
        self,
        model: nn.Module,
        horizon: int | None = None,
        *,
        source: str | None = None,
        backtest: bool = False,
    ) -> list[dict[str, Any]]:
        """The forecast of each series after its end (capability ``forecast``)."""
        raise self.unsupported("forecast", "rnnkit forecast")

    def export_info(self) -> dict[str, Any]:
        """What a client of ``rnnkit export``'s file needs to turn raw inputs into the
        graph's inputs, beyond the run's artefacts (capability ``export``): the
        ``"preprocessing"`` entry of the metadata. Called after :meth:`restore`."""
        return {}

    def gradflow_probe(self, model: nn.Module, batch: Batch) -> tuple[Any, ...]:
        """What ``train.gradflow`` measures on ``batch``: ``(recurrent, x, loss_fn, state)``,
        the recurrent stack, its input ``(B, T, D)``, the loss as a function of the stack's
        output and the initial state (``None`` = zeros)."""
        raise RnnkitError(f"task {self.name!r} does not expose its recurrent stack")

    @classmethod
    def has_gradflow_probe(cls) -> bool:
        """Whether :meth:`gradflow_probe` is implemented (``train.gradflow`` works)."""
        return cls.gradflow_probe is not Task.gradflow_probe

    # ------------------------------------------------------------------ capabilities
    @classmethod
    def supports(cls, capability: str) -> bool:
        """Whether this task can do ``capability`` (one of :data:`CAPABILITIES`)."""
        if capability not in CAPABILITIES:
            raise ValueError(f"unknown capability {capability!r}; expected one of {CAPABILITIES}")
        return capability in cls.capabilities

    @classmethod
    def unsupported(cls, capability: str, command: str) -> RnnkitError:
        """The error for ``command`` on a task without ``capability``, naming the tasks
        that have it."""
        from rnnkit.tasks import tasks_with

        others = ", ".join(tasks_with(capability)) or "none"
        return RnnkitError(
            f"{command}: a {cls.name!r} run cannot {capability}; the tasks that can: {others}"
        )

    @classmethod
    def require(cls, capability: str, command: str) -> None:
        """Refuse ``command`` (e.g. ``"rnnkit generate"``) unless this task supports
        ``capability``; the message names the tasks that do."""
        if not cls.supports(capability):
            raise cls.unsupported(capability, command)
