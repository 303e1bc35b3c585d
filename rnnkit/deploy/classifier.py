"""``SequenceClassifier`` as ONNX: ``(inputs, lengths) -> (logits, probabilities)``; its
regression twin ``PooledRegressor``: ``(inputs, lengths) -> outputs``.

The graph mirrors :meth:`rnnkit.models.classifier.SequenceClassifier.forward` in eval mode::

    inputs (B, T) int64 ──Gather(embedding)──┐
    inputs (B, T, F) float ──MatMul + Add────┴─► (B, T, E) ─► Transpose ─► (T, B, E)
        ─► recurrent stack (sequence_lens = lengths) ─► out (T, B, R), last (B, R)
        ─► pooling over the real steps (last | mean | max | attention) ─► (B, R)
        ─► MatMul + Add ─► logits (B, K) ─► sigmoid / softmax ─► probabilities (B, C)

Dropout is absent (eval mode). Batch and time are dynamic axes; ``lengths`` are the real
lengths in ``[1, T]``.
"""

from __future__ import annotations

from typing import Any, cast

from torch import nn

from rnnkit.deploy._graph import Graph
from rnnkit.deploy.recurrent import time_mask, write_stack
from rnnkit.errors import RnnkitError
from rnnkit.models.classifier import SequenceClassifier
from rnnkit.models.pooled_regressor import PooledRegressor
from rnnkit.models.static_classifier import StaticSequenceClassifier


def token_embedding(model: SequenceClassifier) -> nn.Embedding | None:
    """The classifier's embedding when it reads token ids ``(B, T)``; None when its encoder
    is a linear map of features ``(B, T, F)`` (:func:`feature_encoder`)."""
    encoder = model.encoder
    return cast(nn.Embedding, encoder) if hasattr(encoder, "num_embeddings") else None


def feature_encoder(model: SequenceClassifier) -> nn.Linear:
    """The classifier's linear encoder of features ``(B, T, F) -> (B, T, E)``."""
    return cast(nn.Linear, model.encoder)


def write_classifier(model: SequenceClassifier) -> tuple[Any, dict[str, Any]]:
    """The ONNX model of ``model`` and the description of its inputs and outputs.

    Returns:
        ``(onnx.ModelProto, io)`` with ``io = {"inputs": [...], "outputs": [...]}``, each an
        entry ``{"name", "dtype", "shape"}`` (symbolic axes ``batch``, ``time``).
    """
    g = Graph("rnnkit_classifier")
    x, x_info = classifier_input(g, model)
    lengths = g.input("lengths", g.onnx.TensorProto.INT64, ["batch"])
    io_out = classifier_outputs(g, model, x, lengths)
    io = {"inputs": [x_info, {"name": "lengths", "dtype": "int64", "shape": ["batch"]}],
          "outputs": io_out}  # fmt: skip
    return g.model(doc="rnnkit SequenceClassifier"), io


def classifier_input(g: Graph, model: SequenceClassifier) -> tuple[str, dict[str, Any]]:
    """Declare the graph input ``inputs``: ``(B, T)`` int64 ids for a token model, else
    ``(B, T, F)`` float32 features; returns its name and description."""
    TP = g.onnx.TensorProto
    if token_embedding(model) is not None:
        return g.input("inputs", TP.INT64, ["batch", "time"]), {
            "name": "inputs", "dtype": "int64", "shape": ["batch", "time"]}  # fmt: skip
    F = feature_encoder(model).in_features
    return g.input("inputs", TP.FLOAT, ["batch", "time", F]), {
        "name": "inputs", "dtype": "float32", "shape": ["batch", "time", F]}  # fmt: skip


def classifier_outputs(
    g: Graph,
    model: SequenceClassifier,
    x: str,
    lengths: str,
    initial: list[str] | None = None,
    features: str | None = None,
) -> list[dict[str, Any]]:
    """Append the classifier from its input to the outputs ``logits`` ``(B, K)`` and
    ``probabilities`` ``(B, C)``; returns their descriptions.

    Args:
        x: the name of ``inputs`` (ids ``(B, T)`` or features ``(B, T, F)``).
        lengths: ``(B,)`` int64 real lengths.
        initial: the recurrent stack's initial states (torch layout) or None for zeros.
        features: when given, the ``(B, T, F)`` features to encode instead of ``x`` (the
            inputs with static features appended).
    """
    TP = g.onnx.TensorProto
    logits = head_outputs(g, model, x, lengths, initial, features)  # (B, K)
    if model.num_classes == 2:
        p1 = g.op("Sigmoid", logits, hint="p1")  # (B, 1)
        p0 = g.op("Sub", g.const("one_f", [1.0]), p1, hint="p0")
        probs = g.op("Concat", p0, p1, axis=1, hint="probs")  # (B, 2)
    else:
        probs = g.op("Softmax", logits, axis=1, hint="probs")
    K = 1 if model.num_classes == 2 else model.num_classes
    g.output(logits, "logits", TP.FLOAT, ["batch", K])
    g.output(probs, "probabilities", TP.FLOAT, ["batch", model.num_classes])
    return [
        {"name": "logits", "dtype": "float32", "shape": ["batch", K]},
        {"name": "probabilities", "dtype": "float32", "shape": ["batch", model.num_classes]},
    ]


def head_outputs(
    g: Graph,
    model: SequenceClassifier,
    x: str,
    lengths: str,
    initial: list[str] | None = None,
    features: str | None = None,
) -> str:
    """Append encoder, recurrent stack, pooling and head: the name of the head's output
    ``(B, K)`` (arguments as :func:`classifier_outputs`)."""
    # encoder: (B, T) ids or (B, T, F) features -> (T, B, E)
    embedding = token_embedding(model)
    if embedding is not None:
        emb = g.op("Gather", g.const("embedding.weight", embedding.weight), x, hint="emb")
    else:
        linear = feature_encoder(model)
        emb = g.linear(features or x, linear.weight, linear.bias, "encoder")
    emb = g.op("Transpose", emb, perm=[1, 0, 2], hint="emb_t")  # (T, B, E)
    out, last, _ = write_stack(g, model.recurrent, emb, lengths, initial)  # (T, B, R), (B, R)
    pooled = _pool(g, model, out, last, lengths)  # (B, R)
    return g.linear(pooled, model.head.weight, model.head.bias, "head")  # (B, K)


def write_pooled_regressor(model: PooledRegressor) -> tuple[Any, dict[str, Any]]:
    """``PooledRegressor`` as ONNX: ``(inputs (B, T, F), lengths (B,)) -> outputs (B, K)``
    (the values as the model gives them: scaled when the task scaled the targets)."""
    g = Graph("rnnkit_pooled_regressor")
    x, x_info = classifier_input(g, model)
    lengths = g.input("lengths", g.onnx.TensorProto.INT64, ["batch"])
    values = head_outputs(g, model, x, lengths)
    K = model.num_outputs
    g.output(values, "outputs", g.onnx.TensorProto.FLOAT, ["batch", K])
    io = {"inputs": [x_info, {"name": "lengths", "dtype": "int64", "shape": ["batch"]}],
          "outputs": [{"name": "outputs", "dtype": "float32", "shape": ["batch", K]}]}  # fmt: skip
    return g.model(doc="rnnkit PooledRegressor"), io


def _pool(g: Graph, model: SequenceClassifier, out: str, last: str, lengths: str) -> str:
    """One vector ``(B, R)`` per sequence from ``out`` ``(T, B, R)``, as ``model.pool``."""
    if model.pooling == "last":
        # forward half at the last real step, backward half at step 0: the top layer's h_n
        if model.bidirectional != bool(getattr(model.recurrent, "bidirectional", False)):
            raise RnnkitError(
                "the classifier's bidirectional flag does not match its recurrent stack; "
                "its 'last' pooling has no ONNX writer"
            )
        return last
    mask = time_mask(g, out, lengths)  # (T, B)
    mask3 = g.op("Unsqueeze", mask, g.ints("axis2", [2]), hint="mask3")  # (T, B, 1)
    if model.pooling == "mean":
        keep = g.op("Cast", mask3, to=g.onnx.TensorProto.FLOAT, hint="keep")
        summed = g.op(
            "ReduceSum", g.op("Mul", out, keep), g.ints("axis0", [0]), keepdims=0, hint="summed"
        )  # (B, R)
        count = g.op(
            "Cast",
            g.op("Unsqueeze", lengths, g.ints("axis1", [1])),
            to=g.onnx.TensorProto.FLOAT,
            hint="count",
        )  # (B, 1)
        return g.op("Div", summed, count, hint="pooled")
    neg_inf = g.const("neg_inf", [float("-inf")])
    if model.pooling == "max":
        masked = g.op("Where", mask3, out, neg_inf, hint="masked")  # (T, B, R)
        return g.op("ReduceMax", masked, axes=[0], keepdims=0, hint="pooled")
    # attention: softmax over the real steps of a small MLP's scores
    first, second = (cast(nn.Linear, model.attention[i]) for i in (0, 2))  # Linear, Tanh, Linear
    scores = g.op("Tanh", g.linear(out, first.weight, first.bias, "attn1"))
    scores = g.linear(scores, second.weight, second.bias, "attn2")  # (T, B, 1)
    scores = g.op("Where", mask3, scores, neg_inf, hint="scores")
    weights = g.op("Softmax", scores, axis=0, hint="attn_weights")  # (T, B, 1)
    return g.op(
        "ReduceSum", g.op("Mul", out, weights), g.ints("axis0", [0]), keepdims=0, hint="pooled"
    )


def write_static_classifier(model: StaticSequenceClassifier) -> tuple[Any, dict[str, Any]]:
    """A :class:`rnnkit.models.static_classifier.StaticSequenceClassifier` as ONNX:
    ``(inputs (B, T, F), lengths, static_cat (B, Kc), static_num (B, Kn)) -> (logits,
    probabilities)``, the static features fused as the model's ``concat`` / ``init`` says
    (:mod:`rnnkit.deploy.static`)."""
    from rnnkit.deploy.static import fuse, static_inputs

    g = Graph("rnnkit_static_classifier")
    clf = model.classifier
    TP = g.onnx.TensorProto
    fusion = model.static
    F = feature_encoder(clf).in_features - fusion.extra_inputs  # the series' own features
    x = g.input("inputs", TP.FLOAT, ["batch", "time", F])
    lengths = g.input("lengths", TP.INT64, ["batch"])
    (cat, num), static_info = static_inputs(g, fusion)
    features, initial, _ = fuse(g, fusion, x, cat, num)
    io_out = classifier_outputs(g, clf, x, lengths, initial, features=features)
    io_in = [
        {"name": "inputs", "dtype": "float32", "shape": ["batch", "time", F]},
        {"name": "lengths", "dtype": "int64", "shape": ["batch"]},
        *static_info,
    ]
    return g.model(doc="rnnkit StaticSequenceClassifier"), {"inputs": io_in, "outputs": io_out}
