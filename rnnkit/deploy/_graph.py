"""A small builder over ``onnx.helper``: named nodes, constants from tensors, unique names.

The writers in :mod:`rnnkit.deploy` describe a model as a sequence of ``g.op(...)`` calls
that read like the PyTorch forward they mirror::

    g = Graph("classifier")
    x = g.input("inputs", onnx.TensorProto.INT64, ["batch", "time"])
    emb = g.op("Gather", g.const("embedding", model.encoder.weight), x)   # (B, T, E)
    g.output(emb, "emb", onnx.TensorProto.FLOAT, ["batch", "time", "E"])
    proto = g.model(opset=17)
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

from rnnkit.deploy._require import require_onnx

OPSET = 17  # ONNX opset the writers target (onnxruntime >= 1.14 runs it)


class Graph:
    """An ONNX graph under construction.

    Attributes:
        nodes, initializers, inputs, outputs: the ``onnx`` protos collected so far.
    """

    def __init__(self, name: str, parent: Graph | None = None) -> None:
        self.onnx = require_onnx()
        self.name = name
        self.nodes: list[Any] = []
        # a subgraph (a Scan body) puts its constants in the outermost graph, which the
        # body reads by name from the outer scope; names are unique across all of them
        self.initializers: list[Any] = parent.initializers if parent else []
        # identical constants are stored once (a rollout's unrolled steps reuse the weights)
        self._consts: dict[tuple, str] = parent._consts if parent else {}
        self.inputs: list[Any] = []
        self.outputs: list[Any] = []
        self._used: set[str] = parent._used if parent else set()

    def subgraph(self, name: str) -> Graph:
        """A graph for a control-flow body (``Scan``) sharing this graph's names and
        constants; finish it with :meth:`body`."""
        return Graph(name, parent=self)

    def body(self) -> Any:
        """The ``onnx.GraphProto`` of a subgraph made by :meth:`subgraph`."""
        return self.onnx.helper.make_graph(self.nodes, self.name, self.inputs, self.outputs)

    def fresh(self, hint: str) -> str:
        """A value name not used yet, built from ``hint``."""
        name, n = hint, 1
        while name in self._used:
            n += 1
            name = f"{hint}_{n}"
        self._used.add(name)
        return name

    # ------------------------------------------------------------------ values
    def input(self, name: str, elem_type: int, shape: list[int | str] | None) -> str:
        """Declare a graph input; ``shape`` entries are sizes or symbolic axis names."""
        self._used.add(name)
        self.inputs.append(self.onnx.helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def output(self, value: str, name: str, elem_type: int, shape: list[int | str] | None) -> str:
        """Declare ``value`` as the graph output ``name`` (through an Identity if renamed)."""
        if value != name:
            self._used.add(name)
            self.nodes.append(self.onnx.helper.make_node("Identity", [value], [name]))
        self.outputs.append(self.onnx.helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def const(self, hint: str, value: torch.Tensor | np.ndarray | list | float | int) -> str:
        """An initializer holding ``value`` (tensors detached to float32 / int64 numpy); a
        value equal to one already stored (dtype, shape and bytes) reuses its name."""
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        array = np.asarray(value)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        key = (array.dtype.str, array.shape, hashlib.sha1(array.tobytes()).hexdigest())
        if key in self._consts:
            return self._consts[key]
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        self._consts[key] = name
        return name

    def ints(self, hint: str, values: list[int]) -> str:
        """An int64 vector constant (shapes, axes, indices)."""
        return self.const(hint, np.asarray(values, dtype=np.int64))

    # ------------------------------------------------------------------ nodes
    def op(
        self, op_type: str, *inputs: str, outputs: int = 1, hint: str | None = None, **attrs: Any
    ) -> Any:
        """Append one node; return its output name (or a list when ``outputs > 1``).
        An empty string in ``inputs`` is an omitted optional input."""
        base = hint or op_type.lower()
        names = [self.fresh(base if i == 0 else f"{base}_out{i}") for i in range(outputs)]
        node = self.onnx.helper.make_node(
            op_type, list(inputs), names, name=self.fresh(f"n_{base}"), **attrs
        )
        self.nodes.append(node)
        return names[0] if outputs == 1 else names

    def linear(self, x: str, weight: torch.Tensor, bias: torch.Tensor | None, hint: str) -> str:
        """``x @ weight.T + bias`` for ``x`` ``(..., in)``, as ``torch.nn.functional.linear``."""
        y = self.op(
            "MatMul", x, self.const(f"{hint}.weight_t", weight.detach().T.contiguous()), hint=hint
        )
        if bias is not None:
            y = self.op("Add", y, self.const(f"{hint}.bias", bias), hint=hint)
        return y

    # ------------------------------------------------------------------ model
    def model(self, *, opset: int = OPSET, doc: str = "") -> Any:
        """The finished, checked ``onnx.ModelProto``."""
        helper = self.onnx.helper
        graph = helper.make_graph(
            self.nodes, self.name, self.inputs, self.outputs, initializer=self.initializers
        )
        proto = helper.make_model(
            graph,
            producer_name="rnnkit",
            opset_imports=[helper.make_opsetid("", opset)],
            doc_string=doc,
        )
        proto.ir_version = min(proto.ir_version, 8)  # readable by older onnxruntime builds
        self.onnx.checker.check_model(proto, full_check=True)
        return proto
