"""CONTRIBUTING.md's example task is real: written to a module, registered, trained."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from rnnkit.tasks import TASKS
from rnnkit.tools.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _example_task_source() -> str:
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- example-task -->\n```python\n(.*?)\n```", text, flags=re.S)
    assert match, "CONTRIBUTING.md lost its example task block"
    return match.group(1)


@pytest.fixture
def majority_registered(tmp_path, monkeypatch):
    (tmp_path / "majority_task.py").write_text(_example_task_source(), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(TASKS, "majority", "majority_task:MajorityTask")
    yield
    sys.modules.pop("majority_task", None)


def test_the_example_task_trains_and_evaluates(majority_registered, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "majority", "--out", str(out), "--epochs", "8", "--set"]
    args += ["train.progress=false", "train.early_stopping=0"]
    args += ["data.length=9", "data.train_size=1024"]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["baselines"]["guessing"]["accuracy"] == 0.5
    assert report["test"]["accuracy"] > 0.9, report["test"]  # majority of 9 bits is learned
    assert main(["evaluate", str(out)]) == 0
    assert "accuracy" in capsys.readouterr().out
    # it declared only what it can do: predict is refused with the task's name
    assert main(["predict", str(out), "0101"]) == 2
    assert "majority" in capsys.readouterr().err


def test_every_file_contributing_points_to_exists():
    """The map stays true: each path it names (with ``<family>`` and the like filled by an
    existing example) is a file or folder of the repository, and each name it tells a
    contributor to edit is where it says."""
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    roots = "rnnkit|tests|docs|examples|benchmarks|scripts"
    paths = set(re.findall(rf"`((?:{roots})/[^`\s]*)`", text))
    assert len(paths) > 15, paths
    written = {"tests/test_majority.py"}  # the example task's test, which a contributor writes
    missing = sorted(
        p for p in paths - written if "<" not in p and not (ROOT / p.rstrip("/")).exists()
    )
    assert missing == [], missing
    templated = {p for p in paths if "<" in p}
    assert {"rnnkit/cells/<family>.py", "tests/test_families_<family>.py"} <= templated
    for path, name in [
        ("rnnkit/layers/backends.py", "FAMILIES"),
        ("rnnkit/layers/backends.py", "AutoRow"),
        ("rnnkit/models/stack.py", "RECURRENT"),
        ("rnnkit/models/stack.py", "def _family("),
        ("rnnkit/tasks/__init__.py", "TASKS"),
        ("rnnkit/tools/cli.py", "COMMANDS"),
        ("rnnkit/data/builtin.py", "BuiltinDataset"),
    ]:
        assert name in (ROOT / path).read_text(encoding="utf-8"), (path, name)
