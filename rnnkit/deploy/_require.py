"""The optional dependencies of :mod:`rnnkit.deploy`, imported with a clear message."""

from __future__ import annotations

import importlib
from types import ModuleType

from rnnkit.errors import RnnkitError

INSTALL_HINT = 'pip install "rnnkit[deploy]"  (or: pip install onnx onnxruntime)'


def _require(module: str, purpose: str, hint: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise RnnkitError(
            f"{purpose} needs the package {module!r}, which is not installed; "
            f"install it with: {hint}"
        ) from None


def require_onnx() -> ModuleType:
    """The ``onnx`` module, or an RnnkitError saying what to install."""
    return _require("onnx", "ONNX export", INSTALL_HINT)


def require_onnxruntime() -> ModuleType:
    """The ``onnxruntime`` module, or an RnnkitError saying what to install."""
    return _require("onnxruntime", "running an exported model", INSTALL_HINT)


def require_server() -> tuple[ModuleType, ModuleType]:
    """``fastapi`` and ``uvicorn``, or an RnnkitError saying what to install."""
    hint = 'pip install "rnnkit[deploy]"  (or: pip install fastapi uvicorn)'
    return (_require("fastapi", "rnnkit serve", hint), _require("uvicorn", "rnnkit serve", hint))
