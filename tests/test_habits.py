"""The project's habits hold: the version is written once, no file points outside the
repository, the pre-commit hooks run ruff, ruff-format and mypy at commit, and .ci/run
fails on a skipped test (it sets CI, which the root conftest.py reads)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

import rnnkit

ROOT = Path(__file__).resolve().parents[1]
TEXT = (".py", ".md", ".toml", ".yaml", ".yml", ".sh", ".rst", ".cfg", ".txt", ".j2")
SKIP_DIRS = {".git", "_build", "__pycache__", ".venv", "runs", "build", "dist"}


def _tracked_text_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        egg = any(p.endswith(".egg-info") for p in parts)
        if path.is_file() and path.suffix in TEXT and not parts & SKIP_DIRS and not egg:
            files.append(path)
    files.append(ROOT / ".ci" / "run")
    return files


def test_the_version_is_written_once() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "rnnkit.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", rnnkit.__version__)
    literal = re.compile(rf"""['"]{re.escape(rnnkit.__version__)}['"]""")
    written = [  # documentation may show it in an example output (a report.json)
        str(p.relative_to(ROOT))
        for p in _tracked_text_files()
        if p.suffix not in (".md", ".rst")
        and literal.search(p.read_text(encoding="utf-8", errors="replace"))
    ]
    assert written == ["rnnkit/__init__.py"], written


def test_no_file_points_outside_the_repository() -> None:
    # e.g. benchmarks/speed.py's docstring once sent readers to /work/shared/BENCHMARKS.md
    outside = re.compile(r"/work/|/home/\w|/Users/\w")
    found = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in _tracked_text_files()
        if p.name != Path(__file__).name
        for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if outside.search(line)
    ]
    assert found == [], found
    assert "/work/" not in (ROOT / "benchmarks" / "speed.py").read_text(encoding="utf-8")


def test_pre_commit_runs_ruff_ruff_format_and_mypy_at_commit() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert {"ruff", "ruff-format", "mypy"} <= set(hooks)
    for name in ("ruff", "ruff-format", "mypy"):
        stages = hooks[name].get("stages", ["pre-commit"])
        assert "pre-commit" in stages, f"the {name} hook does not run at commit: {stages}"
    assert "ruff format" in hooks["ruff-format"]["entry"]
    assert "--check" not in hooks["ruff-format"]["entry"]  # it formats the staged files
    assert hooks["mypy"]["entry"].endswith("mypy") and hooks["mypy"]["pass_filenames"] is False


def test_ci_fails_on_a_skipped_test_and_runs_every_check() -> None:
    lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert any(re.fullmatch(r"export CI=.*true.*", ln) for ln in lines), "CI is not set"
    for step in ("python3 -m ruff check .", "python3 -m mypy", "python3 -m pytest"):
        assert step in lines, step
    assert any(ln.startswith("python3 -m sphinx") and " -W " in ln for ln in lines)
    pytest_cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    options = pytest_cfg["tool"]["pytest"]["ini_options"]
    assert "--doctest-modules" in options["addopts"] and "rnnkit" in options["testpaths"]


def test_the_api_reference_covers_the_public_entry_points() -> None:
    api = ROOT / "docs" / "api"
    index = (api / "index.rst").read_text(encoding="utf-8")
    pages = re.findall(r"^   (\w+)$", index, flags=re.M)
    assert {"layers", "cells", "training", "estimators", "tasks", "explain"} <= set(pages)
    assert all((api / f"{page}.rst").is_file() for page in pages), pages
    text = "\n".join((api / f"{page}.rst").read_text(encoding="utf-8") for page in pages)
    for name in ("rnnkit.train", "rnnkit.load", "rnnkit.estimators.module_fit.fit",
                 "rnnkit.estimators.sequence.SequenceClassifier", "rnnkit.tasks.base.Task",
                 "rnnkit.data.static", "rnnkit.data.splits"):  # fmt: skip
        assert name in text, name


def test_the_recurrent_core_is_type_checked_with_mypys_strict_flags() -> None:
    """cells/ and layers/ get every flag of ``mypy --strict`` (per module: mypy's ``strict``
    is global-only), and both packages are in the checked files."""
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert {"rnnkit/cells", "rnnkit/layers"} <= set(mypy["files"])
    core = [o for o in mypy.get("overrides", []) if "rnnkit.cells.*" in o["module"]]
    assert len(core) == 1 and {"rnnkit.layers", "rnnkit.layers.*"} <= set(core[0]["module"])
    strict_flags = {
        "disallow_untyped_defs", "disallow_incomplete_defs", "disallow_untyped_calls",
        "disallow_untyped_decorators", "disallow_any_generics", "disallow_subclassing_any",
        "check_untyped_defs", "warn_return_any", "strict_equality", "extra_checks",
    }  # fmt: skip
    assert {k for k, v in core[0].items() if v is True} >= strict_flags
    assert mypy["warn_unused_ignores"] and mypy["warn_redundant_casts"]
