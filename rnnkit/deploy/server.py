"""``create_app(run_dir)``: a trained run behind an HTTP JSON API (FastAPI).

Routes::

    GET  /health     {"status": "ok", "task": ..., "engine": ..., "batching": {...}}
    GET  /metadata   task, labels, capabilities, input schema, limits, config, versions
    POST /predict    {"inputs": ["a gripping thriller", "dull"]}          (text tasks)
                     {"inputs": [[0.1, 0.5, 0.9], [[0.1, 0.2], [1, 2]]]}   (series tasks:
                     one channel, or a list of channels of equal length)
                     -> {"predictions": [{"label": ..., "probability": ..., ...}, ...]}
    POST /forecast   {"series": [[112, 118, 132, ...]]} -> {"forecasts": [[...], ...]}

An input longer than the model reads is predicted on the part it reads and says so, as
``rnnkit predict --json`` does: its prediction gets ``"truncated": "412 tokens; the model
reads the first 200 (data.max_length=200, data.truncate=end)"`` (``/forecast``: a list
``"truncated"``, one phrase or ``""`` per series, present when any series was cut).
    POST /generate   {"prime": "ROMEO:", "length": 200, "temperature": 0.8, "seed": 1}
                     -> {"text": "ROMEO: ..."}
    GET  /docs, /openapi.json   the OpenAPI document FastAPI writes

The model is loaded once, when the app is created. Concurrent ``/predict`` and
``/forecast`` requests are batched (:class:`rnnkit.deploy.batching.Batcher`): the inputs
of the requests that arrive within ``Batching.window_ms`` of each other (up to
``max_batch``) go to the model in one call; ``window_ms=0`` runs each request alone.
``/generate`` runs one request at a time. The engine is PyTorch, or ONNX Runtime on the
run's graph (``engine="onnx"`` / ``"onnx-int8"``, :mod:`rnnkit.deploy.engine`).

Every bad request gets a JSON body ``{"error": "..."}`` naming what was wrong and what
was expected, with a 4xx status: 422 for a malformed body (not JSON, wrong types, missing
fields, an empty list, too many items, a value out of range), 400 for a body that is not
UTF-8, an empty or too long input, a non-finite number, an input the task refuses, or a
route the run's task cannot serve (``/generate`` on a classifier), 413 for a body over the
size limit, 404 for an unknown route, 405 for a wrong method, 503 when the model does not
answer within the time limit. The server keeps serving after each.
"""

# No `from __future__ import annotations` here: FastAPI reads the request models of the
# routes (classes made inside create_app) from their evaluated annotations.
import math
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Union

from rnnkit.deploy._require import require_server
from rnnkit.errors import RnnkitError


@dataclass(frozen=True)
class Limits:
    """What one request may hold (each has a ``rnnkit serve`` flag)."""

    max_items: int = 64  # inputs per request
    max_text_chars: int = 10_000  # characters (or series values) per input
    max_body_bytes: int = 1_000_000  # bytes per request body (413 beyond)
    max_generate: int = 2_000  # symbols per /generate
    timeout_s: int = 30  # seconds the model may take for one request (503 beyond)

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise RnnkitError(f"serve limit {name}: expected an integer >= 1, got {value!r}")


@dataclass(frozen=True)
class Batching:
    """How concurrent requests are gathered into one model call."""

    window_ms: float = 5.0  # wait this long after a request for more (0: no batching)
    max_batch: int = 64  # inputs per model call, at most

    def __post_init__(self) -> None:
        if not isinstance(self.window_ms, (int, float)) or not 0 <= self.window_ms <= 1000:
            raise RnnkitError(f"--batch-window-ms: expected 0 to 1000, got {self.window_ms!r}")
        if not isinstance(self.max_batch, int) or self.max_batch < 1:
            raise RnnkitError(f"--max-batch: expected an integer >= 1, got {self.max_batch!r}")


def _series_text(value: list, where: str) -> str:
    """A series as the tasks' text layout: ``[v, ...]`` -> ``"v,..."``; ``[[a...], [b...]]``
    (channels) -> ``"a,...:b,..."``. Non-finite numbers and ragged channels are refused."""
    channels = value if value and isinstance(value[0], list) else [value]
    if not channels or any(not c for c in channels):
        raise RnnkitError(f"{where}: an empty series; expected at least one number")
    if len({len(c) for c in channels}) != 1:
        raise RnnkitError(f"{where}: channels of different lengths; expected equal lengths")
    for k, channel in enumerate(channels):
        for i, v in enumerate(channel):
            if not math.isfinite(v):
                at = f"{where}.{k}.{i}" if len(channels) > 1 else f"{where}.{i}"
                raise RnnkitError(f"{at}: {v!r}; expected finite numbers (no NaN or inf)")
    return ":".join(",".join(repr(float(v)) for v in c) for c in channels)


def create_app(
    run_dir: str | Path,
    *,
    limits: Limits | None = None,
    device: str | None = None,
    batching: Batching | None = None,
    engine: str = "torch",
):
    """The FastAPI app serving ``run_dir`` (loaded now; errors are raised before serving).

    Args:
        run_dir: a run directory written by ``rnnkit train``.
        limits: request limits (default :class:`Limits`).
        device: where the PyTorch model runs (default CPU).
        batching: how concurrent requests are batched (default :class:`Batching`).
        engine: ``"torch"``, ``"onnx"`` or ``"onnx-int8"`` (ONNX Runtime on the run's
            graph, built and checked against PyTorch now).

    Returns:
        A ``fastapi.FastAPI`` application (run it with uvicorn, or test it with
        ``fastapi.testclient.TestClient``). ``app.state.batcher`` is the batcher.
    """
    fastapi, _ = require_server()
    from contextlib import asynccontextmanager

    import torch
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, Field
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from rnnkit import __version__
    from rnnkit.api import load
    from rnnkit.config import to_dict
    from rnnkit.deploy.batching import Batcher
    from rnnkit.deploy.engine import ENGINES

    if engine not in ENGINES:
        raise RnnkitError(f"--engine: expected one of {', '.join(ENGINES)}, got {engine!r}")
    lim = limits or Limits()  # the request limits in force
    batching = batching or Batching()
    run = load(run_dir, device=device)
    task = run.task
    model = run.model
    if engine != "torch":
        if not task.supports("export"):
            raise task.unsupported("export", f"--engine {engine}")
        from rnnkit.deploy.engine import OnnxModel

        model = OnnxModel(run.model, int8=engine == "onnx-int8")
    series_input = getattr(task, "serve_input", "text") == "series"
    labels = list(getattr(task, "label_names", []) or getattr(task, "classes", []) or [])
    lock = threading.Lock()  # one model call at a time
    routes = ["/health", "/metadata", "/predict", "/forecast", "/generate", "/docs"]

    def predict_batch(inputs: list[str]) -> list[dict[str, Any]]:
        with lock, torch.no_grad():
            run.model.eval()
            return task.predict(model, inputs)

    batcher = Batcher(predict_batch, batching.window_ms / 1000, batching.max_batch)

    @asynccontextmanager
    async def lifespan(app):  # noqa: ANN001, ANN202 (starlette's signature)
        yield
        batcher.close()  # queued requests finish first

    Item = Union[str, list[float], list[list[float]]]  # noqa: UP007 (pydantic reads it)

    class PredictRequest(BaseModel):
        inputs: list[Item] = Field(
            min_length=1,
            max_length=lim.max_items,
            description=f"1 to {lim.max_items} raw inputs: texts, or for a series task "
            "series as arrays of numbers (one channel) or lists of equal-length channels; "
            f"each non-empty and at most {lim.max_text_chars} characters or values",
            examples=[["a gripping, beautifully acted thriller", "a dull mess"]],
        )

    class PredictResponse(BaseModel):
        predictions: list[dict[str, Any]]

    class ForecastRequest(BaseModel):
        series: list[list[float]] = Field(
            min_length=1,
            max_length=lim.max_items,
            description=f"1 to {lim.max_items} series of recent values (at least the "
            "run's data.context of them; the last ones are used)",
            examples=[[[112.0, 118.0, 132.0, 129.0, 121.0, 135.0, 148.0, 148.0]]],
        )

    class ForecastResponse(BaseModel):
        forecasts: list[list[float]]
        truncated: Optional[list[str]] = None  # noqa: UP045 (pydantic reads it)

    class GenerateRequest(BaseModel):
        prime: str = Field(min_length=1, max_length=lim.max_text_chars,
                           examples=["ROMEO:"])  # fmt: skip
        length: int = Field(default=200, ge=1, le=lim.max_generate)
        temperature: float = Field(default=1.0, ge=0.0, le=100.0, description="0 = greedy")
        top_k: Optional[int] = Field(default=None, ge=1)  # noqa: UP045
        top_p: Optional[float] = Field(default=None, gt=0.0, le=1.0)  # noqa: UP045
        seed: Optional[int] = Field(default=None, ge=0, le=2**63 - 1)  # noqa: UP045

    class GenerateResponse(BaseModel):
        text: str

    app = fastapi.FastAPI(
        title=f"rnnkit: {run.config.task}",
        version=__version__,
        description=f"Predictions of the rnnkit run {Path(run_dir).name} (task {run.config.task}).",
        lifespan=lifespan,
    )
    app.state.batcher = batcher

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse(status_code=status, content={"error": message})

    @app.middleware("http")
    async def limit_body(request, call_next):  # noqa: ANN001, ANN202 (starlette's signature)
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > lim.max_body_bytes):
            return error(413, f"request body over the limit of {lim.max_body_bytes} bytes")
        if request.method == "POST":
            body = await request.body()  # read once; starlette caches it for the route
            if len(body) > lim.max_body_bytes:
                return error(413, f"request body over the limit of {lim.max_body_bytes} bytes")
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as e:
                return error(400, f"request body is not UTF-8 text (byte {e.start}); send JSON")
        return await call_next(request)

    expected = {
        "/predict": '{"inputs": ["text", ...]}'
        if not series_input
        else '{"inputs": [[1.0, 2.0, ...], ...]}',
        "/forecast": '{"series": [[1.0, 2.0, ...], ...]}',
        "/generate": '{"prime": "text", "length": 200}',
    }

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc: RequestValidationError):  # noqa: ANN001, ANN202
        problems = []
        for e in exc.errors()[:5]:
            loc = [str(p) for p in e.get("loc", ()) if p != "body"]
            # a union's branch names (str, list[float] ...) say nothing to the client
            loc = [p for p in loc if not p.startswith(("str", "list["))]
            problems.append(f"{'.'.join(loc) or 'body'}: {e.get('msg', 'invalid')}")
        shape = expected.get(request.url.path, "JSON")
        return error(422, f"invalid request ({'; '.join(problems)}); expected JSON {shape}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc: StarletteHTTPException):  # noqa: ANN001, ANN202
        if exc.status_code == 404:
            return error(404, f"no route {request.url.path}; routes: {', '.join(routes)}")
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(RnnkitError)
    async def refused(request, exc: RnnkitError):  # noqa: ANN001, ANN202
        return error(400, str(exc))

    @app.exception_handler(TimeoutError)
    async def too_slow(request, exc: TimeoutError):  # noqa: ANN001, ANN202
        return error(503, f"{exc}; retry later or send fewer inputs")

    @app.exception_handler(Exception)
    async def unexpected(request, exc: Exception):  # noqa: ANN001, ANN202
        return error(500, f"internal error ({type(exc).__name__}); the server keeps serving")

    def require(capability: str, route: str) -> None:
        if not task.supports(capability):
            raise task.unsupported(capability, f"POST {route}")

    def text_inputs(items: list[Any], field: str = "inputs") -> list[str]:
        """The request's inputs (its ``field``) as the task's text layout, each checked."""
        texts = []
        for i, item in enumerate(items):
            where = f"{field}.{i}"
            if isinstance(item, str):
                if not item.strip():
                    raise RnnkitError(f"{where}: empty text; expected a non-empty input")
                text = item
            elif not series_input:
                raise RnnkitError(
                    f"{where}: a {run.config.task!r} run takes text, not an array of numbers"
                )
            else:
                n = sum(len(c) if isinstance(c, list) else 1 for c in item)
                if n > lim.max_text_chars:
                    raise RnnkitError(
                        f"{where}: {n} values, over the limit of {lim.max_text_chars}"
                    )
                text = _series_text(item, where)
            if isinstance(item, str) and len(text) > lim.max_text_chars:
                raise RnnkitError(
                    f"{where}: {len(text)} characters, over the limit of {lim.max_text_chars}"
                )
            texts.append(text)
        return texts

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Liveness: the model is loaded; the batcher's counters."""
        return {"status": "ok", "task": run.config.task, "engine": engine,
                "batching": batcher.stats()}  # fmt: skip

    @app.get("/metadata")
    def metadata() -> dict[str, Any]:
        """The task, its labels and capabilities, the input schema, limits and config."""
        kind = "series (arrays of numbers) or text" if series_input else "text"
        return {
            "task": run.config.task,
            "rnnkit_version": __version__,
            "engine": engine,
            "labels": labels or None,
            "capabilities": sorted(task.capabilities),
            "input": {"inputs": f"list of raw inputs: {kind}"}
            if task.supports("predict")
            else None,
            "routes": routes,
            "limits": asdict(lim),
            "batching": asdict(batching),
            "config": to_dict(run.config),
            "report": run.report,
        }

    @app.post("/predict", response_model=PredictResponse)
    def predict(request: PredictRequest) -> dict[str, Any]:
        """The task's prediction for each input, in input order."""
        require("predict", "/predict")
        if task.serve_input == "files":  # never open a local path that a request names
            raise RnnkitError(
                f"POST /predict: a {task.name!r} run predicts from local files (its inputs are "
                "paths), which the server does not open for a request; run `rnnkit predict "
                "RUN_DIR FILE ...` on the machine that holds the files"
            )
        texts = text_inputs(request.inputs)
        cuts = task.input_cuts(texts)  # what the model does not read, as rnnkit predict says
        out = batcher.submit(texts, lim.timeout_s)
        return {
            "predictions": [
                {**p, "truncated": cut} if cut else p for p, cut in zip(out, cuts, strict=True)
            ]
        }

    @app.post("/forecast", response_model=ForecastResponse, response_model_exclude_none=True)
    def forecast(request: ForecastRequest) -> dict[str, Any]:
        """The forecast of the trained horizon after each series, in input order."""
        require("forecast", "/forecast")
        texts = text_inputs(request.series, "series")
        cuts = task.input_cuts(texts)
        out = batcher.submit(texts, lim.timeout_s)
        response: dict[str, Any] = {"forecasts": [p["forecast"] for p in out]}
        if any(cuts):
            response["truncated"] = cuts  # "" for a series read whole
        return response

    @app.post("/generate", response_model=GenerateResponse)
    def generate(request: GenerateRequest) -> dict[str, Any]:
        """``prime`` followed by ``length`` sampled symbols (the PyTorch model)."""
        require("generate", "/generate")
        sampling: dict[str, Any] = {"temperature": request.temperature}
        if request.top_k is not None:
            sampling["top_k"] = request.top_k
        if request.top_p is not None:
            sampling["top_p"] = request.top_p
        if request.seed is not None:
            sampling["generator"] = torch.Generator().manual_seed(request.seed)
        with lock, torch.no_grad():
            run.model.eval()
            text = task.generate(run.model, request.prime, request.length, **sampling)
        return {"text": text}

    return app


def check_address(host: str, port: int) -> None:
    """Refuse, in one line, a ``host`` that is not an address of this machine or a ``port``
    already in use (uvicorn would log them over several lines after starting the app)."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as e:
        raise RnnkitError(f"--host {host}: not a host name or address ({e})") from None
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind(address)
        except OSError as e:
            reason = e.strerror or str(e)
            raise RnnkitError(
                f"cannot listen on --host {host} --port {port}: {reason} (is another server "
                f"on that port, or is {host} not an address of this machine?)"
            ) from None


def serve(
    run_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    limits: Limits | None = None,
    device: str | None = None,
    batching: Batching | None = None,
    engine: str = "torch",
) -> None:
    """Serve ``run_dir`` with uvicorn until interrupted (in-flight requests finish)."""
    _, uvicorn = require_server()
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise RnnkitError(f"--port: expected a port number in 0..65535, got {port!r}")
    app = create_app(run_dir, limits=limits, device=device, batching=batching, engine=engine)
    check_address(host, port)
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=10)
