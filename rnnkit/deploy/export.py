"""``export_run(run_dir)``: a trained run as one ONNX file plus a JSON description of it.

The file holds the whole model (encoder, recurrent stack, head) with dynamic ``batch`` and
``time`` axes and a ``lengths`` input; its ``metadata_props["rnnkit"]`` and the sidecar
``<file>.json`` hold what a client needs without rnnkit: the input and output names, dtypes
and shapes, the label names, the run's preprocessing files (``tokenizer.json`` ...), the
rnnkit version and the SHA-256 of the weights it was exported from.

Before anything is written the exported graph is run with ONNX Runtime on a ragged batch
and compared with the PyTorch model in eval mode; a mismatch refuses the export.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np
import torch
from torch import nn

from rnnkit.deploy._require import require_onnx
from rnnkit.errors import RnnkitError
from rnnkit.io import write_atomic, write_json

if TYPE_CHECKING:
    from rnnkit.deploy.convlstm import ConvLSTM
    from rnnkit.models.classifier import SequenceClassifier
    from rnnkit.models.forecaster import Forecaster
    from rnnkit.models.language_model import LanguageModel
    from rnnkit.models.pooled_regressor import PooledRegressor
    from rnnkit.models.regressor import SequenceModel
    from rnnkit.models.static import StaticFusion
    from rnnkit.models.static_classifier import StaticSequenceClassifier

EXPORT_FORMAT_VERSION = 1
DEFAULT_NAME = "model.onnx"
INT8_NAME = "model.int8.onnx"
# run-directory files a client may need; embedded in the metadata when present
ARTEFACTS = (
    "tokenizer.json", "labels.json", "scaler.json", "vocab.json", "static.json", "series.json"
)  # fmt: skip
TOLERANCE = 1e-4  # the self-check at export time; the tests hold the writers to 1e-5


M = TypeVar("M", bound=nn.Module)


@dataclass(frozen=True)
class Writer(Generic[M]):
    """How one model class ``M`` becomes ONNX.

    Attributes:
        write: ``model -> (onnx.ModelProto, io)``; ``io`` lists inputs and outputs.
        example: ``(model, batch, time, generator) -> feeds``: a ragged batch for the check.
        reference: ``(model, feeds) -> {output name: array}``: the PyTorch outputs.
    """

    write: Callable[[M], tuple[Any, dict[str, Any]]]
    example: Callable[[M, int, int, torch.Generator], dict[str, np.ndarray]]
    reference: Callable[[M, dict[str, np.ndarray]], dict[str, np.ndarray]]


def _classifier_writer() -> tuple[type[SequenceClassifier], Writer[SequenceClassifier]]:
    from rnnkit.deploy.classifier import feature_encoder, token_embedding, write_classifier
    from rnnkit.models.classifier import SequenceClassifier

    def example(
        model: SequenceClassifier, B: int, T: int, gen: torch.Generator
    ) -> dict[str, np.ndarray]:
        lengths = _ragged(B, T, gen)
        embedding = token_embedding(model)
        if embedding is not None:
            V = embedding.num_embeddings
            x = torch.randint(1, V, (B, T), generator=gen)
        else:
            x = torch.randn(B, T, feature_encoder(model).in_features, generator=gen)
        return {"inputs": x.numpy(), "lengths": lengths.numpy()}

    @torch.no_grad()
    def reference(model: SequenceClassifier, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        logits = model(torch.as_tensor(feeds["inputs"]), torch.as_tensor(feeds["lengths"]))
        return {"logits": logits.numpy(), "probabilities": model.probabilities(logits).numpy()}

    return SequenceClassifier, Writer(write_classifier, example, reference)


def _pooled_regressor_writer() -> tuple[type[PooledRegressor], Writer[PooledRegressor]]:
    from rnnkit.deploy.classifier import feature_encoder, write_pooled_regressor
    from rnnkit.models.pooled_regressor import PooledRegressor

    def example(
        model: PooledRegressor, B: int, T: int, gen: torch.Generator
    ) -> dict[str, np.ndarray]:
        x = torch.randn(B, T, feature_encoder(model).in_features, generator=gen)
        return {"inputs": x.numpy(), "lengths": _ragged(B, T, gen).numpy()}

    @torch.no_grad()
    def reference(model: PooledRegressor, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x, lengths = torch.as_tensor(feeds["inputs"]), torch.as_tensor(feeds["lengths"])
        return {"outputs": model(x, lengths).numpy()}

    return PooledRegressor, Writer(write_pooled_regressor, example, reference)


def _language_model_writer() -> tuple[type[LanguageModel], Writer[LanguageModel]]:
    from rnnkit.deploy.language_model import state_sizes, write_language_model
    from rnnkit.deploy.recurrent import stack_view
    from rnnkit.models.language_model import LanguageModel

    def example(
        model: LanguageModel, B: int, T: int, gen: torch.Generator
    ) -> dict[str, np.ndarray]:
        L = stack_view(model.recurrent).num_layers
        feeds = {"ids": torch.randint(0, model.vocab_size, (B, T), generator=gen).numpy()}
        for name, size in zip(("h0", "c0"), state_sizes(model.recurrent)):
            feeds[name] = (0.5 * torch.randn(L, B, size, generator=gen)).numpy()
        return feeds

    @torch.no_grad()
    def reference(model: LanguageModel, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        state = [torch.as_tensor(feeds[n]) for n in ("h0", "c0") if n in feeds]
        logits, final = model(torch.as_tensor(feeds["ids"]), tuple(state) if len(state) == 2
                              else state[0])  # fmt: skip
        final = final if isinstance(final, tuple) else (final,)
        out = {"logits": logits.numpy()}
        out.update({f"{n}_n": s.numpy() for n, s in zip(("h", "c"), final)})
        return out

    return LanguageModel, Writer(write_language_model, example, reference)


def _ragged(B: int, T: int, gen: torch.Generator) -> torch.Tensor:
    """Lengths ``(B,)`` in ``[1, T]`` with the extremes 1 and T always present."""
    lengths = torch.randint(1, T + 1, (B,), generator=gen)
    lengths[0], lengths[-1] = 1, T
    return lengths


def _static_feeds(fusion: StaticFusion, B: int, gen: torch.Generator) -> dict[str, np.ndarray]:
    """Random ``static_cat`` codes (0 = unknown included) and ``static_num`` values."""
    from rnnkit.deploy.static import static_embeddings

    feeds = {}
    embeddings = static_embeddings(fusion)
    if len(embeddings):
        cols = [torch.randint(0, e.num_embeddings, (B,), generator=gen) for e in embeddings]
        feeds["static_cat"] = torch.stack(cols, dim=1).numpy()
    Kn = fusion.encoder.proj.in_features - sum(e.embedding_dim for e in embeddings)
    if Kn:
        feeds["static_num"] = torch.randn(B, Kn, generator=gen).numpy()
    return feeds


def _static_args(feeds: dict[str, np.ndarray], B: int) -> dict[str, torch.Tensor]:
    """The model's ``static_cat`` / ``static_num`` keywords from ``feeds`` ((B, 0) when absent)."""
    return {
        "static_cat": torch.as_tensor(feeds.get("static_cat", np.zeros((B, 0), np.int64))),
        "static_num": torch.as_tensor(feeds.get("static_num", np.zeros((B, 0), np.float32))),
    }


def _static_classifier_writer() -> tuple[
    type[StaticSequenceClassifier], Writer[StaticSequenceClassifier]
]:
    from rnnkit.deploy.classifier import feature_encoder, write_static_classifier
    from rnnkit.models.static_classifier import StaticSequenceClassifier

    def example(
        model: StaticSequenceClassifier, B: int, T: int, gen: torch.Generator
    ) -> dict[str, np.ndarray]:
        F = feature_encoder(model.classifier).in_features - model.static.extra_inputs
        feeds = {"inputs": torch.randn(B, T, F, generator=gen).numpy(),
                 "lengths": _ragged(B, T, gen).numpy()}  # fmt: skip
        return {**feeds, **_static_feeds(model.static, B, gen)}

    @torch.no_grad()
    def reference(
        model: StaticSequenceClassifier, feeds: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        x, lengths = torch.as_tensor(feeds["inputs"]), torch.as_tensor(feeds["lengths"])
        logits = model(x, lengths, **_static_args(feeds, len(x)))
        return {"logits": logits.numpy(), "probabilities": model.probabilities(logits).numpy()}

    return StaticSequenceClassifier, Writer(write_static_classifier, example, reference)


def _forecaster_writer() -> tuple[type[Forecaster], Writer[Forecaster]]:
    from rnnkit.deploy.forecaster import write_forecaster
    from rnnkit.models.forecaster import Forecaster

    def example(model: Forecaster, B: int, T: int, gen: torch.Generator) -> dict[str, np.ndarray]:
        feeds = {"context": torch.randn(B, T, model.input_size, generator=gen).numpy(),
                 "lengths": _ragged(B, T, gen).numpy()}  # fmt: skip
        if model.future_size:
            future = torch.randn(B, model.horizon, model.future_size, generator=gen)
            feeds["future"] = future.numpy()
        if model.static is not None:
            feeds.update(_static_feeds(model.static, B, gen))
        return feeds

    @torch.no_grad()
    def reference(model: Forecaster, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # window b alone, its first lengths[b] steps: what `forecast` gives for it
        context = torch.as_tensor(feeds["context"])
        static = _static_args(feeds, len(context)) if model.static is not None else {}
        future = torch.as_tensor(feeds["future"]) if "future" in feeds else None
        rows = []
        for b, n in enumerate(feeds["lengths"].tolist()):
            one = {k: v[b : b + 1] for k, v in static.items()}
            fut = None if future is None else future[b : b + 1]
            one_cat, one_num = one.get("static_cat"), one.get("static_num")
            rows.append(model.forecast(context[b : b + 1, :n], fut, one_cat, one_num))
        return {"forecast": torch.cat(rows).numpy()}

    return Forecaster, Writer(write_forecaster, example, reference)


def _sequence_model_writer() -> tuple[type[SequenceModel], Writer[SequenceModel]]:
    from rnnkit.deploy.sequence_model import write_sequence_model
    from rnnkit.models.regressor import SequenceModel

    def example(
        model: SequenceModel, B: int, T: int, gen: torch.Generator
    ) -> dict[str, np.ndarray]:
        if model.num_symbols is not None:
            x = torch.randint(0, model.num_symbols, (B, T), generator=gen)
        else:
            x = torch.randn(B, T, model.input_size, generator=gen)
        return {"inputs": x.numpy(), "lengths": _ragged(B, T, gen).numpy()}

    @torch.no_grad()
    def reference(model: SequenceModel, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # sequence b alone, its first lengths[b] steps; every-step outputs zero after it
        x = torch.as_tensor(feeds["inputs"])
        rows = []
        for b, n in enumerate(feeds["lengths"].tolist()):
            y = model(x[b : b + 1, :n])  # (1, K) or (1, n, K)
            if model.per_step:
                y = torch.cat([y, y.new_zeros(1, x.shape[1] - n, y.shape[-1])], dim=1)
            rows.append(y)
        return {"outputs": torch.cat(rows).numpy()}

    return SequenceModel, Writer(write_sequence_model, example, reference)


def _convlstm_writer(spatial_dims: int) -> tuple[type[ConvLSTM], Writer[ConvLSTM]]:
    """The writer of ``ConvLSTM1d`` (``spatial_dims=1``) or ``ConvLSTM2d`` layers."""
    from rnnkit.deploy.convlstm import write_convlstm
    from rnnkit.layers.convlstm import ConvLSTM1d, ConvLSTM2d

    def example(model: ConvLSTM, B: int, T: int, gen: torch.Generator) -> dict[str, np.ndarray]:
        space = (6,) if model.spatial_dims == 1 else (4, 5)
        x = torch.randn(B, T, model.in_channels, *space, generator=gen)
        x = x if model.batch_first else x.transpose(0, 1)
        return {"inputs": x.numpy(), "lengths": _ragged(B, T, gen).numpy()}

    @torch.no_grad()
    def reference(model: ConvLSTM, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x, lengths = torch.as_tensor(feeds["inputs"]), torch.as_tensor(feeds["lengths"])
        out, (h_n, c_n) = model(x, lengths=lengths)
        return {"output": out.numpy(), "h_n": h_n.numpy(), "c_n": c_n.numpy()}

    layer: type[ConvLSTM] = ConvLSTM1d if spatial_dims == 1 else ConvLSTM2d
    return layer, Writer(write_convlstm, example, reference)


# model classes the exporter knows, resolved lazily (first match by isinstance wins)
WRITERS: list[Callable[[], tuple[type[nn.Module], Writer[Any]]]] = [
    _pooled_regressor_writer,  # before its base class, SequenceClassifier
    _classifier_writer,
    _static_classifier_writer,
    _language_model_writer,
    _forecaster_writer,
    _sequence_model_writer,
    partial(_convlstm_writer, 1),
    partial(_convlstm_writer, 2),
]


def writer_for(model: nn.Module) -> Writer[Any]:
    """The :class:`Writer` of ``model``'s class, or an RnnkitError naming what is exported."""
    known = []
    for entry in WRITERS:
        cls, writer = entry()
        if isinstance(model, cls):
            return writer
        known.append(cls.__name__)
    raise RnnkitError(
        f"no ONNX writer for {type(model).__name__} yet; exported models: {', '.join(known)}"
    )


def weights_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a weights file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_parity(
    model: nn.Module,
    writer: Writer[Any],
    proto: Any,
    *,
    batch: int = 5,
    time: int = 7,
    seed: int = 0,
) -> float:
    """Largest absolute difference between ONNX Runtime and the model on a ragged batch."""
    from rnnkit.deploy._require import require_onnxruntime

    ort = require_onnxruntime()
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = writer.example(model, batch, time, torch.Generator().manual_seed(seed))
    expected = writer.reference(model, feeds)
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
    return max(float(np.abs(got[name] - value).max()) for name, value in expected.items())


def export_model(model: nn.Module, *, for_int8: bool = False) -> tuple[Any, dict[str, Any]]:
    """``(onnx.ModelProto, io)`` of a model in eval mode (see :class:`Writer`).

    ``for_int8=True`` writes the graph that int8 quantisation is given: GRU and Elman
    stacks as ``Scan`` loops of MatMuls (:func:`rnnkit.deploy.recurrent.for_int8`), the same
    function in a form whose weights ONNX Runtime can quantise.
    """
    from rnnkit.deploy import recurrent

    require_onnx()
    was_training = model.training
    model.eval()
    try:
        with recurrent.for_int8() if for_int8 else nullcontext():
            return writer_for(model).write(model)
    finally:
        model.train(was_training)


def export_run(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    overwrite: bool = False,
    int8: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Export the best weights of ``run_dir`` as ONNX.

    Args:
        run_dir: a run directory written by ``rnnkit train``.
        out: the ONNX file to write (default ``RUN_DIR/model.onnx``, with ``int8``
            ``RUN_DIR/model.int8.onnx``); the description goes beside it as ``<out>.json``.
        overwrite: replace existing files at ``out`` / ``<out>.json``.
        int8: write the dynamically int8-quantised graph (:mod:`rnnkit.deploy.quantize`);
            the metadata's ``int8`` entry reports its size and its change on the test
            split against float32.

    Returns:
        The path written and the metadata (also in the file and the sidecar).

    Nothing is written unless every check passes: the run loads, its model has a writer,
    the graph passes ``onnx.checker`` and ONNX Runtime agrees with PyTorch.
    """
    onnx = require_onnx()
    from rnnkit import __version__, runs
    from rnnkit.api import load
    from rnnkit.config import to_dict

    run_dir = Path(run_dir)
    path = Path(out) if out is not None else run_dir / (INT8_NAME if int8 else DEFAULT_NAME)
    sidecar = path.with_name(path.name + ".json")
    if path.suffix != ".onnx":
        raise RnnkitError(f"--out {path}: expected a file name ending in .onnx")
    for target in (path, sidecar):
        if target.exists() and not overwrite:
            raise RnnkitError(f"{target} already exists; pass --overwrite to replace it")
        if target.is_dir():
            raise RnnkitError(f"{target} is a directory; --out names the .onnx file to write")
    from rnnkit.tasks import get_task_class

    get_task_class(runs.read_config(run_dir).task).require("export", "rnnkit export")
    run = load(run_dir)
    writer = writer_for(run.model)
    proto, io = export_model(run.model, for_int8=int8)
    diff = check_parity(run.model, writer, proto)
    if not diff <= TOLERANCE:
        raise RnnkitError(
            f"the exported graph disagrees with the PyTorch model by {diff:.2e} (more than "
            f"{TOLERANCE:g}); nothing was written. Please report this as a bug."
        )
    int8_report = None
    if int8:
        proto, int8_report = _quantize_and_compare(run.task, writer, run.model, proto, io)
    artefacts = {}
    for name in ARTEFACTS:
        file = run_dir / name
        if file.is_file():
            artefacts[name] = json.loads(file.read_text(encoding="utf-8"))
    task = run.task
    metadata = {
        "format": "rnnkit-onnx",
        "format_version": EXPORT_FORMAT_VERSION,
        "rnnkit_version": __version__,
        "task": run.config.task,
        "model": type(run.model).__name__,
        "opset": int(proto.opset_import[0].version),
        **io,
        "labels": list(getattr(task, "label_names", None) or getattr(task, "classes", None) or [])
        or None,
        "preprocessing": task.export_info(),
        "weights_sha256": weights_sha256(run_dir / runs.WEIGHTS),
        "parity_max_abs_diff": diff,
        "int8": int8_report,
        "config": to_dict(run.config),
        "artefacts": artefacts,
    }
    entry = proto.metadata_props.add()
    entry.key, entry.value = "rnnkit", json.dumps(metadata)
    write_atomic(path, lambda tmp: onnx.save_model(proto, str(tmp)))
    write_json(sidecar, metadata)
    return path, metadata


def _quantize_and_compare(
    task: Any, writer: Writer[Any], model: nn.Module, proto: Any, io: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """The int8 graph of ``proto`` and its report: sizes, operators quantised, and its
    change against float32 on the export check's batch and on the task's test split."""
    from rnnkit.deploy._require import require_onnxruntime
    from rnnkit.deploy.quantize import compare_on_split, quantize_int8

    ort = require_onnxruntime()
    quantised, report = quantize_int8(proto)

    def session(p: Any) -> Any:
        return ort.InferenceSession(p.SerializeToString(), providers=["CPUExecutionProvider"])

    fs, qs = session(proto), session(quantised)
    feeds = writer.example(model, 5, 7, torch.Generator().manual_seed(0))
    report["example_max_abs_change"] = max(
        float(np.abs(a - b).max()) for a, b in zip(fs.run(None, feeds), qs.run(None, feeds))
    )
    try:
        report["test"] = compare_on_split(task, fs, qs, io)
    except (RnnkitError, OSError) as e:  # the data may be gone since training
        report["test"] = {"skipped": f"the test split could not be read ({e})"}
    return quantised, report


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The rnnkit metadata stored in an exported ONNX file."""
    onnx = require_onnx()
    path = Path(path)
    if not path.is_file():
        raise RnnkitError(f"{path}: no such ONNX file")
    try:
        proto = onnx.load_model(str(path), load_external_data=False)
    except Exception as e:  # onnx raises DecodeError and others for a bad file
        raise RnnkitError(f"{path} is not a readable ONNX file ({e})") from None
    for entry in proto.metadata_props:
        if entry.key == "rnnkit":
            return json.loads(entry.value)
    raise RnnkitError(f"{path} was not exported by rnnkit (no 'rnnkit' metadata)")
