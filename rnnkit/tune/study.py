"""``rnnkit tune TASK``: a hyper-parameter search with Optuna, one run directory per trial.

The search::

    base config  = the task's defaults, --config FILE.yaml, --set ..., --data (fixed)
    for each trial (TPE sampler):
        params   = one point of the task's search space (Task.search_space), less the
                   keys the user fixed
        run      = fit(task(base + params), STUDY/trials/NNNN, final_test=False)
                   # each epoch the monitored validation metric goes to the pruner, which
                   # stops a trial that is worse than the median of the earlier ones
        value    = the run's best validation metric
    best         = the best complete trial: best.yaml, then its test split, read once

The study directory::

    STUDY_DIR/
      study.json        what the study is: task, fixed options, metric, search space
      journal.log       Optuna's storage (a journal file): the study resumes from it
      trials/0000/ ...  every trial's run directory (config.yaml, metrics.jsonl, ...)
      best.yaml         the best trial's config: rnnkit train TASK --config best.yaml
      summary.md        a table of every trial, and the parameters' importance
      importance.png    the importance plot (once two trials have completed)
      report.json       the best trial, its validation and test metrics, the baselines

Running the same command again on an existing study continues it up to ``--trials``
complete (or pruned) trials; a trial cut off by a killed process is tried again.
The test split is never used to choose: only the best trial's weights see it, once,
after the search (and again only when a later search finds a better trial).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from rnnkit.config import RunConfig, list_keys, load_yaml, nest_dotted, parse_overrides, to_dict
from rnnkit.errors import RnnkitError
from rnnkit.training.callbacks import Callback
from rnnkit.tune.space import Param, check_space, clean_value

if TYPE_CHECKING:
    import optuna

    from rnnkit.training.loop import Session

STUDY = "study.json"
JOURNAL = "journal.log"
TRIALS = "trials"
BEST = "best.yaml"
SUMMARY = "summary.md"
IMPORTANCE = "importance.png"
REPORT = "report.json"
STUDY_FORMAT = 1  # study.json's format_version; newer ones are refused
STUDY_NAME = "rnnkit"  # the one study in journal.log


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise RnnkitError(
            "rnnkit tune needs Optuna, which is not installed: pip install 'rnnkit[tune]' "
            "(or pip install optuna)"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


# ----------------------------------------------------------------------------- the pruner


class PruningCallback(Callback):
    """Feeds the monitored validation metric of every epoch to an Optuna trial, and ends
    the run (``stopped: "pruned"``) when the study's pruner says the trial is poor (never
    after its last epoch: a trial that ran all its epochs is complete).

    Args:
        trial: the Optuna trial the run belongs to.

    Attributes:
        pruned_at: the epoch after which the run was pruned (0 = not pruned).
    """

    def __init__(self, trial: optuna.trial.Trial) -> None:
        self.trial = trial
        self.pruned_at = 0

    def on_epoch_end(self, session: Session, row: dict[str, Any]) -> None:
        value = row.get(f"val.{session.monitor}")
        if value is None or not math.isfinite(value):
            return
        epoch = int(row["epoch"])
        self.trial.report(float(value), epoch)
        if epoch < session.task.cfg.train.epochs and self.trial.should_prune():
            session.state.stopped = "pruned"
            self.pruned_at = epoch
            session.say(f"pruned after epoch {epoch}")


# ----------------------------------------------------------------------------- the base


@dataclasses.dataclass
class StudyOptions:
    """What every trial of a study shares: the task and the options the user fixed.

    Attributes:
        task: the task name.
        config: the ``--config`` file's keys (a nested dict), or {}.
        overrides: ``--set`` pairs and the flags as pairs (``data.name=PATH``, ``seed=3``).
    """

    task: str
    config: dict[str, Any]
    overrides: list[str]

    def resolve(self, params: Mapping[str, Any] | None = None) -> RunConfig:
        """The config of a trial: the task's defaults, the fixed options, then ``params``."""
        from rnnkit.tasks.resolve import apply_task_values, default_config

        cfg = default_config(self.task)
        if self.config:
            cfg = apply_task_values(cfg, self.config, "config file")
        if self.overrides:
            cfg = apply_task_values(cfg, parse_overrides(self.overrides), "--set")
        if params:
            cfg = apply_task_values(cfg, nest_dotted(dict(params)), "search space")
        return cfg

    def fixed_keys(self) -> set[str]:
        """The dotted keys the user set (they are left out of the search)."""
        keys = {pair.split("=", 1)[0].strip() for pair in self.overrides}
        return keys | set(_flatten(self.config))


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in values.items():
        if isinstance(v, Mapping):
            out |= _flatten(v, f"{prefix}{k}.")
        elif f"{prefix}{k}" != "task":
            out[f"{prefix}{k}"] = v
    return out


def options_from(
    task: str,
    *,
    data: str | None = None,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    epochs: int | None = None,
    seed: int | None = None,
    device: str | None = None,
) -> StudyOptions:
    """:class:`StudyOptions` from the command's options (``--data`` sets the task's data
    key, ``--epochs`` ``train.epochs`` ...)."""
    from rnnkit.config import data_key
    from rnnkit.tasks.resolve import default_config

    pairs = list(overrides)
    if data is not None:
        pairs.append(f"data.{data_key(default_config(task).data)}={data}")
    if epochs is not None:
        pairs.append(f"train.epochs={epochs}")
    if seed is not None:
        pairs.append(f"seed={seed}")
    if device is not None:
        pairs.append(f"device={device}")
    values = load_yaml(config) if config is not None else {}
    if "task" in values and values["task"] != task:
        raise RnnkitError(
            f"config file {config}: config key 'task' is {values['task']!r}, not {task!r}"
        )
    return StudyOptions(task, {k: v for k, v in values.items() if k != "task"}, pairs)


# ----------------------------------------------------------------------------- the study dir


def is_study_dir(path: str | Path) -> bool:
    """True when ``path`` holds an rnnkit ``study.json``."""
    return (Path(path) / STUDY).is_file()


def _check_out(out: Path) -> bool:
    """Refuse an ``--out`` that is not a study; True when it holds one (resume)."""
    from rnnkit import runs

    if out.exists() and not out.is_dir():
        raise RnnkitError(f"study directory {out} exists and is a file, not a directory")
    if is_study_dir(out):
        return True
    if out.is_dir() and not all(runs._is_leftover(p.name) for p in out.iterdir()):
        what = "a run directory" if runs.is_run_dir(out) else "not an rnnkit study"
        raise RnnkitError(
            f"--out {out} already exists and is {what} (no {STUDY}); choose another --out, "
            f"or give an existing study directory to continue it"
        )
    return False


def _read_study(out: Path) -> dict[str, Any]:
    path = out / STUDY
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as e:
        raise RnnkitError(f"{path}: damaged, not a study file ({e})") from None
    if not isinstance(info, dict) or not isinstance(info.get("task"), str):
        raise RnnkitError(f"{path}: not an rnnkit study file")
    if int(info.get("format_version", 0)) > STUDY_FORMAT:
        raise RnnkitError(
            f"{path}: written by a newer rnnkit (study format {info['format_version']})"
        )
    return info


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    from rnnkit.rundir import RunLock

    out.mkdir(parents=True, exist_ok=True)
    with RunLock(out):
        yield


def default_study_dir(task: str, root: str | Path = "runs") -> Path:
    """``runs/<task>-tune-<YYYYmmdd-HHMMSS>``."""
    from rnnkit import runs

    path = runs.default_run_dir(f"{task}-tune", root)
    return path


# ----------------------------------------------------------------------------- tune


def tune(
    options: StudyOptions,
    out: str | Path | None = None,
    *,
    trials: int = 20,
    minutes: float = 0.0,
    enqueue: Sequence[Mapping[str, Any]] = (),
    defaults_first: bool = True,
    verbose: bool = True,
) -> dict[str, Any]:
    """Search ``options.task``'s hyper-parameters; returns the study's ``report.json``.

    Args:
        options: the task and what every trial shares (:func:`options_from`).
        out: the study directory (created; an existing study is continued).
        trials: complete and pruned trials the study should hold at the end (a continued
            study runs only the missing ones).
        minutes: wall-clock budget of this call for the trials (0 = none); every trial's
            ``train.max_minutes`` is cut to what is left, and no trial starts after it.
        enqueue: parameter sets (``{"train.lr": 0.01, ...}``) to try first, in order.
        defaults_first: the first trial of a new study is the task's defaults (the
            search's starting point and the figure the others must beat).
        verbose: print a line per trial and the summary.

    Returns:
        The study report: task, metric, mode, trial counts, the best trial (number,
        parameters, validation metric, run directory), its test metrics and baselines.
    """
    from rnnkit.tasks import get_task_class

    say: Callable[..., None] = print if verbose else (lambda *a, **k: None)
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise RnnkitError(f"--trials: expected an integer >= 1, got {trials!r}")
    if not isinstance(minutes, int | float) or not math.isfinite(minutes) or minutes < 0:
        raise RnnkitError(f"--minutes: expected a number >= 0 (0 = no limit), got {minutes!r}")
    cls = get_task_class(options.task)  # an unknown task is refused here
    out = Path(out) if out is not None else default_study_dir(options.task)
    existing = _check_out(out)
    if existing:
        info = _read_study(out)
        if info["task"] != options.task:
            raise RnnkitError(
                f"{out} is a study of the {info['task']!r} task, not {options.task!r}"
            )
        stored = StudyOptions(
            info["task"], info.get("config") or {}, list(info.get("overrides", []))
        )
        given = (options.config, options.overrides)
        if any(given) and given != (stored.config, stored.overrides):
            raise RnnkitError(
                f"{out} is a study started with other options ({_describe(stored)}); continue "
                f"it with the same options or none, or choose another --out"
            )
        options = stored
    base = options.resolve()  # every fixed key checked before anything is written
    from rnnkit.training.loop import monitor_of, resolve_device

    resolve_device(base.device)
    task = cls(base)
    metric, mode = monitor_of(task)
    fixed = options.fixed_keys()
    keys = {k.key for k in list_keys(base)}
    full_space = task.search_space()
    check_space(full_space, keys, options.task)
    space = [p for p in full_space if p.key not in fixed]
    if not space:
        raise RnnkitError(
            f"nothing to tune: --set/--config fix every key of the {options.task} search space "
            f"({', '.join(p.key for p in full_space)})"
        )
    optuna = _optuna()

    with _locked(out):
        if not existing:
            from rnnkit.io import write_json

            write_json(out / STUDY, {
                "format_version": STUDY_FORMAT, "task": options.task, "config": options.config,
                "overrides": options.overrides, "metric": metric, "mode": mode,
                "seed": base.seed, "space": [p.as_dict() for p in space],
                "created": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            })  # fmt: skip
        study = _open_study(optuna, out, mode, base.seed, trials)
        retried = _retry_interrupted(optuna, study)
        if not existing:
            if defaults_first:
                first = {p.key: _config_value(base, p.key) for p in space}
                study.enqueue_trial(
                    {k: v for k, v in first.items() if _param(space, k).contains(v)}
                )
            for params in enqueue:
                study.enqueue_trial(dict(params))
        done = _count(study, optuna, ("COMPLETE", "PRUNED"))
        todo = trials - done
        again = f", {retried} cut off by a dead process tried again" if retried else ""
        say(f"study {out}: {options.task}, {len(space)} parameters, val.{metric} ({mode}); "
            f"{done} trials done, {max(todo, 0)} to run{again}")  # fmt: skip
        for p in space:
            say(f"  {p.describe()}")
        if fixed:
            say("  fixed: " + ", ".join(sorted(fixed)))
        t0 = time.monotonic()
        deadline = t0 + 60.0 * minutes if minutes > 0 else None
        if todo > 0:
            objective = _objective(options, space, out, metric, deadline, done + todo, say)
            try:
                study.optimize(objective, n_trials=todo, timeout=60.0 * minutes or None)
            except KeyboardInterrupt:
                print(f"interrupted; continue the study with: rnnkit tune {options.task} --out "
                      f"{out} --trials {trials}", file=sys.stderr)  # fmt: skip
                raise
        return _finish(optuna, study, out, options, space, metric, mode, say)


def _describe(options: StudyOptions) -> str:
    parts = [f"--set {' '.join(options.overrides)}"] if options.overrides else []
    if options.config:
        parts.append("a --config file")
    return ", ".join(parts) or "the task's defaults"


def _param(space: Sequence[Param], key: str) -> Param:
    return next(p for p in space if p.key == key)


def _config_value(cfg: RunConfig, key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        node = getattr(node, part)
    return node


def _open_study(optuna: Any, out: Path, mode: str, seed: int, trials: int) -> Any:
    """The study in ``out/journal.log`` (created empty the first time)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(out / JOURNAL)))
    # A handful of random trials before TPE models the good region; the median pruner
    # waits for a few complete trials and never stops a trial in its first epoch.
    startup = max(2, min(10, trials // 3))
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)
    pruner = optuna.pruners.MedianPruner(
        n_startup_trials=max(1, min(5, trials // 5)), n_warmup_steps=2
    )
    return optuna.create_study(
        storage=storage, study_name=STUDY_NAME, sampler=sampler, pruner=pruner,
        direction="maximize" if mode == "max" else "minimize", load_if_exists=True,
    )  # fmt: skip


def _retry_interrupted(optuna: Any, study: Any) -> int:
    """Trials left running by a process that died (the study is locked, so no live process
    runs them): marked failed, and their parameters queued to be tried again."""
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    storage = study._storage  # the study's own storage; Optuna has no public setter for this
    for t in running:
        storage.set_trial_user_attr(t._trial_id, "error", "interrupted (the process ended)")
        storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
        study.enqueue_trial(t.params)
    return len(running)


def _count(study: Any, optuna: Any, states: Sequence[str]) -> int:
    wanted = tuple(getattr(optuna.trial.TrialState, s) for s in states)
    return len(study.get_trials(deepcopy=False, states=wanted))


def _suggest(trial: Any, p: Param) -> Any:
    if p.kind == "choice":
        return trial.suggest_categorical(p.key, list(p.choices))
    if p.kind == "int":
        return trial.suggest_int(p.key, int(p.low), int(p.high), log=p.log)
    return clean_value(trial.suggest_float(p.key, p.low, p.high, log=p.log))


def _objective(
    options: StudyOptions,
    space: Sequence[Param],
    out: Path,
    metric: str,
    deadline: float | None,
    total: int,
    say: Callable[..., None],
) -> Callable[[Any], float]:
    """The function Optuna calls per trial: train one run directory, return its best
    validation metric (or prune it)."""
    import optuna

    from rnnkit.rundir import writing
    from rnnkit.tasks import get_task_class
    from rnnkit.training.loop import fit

    def objective(trial: optuna.trial.Trial) -> float:
        params = {p.key: _suggest(trial, p) for p in space}
        cfg = options.resolve(params)
        if deadline is not None:  # the study's budget bounds every trial
            left = max((deadline - time.monotonic()) / 60.0, 0.01)
            limit = min(cfg.train.max_minutes, left) if cfg.train.max_minutes > 0 else left
            cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, max_minutes=limit))
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, progress=False))
        run_dir = out / TRIALS / f"{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run_dir.relative_to(out)))
        shown = "  ".join(f"{k}={_fmt(v)}" for k, v in params.items())
        start = time.monotonic()
        pruning = PruningCallback(trial)
        try:
            with writing(run_dir, cfg.task) as rd:
                report = fit(get_task_class(cfg.task)(cfg), rd, verbose=False,
                             callbacks=[pruning], final_test=False)  # fmt: skip
        except RnnkitError as e:
            trial.set_user_attr("error", str(e))
            if not _count(trial.study, optuna, ("COMPLETE",)):
                raise  # no trial has worked yet: the setup is wrong, not this trial's values
            say(f"trial {trial.number + 1}/{total}  {shown}  failed: {e}")
            return math.nan
        except KeyboardInterrupt:
            trial.set_user_attr("error", "interrupted")
            raise
        seconds = time.monotonic() - start
        best = report["monitor"]["best"]
        trial.set_user_attr("best_epoch", report["best_epoch"])
        trial.set_user_attr("epochs", report["epochs"])
        trial.set_user_attr("stopped", report["stopped"])
        value = f"val.{metric} {best:.4f}" if best is not None else f"val.{metric} -"
        if report["stopped"] == "pruned":
            say(f"trial {trial.number + 1}/{total}  {shown}  pruned after epoch "
                f"{report['epochs']} ({value}, {seconds:.1f}s)")  # fmt: skip
            raise optuna.TrialPruned()
        say(f"trial {trial.number + 1}/{total}  {shown}  {value} (best epoch "
            f"{report['best_epoch']}/{report['epochs']}, {seconds:.1f}s)")  # fmt: skip
        return float(best) if best is not None else math.nan

    return objective


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


# ----------------------------------------------------------------------------- the end


def _finish(
    optuna: Any,
    study: Any,
    out: Path,
    options: StudyOptions,
    space: Sequence[Param],
    metric: str,
    mode: str,
    say: Callable[..., None],
) -> dict[str, Any]:
    """best.yaml, the summary, the importance plot, and the best trial's test split."""
    from rnnkit import runs
    from rnnkit.io import write_json, write_text
    from rnnkit.tune.summary import importances, plot_importances, summary_table

    all_trials = study.get_trials(deepcopy=False)
    counts = {s.name.lower(): 0 for s in optuna.trial.TrialState}
    for t in all_trials:
        counts[t.state.name.lower()] += 1
    complete = [t for t in all_trials if t.state == optuna.trial.TrialState.COMPLETE]
    importance = importances(study) if len(complete) >= 2 else {}
    best = study.best_trial if complete else None
    report: dict[str, Any] = {
        "task": options.task, "metric": metric, "mode": mode,
        "trials": {k: v for k, v in counts.items() if v}, "best": None,
        "importance": importance,
    }  # fmt: skip
    if best is not None:
        run_dir = out / best.user_attrs["run_dir"]
        cfg = runs.read_config(run_dir)
        write_text(out / BEST, best_yaml(cfg, options, space, best, metric, len(all_trials)))
        previous = _previous_report(out)
        if previous.get("best", {}).get("trial") == best.number and "test" in previous:
            test, baselines, anchor = previous["test"], previous["baselines"], previous["anchor"]
        else:
            say(f"best: trial {best.number + 1} (val.{metric} {best.value:.4f}); "
                "evaluating its weights on the test split")  # fmt: skip
            test, baselines, anchor = evaluate_best(run_dir)
            path = run_dir / runs.REPORT
            trial_report = json.loads(path.read_text(encoding="utf-8"))
            trial_report.update(test=test, baselines=baselines, anchor=anchor)
            write_json(path, trial_report)
        report["best"] = {
            "trial": best.number, "params": dict(best.params), "value": best.value,
            "run_dir": best.user_attrs["run_dir"], "best_epoch": best.user_attrs.get("best_epoch"),
        }  # fmt: skip
        report.update(test=test, baselines=baselines, anchor=anchor, config=BEST)
    write_text(out / SUMMARY, summary_table(out, options.task, all_trials, space, metric, mode,
                                            best, importance))  # fmt: skip
    if importance:
        plot_importances(importance, out / IMPORTANCE, f"{options.task}: val.{metric}")
    write_json(out / REPORT, report)
    say(summary_table(out, options.task, all_trials, space, metric, mode, best, importance))
    if best is None:
        raise RnnkitError(f"no trial of {out} completed (see {out / SUMMARY}); nothing to report")
    say(f"best config: {out / BEST}  (rnnkit train {options.task} --config {out / BEST})")
    test_line = "  ".join(f"{k} {v:.4f}" for k, v in report["test"].items() if "." not in k)
    say(f"test (best trial, read once): {test_line}")
    return report


def _previous_report(out: Path) -> dict[str, Any]:
    path = out / REPORT
    try:
        value = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def evaluate_best(run_dir: Path) -> tuple[dict[str, float], dict[str, Any], Any]:
    """The test metrics, baselines and anchor of a finished trial's best weights.

    The data are prepared again exactly as :func:`rnnkit.training.fit` did (same config,
    same seed; what ``prepare`` writes goes to a temporary directory, the trial's files
    are left as they are), the best weights loaded, and the test split read once.
    """
    from rnnkit import runs
    from rnnkit.tasks import get_task_class
    from rnnkit.training.loop import evaluate_split, resolve_device
    from rnnkit.training.seed import deterministic_mode, seed_everything

    cfg = runs.read_config(run_dir)
    task = get_task_class(cfg.task)(cfg)
    with deterministic_mode(cfg.train.deterministic):
        seed_everything(cfg.seed)
        with tempfile.TemporaryDirectory(prefix="rnnkit-tune-") as tmp:
            task.prepare(Path(tmp))
        model = task.build_model().to(resolve_device(cfg.device))
        runs.load_weights(model, run_dir / runs.WEIGHTS)
        test = evaluate_split(task, model, "test")
        return test, task.baselines(), task.anchor


def best_yaml(
    cfg: RunConfig,
    options: StudyOptions,
    space: Sequence[Param],
    best: Any,
    metric: str,
    n_trials: int,
) -> str:
    """The YAML ``rnnkit train --config`` takes: the task, the keys the user fixed and the
    best trial's parameters (the rest stays at the task's defaults)."""
    flat = _flatten(to_dict(cfg))
    keys = [k for k in flat if k in options.fixed_keys() or any(p.key == k for p in space)]
    values = nest_dotted({k: flat[k] for k in keys})
    head = (
        f"# rnnkit tune {options.task}: the best of {n_trials} trials (trial {best.number + 1}, "
        f"val.{metric} {best.value:.4f})\n# train it: rnnkit train {options.task} --config "
        "THIS_FILE\n"
    )
    return head + yaml.safe_dump({"task": options.task, **values}, sort_keys=False)


__all__ = [
    "BEST",
    "IMPORTANCE",
    "JOURNAL",
    "REPORT",
    "STUDY",
    "SUMMARY",
    "TRIALS",
    "PruningCallback",
    "StudyOptions",
    "best_yaml",
    "default_study_dir",
    "evaluate_best",
    "is_study_dir",
    "options_from",
    "tune",
]
