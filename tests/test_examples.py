"""Every script in examples/ runs to the end in its smoke mode (tiny sizes)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "examples").glob("*.py"))


def test_every_example_is_tested():
    assert {p.name for p in SCRIPTS} == {
        "array_regressor.py", "custom_cell.py", "own_csv.py", "plain_torch.py",
        "text_classifier.py", "train_tasks.py",
    }  # fmt: skip


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_example_runs_in_smoke_mode(script: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(script), "--smoke"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "Traceback" not in result.stderr


def test_the_readme_in_memory_block_runs(tmp_path: Path) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- in-memory -->\n```python\n(.*?)\n```", text, flags=re.S)
    assert match, "README.md lost its in-memory example block"
    code = match.group(1)
    lines = [ln for ln in code.splitlines() if ln.strip() and not ln.startswith(("import", "from"))]
    assert len(lines) <= 5, lines  # data, labels, fit, predict: five lines at most
    assert "epochs=10" in code
    script = tmp_path / "readme.py"
    script.write_text(code.replace("epochs=10", "epochs=1"), encoding="utf-8")  # seconds
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    labels, *_, score = result.stdout.split()
    assert labels.startswith("[") and 0.0 <= float(score) <= 1.0, result.stdout


def test_train_tasks_covers_every_built_in_task() -> None:
    import runpy

    script = runpy.run_path(str(ROOT / "examples" / "train_tasks.py"), run_name="example")
    built_in = {"sentiment", "forecast", "tsclass", "charlm", "adding", "copy"}
    built_in |= {"selective_copy", "smnist", "translate", "g2p"}
    assert built_in <= set(script["SMOKE"]), built_in - set(script["SMOKE"])
    assert set(script["SMOKE_IN_CI"].split(",")) <= set(script["SMOKE"])
    text = (ROOT / "examples" / "train_tasks.py").read_text(encoding="utf-8")
    assert "task ==" not in text  # it asks the task what it can do (task.supports)
