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


# Imports that would make a low layer depend on a higher one (module-level or inside a
# function alike): a cycle in waiting.
FORBIDDEN = {
    "rnnkit.config": ("rnnkit.tasks", "rnnkit.training", "rnnkit.models", "rnnkit.tools"),
    "rnnkit.models": ("rnnkit.tasks", "rnnkit.training", "rnnkit.tools", "rnnkit.explain"),
    "rnnkit.tasks": ("rnnkit.training", "rnnkit.tools", "rnnkit.explain", "rnnkit.api"),
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


def test_low_layers_never_import_high_ones():
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        for low, high in FORBIDDEN.items():
            if module != low and not module.startswith(low + "."):
                continue
            for line, name in _imports(path):
                if any(name == h or name.startswith(h + ".") for h in high):
                    bad.append(f"{path.relative_to(ROOT.parent)}:{line} imports {name}")
    assert not bad, "\n".join(bad)
