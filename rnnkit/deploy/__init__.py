"""Deployment: trained runs as ONNX files, and (see :mod:`rnnkit.deploy.server`) over HTTP.

``onnx`` / ``onnxruntime`` (and ``fastapi`` / ``uvicorn`` for serving) are the optional
extra ``rnnkit[deploy]``; without them these functions say what to install.

Example::

    from rnnkit.deploy import export_run
    path, meta = export_run("runs/sentiment-1")       # runs/sentiment-1/model.onnx
    meta["inputs"]   # [{"name": "inputs", "dtype": "int64", "shape": ["batch", "time"]}, ...]
"""

from __future__ import annotations

from rnnkit.deploy.export import check_parity, export_model, export_run, read_metadata

__all__ = ["check_parity", "export_model", "export_run", "read_metadata"]
