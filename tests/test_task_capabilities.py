"""Tasks declare what they can do; the commands ask the task, never its name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from test_training_fake import fake_task  # noqa: F401 (fixture)

import rnnkit
from rnnkit.errors import RnnkitError
from rnnkit.tasks import CAPABILITIES, TASKS, get_task_class, tasks_with
from rnnkit.tasks.base import Task
from rnnkit.tools.cli import main

# capability -> the method that a task declaring it must implement
METHODS = {
    "predict": "predict",
    "explain": "explain_input",
    "generate": "generate",
    "forecast": "forecast_series",
}


@pytest.mark.parametrize("name", sorted(TASKS))
def test_declared_capabilities_match_the_implemented_methods(name):
    cls = get_task_class(name)
    assert cls.capabilities <= set(CAPABILITIES), cls.capabilities
    assert "evaluate" in cls.capabilities  # every task is evaluated by the loop
    for capability, method in METHODS.items():
        overridden = getattr(cls, method) is not getattr(Task, method)
        assert cls.supports(capability) == overridden, (name, capability)
    if cls.supports("explain"):
        assert cls.explain_help, f"{name}: explain_help says what INPUT is"


def test_tasks_with_lists_the_tasks_that_declare_a_capability():
    assert tasks_with("generate") == ["charlm"]
    assert tasks_with("forecast") == ["array_forecast", "forecast"]
    assert set(tasks_with("explain")) >= {"sentiment", "tsclass", "forecast", "charlm"}
    assert "adding" not in tasks_with("predict")


def test_an_unknown_capability_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown capability 'fly'"):
        get_task_class("adding").supports("fly")


def test_require_names_the_command_and_the_tasks_that_can():
    with pytest.raises(RnnkitError) as e:
        get_task_class("adding").require("generate", "rnnkit generate")
    assert str(e.value) == (
        "rnnkit generate: a 'adding' run cannot generate; the tasks that can: charlm"
    )
    get_task_class("charlm").require("generate", "rnnkit generate")  # no error


@pytest.fixture(scope="module")
def adding_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "adding"
    rnnkit.train(
        "adding",
        out=out,
        verbose=False,
        data={"length": 6, "train_size": 8, "val_size": 4, "test_size": 4},
        model={"hidden_size": 4, "num_layers": 1},
        train={"epochs": 1, "batch_size": 4, "progress": False, "tensorboard": False},
    )
    return out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "{run}"], "rnnkit generate: a 'adding' run cannot generate; the tasks "
         "that can: charlm"),
        (["forecast", "{run}"], "rnnkit forecast: a 'adding' run cannot forecast; the tasks "
         "that can: array_forecast, forecast"),
        (["predict", "{run}", "x"], "predict: a 'adding' run cannot predict; the tasks that "
         "can: array_classification, array_forecast, array_regression, array_text, forecast, "
         "g2p, sentiment, speech, translate, tsclass"),
    ],
)  # fmt: skip
def test_commands_refuse_a_task_without_the_capability(adding_run, capsys, argv, message):
    assert main([a.format(run=adding_run) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


# The code above the tasks that must ask a task, never test its name.
ASKERS = ("tools", "explain", "deploy", "training", "tune", "estimators", "api.py", "runs.py")


def _task_name_tests(source: str, names: set[str]) -> list[tuple[int, str]]:
    """``(line, what)`` for each comparison with a task-name literal (``== "charlm"``,
    ``in ("forecast", "tsclass")``), each dict keyed by task names (a single key such as
    ``{"forecast": values}`` names an output, not a table over tasks) and each
    ``get_task_class("...")`` in ``source``."""

    def literals(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Constant) and node.value in names:
            return [node.value]
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return [e.value for e in node.elts if isinstance(e, ast.Constant) and e.value in names]
        return []

    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            out += [(node.lineno, f"compares with {n!r}") for c in (node.left, *node.comparators)
                    for n in literals(c)]  # fmt: skip
        elif isinstance(node, ast.Dict):  # a table over tasks: two task names or more
            keys = [n for k in node.keys if k is not None for n in literals(k)]
            out += [(node.lineno, f"keys a dict by {keys}")] if len(keys) > 1 else []
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "get_task_class":
            out += [(node.lineno, f"looks up {n!r}") for a in node.args for n in literals(a)]
    return out


def test_no_command_or_the_explainer_tests_a_task_name():
    root = Path(rnnkit.__file__).parent
    names = set(TASKS)
    bad = []
    for part in ASKERS:
        for path in [root / part] if part.endswith(".py") else sorted((root / part).rglob("*.py")):
            for line, what in _task_name_tests(path.read_text(encoding="utf-8"), names):
                bad.append(f"{path.relative_to(root.parent)}:{line} {what}")
    assert not bad, "ask the task (Task.supports / require) instead:\n" + "\n".join(bad)


def test_the_task_name_check_sees_a_name_test():
    src = 'if cfg.task == "charlm" or t in ("forecast", "x"):\n    d = {"smnist": 1, "copy": 2}\n'
    src += 'out = {"forecast": 3}\n'
    src += 'get_task_class("adding")\n'
    found = _task_name_tests(src, set(TASKS))
    assert sorted(found) == [
        (1, "compares with 'charlm'"), (1, "compares with 'forecast'"),
        (2, "keys a dict by ['smnist', 'copy']"), (4, "looks up 'adding'"),
    ]  # fmt: skip
