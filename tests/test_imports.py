"""Every module of the package imports on its own, in a fresh interpreter (no import cycle
hides behind the order in which ``import rnnkit`` happens to load things), and the low
layers never import the high ones."""

from __future__ import annotations

import ast
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import rnnkit

ROOT = Path(rnnkit.__file__).parent

# One child per module, forked from a parent that has imported the heavy third-party
# libraries but nothing of rnnkit, so each child imports its module first.
SCRIPT = r"""
import importlib, json, os, sys, traceback
import numpy, torch  # noqa: F401 (loaded once in the parent; children share them)
names = json.loads(sys.argv[1])
failures = {}
for name in names:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            importlib.import_module(name)
            msg = b""
        except ModuleNotFoundError as e:
            top = (e.name or "").split(".")[0]
            msg = b"" if top and top != "rnnkit" else traceback.format_exc().encode()
        except BaseException:
            msg = traceback.format_exc().encode()
        os.write(w, msg[-4000:])
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read()
    os.waitpid(pid, 0)
    if out:
        failures[name] = out.decode(errors="replace")
print(json.dumps(failures))
"""


def package_modules() -> list[str]:
    """Every module and package of rnnkit, e.g. ``rnnkit.tasks.base`` (not ``__main__``,
    which runs the CLI when imported)."""
    names = ["rnnkit"]
    for info in pkgutil.walk_packages([str(ROOT)], prefix="rnnkit."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return sorted(names)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")  # POSIX: never skips in CI
def test_every_module_imports_alone_in_a_fresh_interpreter():
    names = package_modules()
    assert "rnnkit.tasks.base" in names and "rnnkit.training.loop" in names
    env = {**os.environ, "PYTHONPATH": str(ROOT.parent)}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(names)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    failures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())


# The package's layer order, low to high: a module may import (at module level or inside a
# function alike) only from its own layer or a lower one; an import that points up is a
# cycle in waiting. A module belongs to the longest prefix listed (``rnnkit.tune.space``,
# the search-space types the tasks declare, sits below the tasks; the rest of
# ``rnnkit.tune`` runs trainings and sits above them). Imports under ``if TYPE_CHECKING:``
# are annotations only and do not count. ``from rnnkit import __version__`` is allowed
# everywhere; any other name taken from the top-level ``rnnkit`` counts as the top layer.
LAYERS: list[tuple[str, ...]] = [
    ("rnnkit.errors", "rnnkit.io"),
    ("rnnkit.cells", "rnnkit.metrics", "rnnkit.sampling", "rnnkit.data"),
    ("rnnkit.layers", "rnnkit.baselines", "rnnkit.config", "rnnkit.distributed"),
    ("rnnkit.fused", "rnnkit.models", "rnnkit.tune.space"),
    ("rnnkit.tasks", "rnnkit.diagnostics"),
    ("rnnkit.runs", "rnnkit.rundir"),
    ("rnnkit.training",),
    ("rnnkit.api",),
    ("rnnkit.explain", "rnnkit.tune", "rnnkit.estimators", "rnnkit.deploy"),
    ("rnnkit.tools", "rnnkit.__main__", "rnnkit"),
]


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of the longest listed prefix of ``module``."""
    best, rank = "", -1
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            hit = module == prefix or module.startswith(prefix + ".")
            if hit and len(prefix) > len(best):
                best, rank = prefix, i
    assert rank >= 0, f"{module} is in no layer of LAYERS: add it"
    return rank


def _type_checking_only(tree: ast.Module) -> set[int]:
    """The ids of the nodes under ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", "")
            if name == "TYPE_CHECKING":
                out.update(id(n) for s in node.body for n in ast.walk(s))
    return out


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` for every rnnkit import that runs, at module level or in a
    function; ``from rnnkit import x`` names ``rnnkit.x``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    typing_only = _type_checking_only(tree)
    out = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "rnnkit":
                out += [(node.lineno, f"rnnkit.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, node.module))
    return [(line, name) for line, name in out if name.split(".")[0] == "rnnkit"]


def _target_layer(name: str) -> int:
    if name == "rnnkit.__version__":
        return 0
    if (
        name.count(".") == 1
        and not (ROOT / f"{name.split('.')[1]}.py").exists()
        and not (ROOT / name.split(".")[1]).is_dir()
    ):
        return layer_of("rnnkit")  # a name re-exported by the top-level package
    return layer_of(name)


def test_no_module_uses_relative_imports():
    """The layer check reads absolute imports only; the package writes no other kind."""
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        bad += [
            f"{path.relative_to(ROOT.parent)}:{n.lineno}"
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.level > 0
        ]
    assert not bad, "relative imports: " + ", ".join(bad)


def test_every_import_follows_the_layer_order():
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        own = layer_of(module)
        for line, name in _imports(path):
            if _target_layer(name) > own:
                bad.append(f"{path.relative_to(ROOT.parent)}:{line} imports {name} (layer "
                           f"{_target_layer(name)} above {module}'s {own})")  # fmt: skip
    assert not bad, "\n".join(bad)


def test_the_layer_check_sees_an_upward_import(tmp_path):
    """The check is not vacuous: a models module importing the top-level package, or a
    task importing the training loop inside a function, is caught."""
    assert _target_layer("rnnkit.LSTM") > layer_of("rnnkit.models.stack")
    assert _target_layer("rnnkit.training.loop") > layer_of("rnnkit.tasks.base")
    assert layer_of("rnnkit.tune.space") < layer_of("rnnkit.tasks") < layer_of("rnnkit.tune")
    src = tmp_path / "m.py"
    src.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from rnnkit.training import fit\n"
        "def f():\n    import rnnkit\n    from rnnkit import __version__, io\n"
    )
    assert _imports(src) == [(5, "rnnkit"), (6, "rnnkit.__version__"), (6, "rnnkit.io")]


# Left for the recurrent core's own work (rnnkit/cells, rnnkit/layers): the layer takes its
# cell's step table by its private name.
KNOWN_PRIVATE_IMPORTS = {"rnnkit.cells.minrnn._STEPS"}


def _private_owner(name: str) -> str | None:
    """The package or module that owns the first private part of dotted ``name``
    (``rnnkit.data.ucr._parse_values`` -> ``rnnkit.data.ucr``), or None if none is private."""
    parts = name.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])
    return None


def _names_taken(path: Path) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every rnnkit module or name imported by ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return [(line, name) for line, name in out if name.split(".")[0] == "rnnkit"]


def private_imports(path: Path, module: str) -> list[str]:
    """The private names ``path`` (module ``module``) takes from outside their owner."""
    bad = []
    for line, name in _names_taken(path):
        owner = _private_owner(name)
        if owner is None or name in KNOWN_PRIVATE_IMPORTS:
            continue
        if not (module == owner or module.startswith(owner + ".")):  # its __init__ too
            bad.append(f"{path.name}:{line} imports {name} from outside {owner}")
    return bad


def test_no_module_takes_a_private_name_from_another():
    """A private name (``_x``) is used only inside the module or package that owns it:
    ``rnnkit.layers.base`` may import ``rnnkit.layers._checks``; a task may not import
    ``rnnkit.tasks.adding._Batches`` nor the tools ``rnnkit.fused._ops``."""
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        bad += private_imports(path, module.removesuffix(".__init__"))
    assert not bad, "\n".join(bad)


def test_the_private_import_check_sees_one(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(
        "from rnnkit.tasks.adding import _Batches\nimport rnnkit.fused._ops\n"
        "from rnnkit.layers import _checks\nfrom rnnkit import __version__\n"
    )
    assert private_imports(src, "rnnkit.tasks.smnist") == [
        "m.py:1 imports rnnkit.tasks.adding._Batches from outside rnnkit.tasks.adding",
        "m.py:2 imports rnnkit.fused._ops from outside rnnkit.fused",
        "m.py:3 imports rnnkit.layers._checks from outside rnnkit.layers",
    ]
    assert private_imports(src, "rnnkit.layers.base")[2:] == []
    assert private_imports(src, "rnnkit.fused")[1:] == [  # a package's __init__ re-exports
        "m.py:3 imports rnnkit.layers._checks from outside rnnkit.layers"
    ]
