"""``create_app(run_dir)``: a trained run behind an HTTP JSON API (FastAPI).

Routes::

    GET  /health     {"status": "ok", "task": ...}
    GET  /metadata   task, labels, capabilities, input schema, limits, config, versions
    POST /predict    {"inputs": ["a gripping thriller", "dull"]}
                     -> {"predictions": [{"label": ..., "probability": ..., ...}, ...]}
    GET  /docs, /openapi.json   the OpenAPI document FastAPI writes

The model is loaded once, when the app is created; predictions run one request at a time
on it (a lock), in FastAPI's thread pool. Every bad request gets a JSON body
``{"error": "..."}`` naming what was wrong and what was expected, with a 4xx status:
422 for a malformed body (not JSON, wrong types, missing fields, an empty list, too many
items), 400 for a body that is not UTF-8, an empty or too long text, or an input the task
refuses, 413 for a body over the size limit, 404 for an unknown route, 405 for a wrong
method. The server keeps serving after each.
"""

# No `from __future__ import annotations` here: FastAPI reads the request models of the
# routes (classes made inside create_app) from their evaluated annotations.
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rnnkit.deploy._require import require_server
from rnnkit.errors import RnnkitError


@dataclass(frozen=True)
class Limits:
    """What one request may hold (each has a ``rnnkit serve`` flag)."""

    max_items: int = 64  # inputs per request
    max_text_chars: int = 10_000  # characters per input
    max_body_bytes: int = 1_000_000  # bytes per request body (413 beyond)

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise RnnkitError(f"serve limit {name}: expected an integer >= 1, got {value!r}")


def create_app(run_dir: str | Path, *, limits: Limits | None = None, device: str | None = None):
    """The FastAPI app serving ``run_dir`` (loaded now; errors are raised before serving).

    Args:
        run_dir: a run directory written by ``rnnkit train``.
        limits: request limits (default :class:`Limits`).
        device: where the model runs (default CPU).

    Returns:
        A ``fastapi.FastAPI`` application (run it with uvicorn, or test it with
        ``fastapi.testclient.TestClient``).
    """
    fastapi, _ = require_server()
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, Field
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from rnnkit import __version__
    from rnnkit.api import load
    from rnnkit.config import to_dict

    limits = limits or Limits()
    run = load(run_dir, device=device)
    task = run.task
    can_predict = task.supports("predict")
    labels = list(getattr(task, "label_names", []) or getattr(task, "classes", []) or [])
    lock = threading.Lock()

    class PredictRequest(BaseModel):
        inputs: list[str] = Field(
            min_length=1,
            max_length=limits.max_items,
            description=f"1 to {limits.max_items} raw inputs (texts), each non-empty and at "
            f"most {limits.max_text_chars} characters",
            examples=[["a gripping, beautifully acted thriller", "a dull mess"]],
        )

    class PredictResponse(BaseModel):
        predictions: list[dict[str, Any]]

    app = fastapi.FastAPI(
        title=f"rnnkit: {run.config.task}",
        version=__version__,
        description=f"Predictions of the rnnkit run {Path(run_dir).name} (task {run.config.task}).",
    )

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse(status_code=status, content={"error": message})

    @app.middleware("http")
    async def limit_body(request, call_next):  # noqa: ANN001, ANN202 (starlette's signature)
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > limits.max_body_bytes):
            return error(413, f"request body over the limit of {limits.max_body_bytes} bytes")
        if request.method == "POST":
            body = await request.body()  # read once; starlette caches it for the route
            if len(body) > limits.max_body_bytes:
                return error(413, f"request body over the limit of {limits.max_body_bytes} bytes")
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as e:
                return error(400, f"request body is not UTF-8 text (byte {e.start}); send JSON")
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc: RequestValidationError):  # noqa: ANN001, ANN202
        problems = []
        for e in exc.errors()[:5]:
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {e.get('msg', 'invalid')}")
        expected = '{"inputs": ["text", ...]}'
        return error(422, f"invalid request ({'; '.join(problems)}); expected JSON {expected}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc: StarletteHTTPException):  # noqa: ANN001, ANN202
        if exc.status_code == 404:
            return error(
                404, f"no route {request.url.path}; routes: /health, /metadata, /predict, /docs"
            )
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request, exc: Exception):  # noqa: ANN001, ANN202
        return error(500, f"internal error ({type(exc).__name__}); the server keeps serving")

    @app.get("/health")
    def health() -> dict[str, str]:
        """Liveness: the model is loaded."""
        return {"status": "ok", "task": run.config.task}

    @app.get("/metadata")
    def metadata() -> dict[str, Any]:
        """The task, its labels and capabilities, the input schema, limits and config."""
        return {
            "task": run.config.task,
            "rnnkit_version": __version__,
            "labels": labels or None,
            "capabilities": sorted(task.capabilities),
            "input": {"inputs": "list of raw input strings (texts)"} if can_predict else None,
            "limits": asdict(limits),
            "config": to_dict(run.config),
            "report": run.report,
        }

    @app.post("/predict", response_model=PredictResponse)
    def predict(request: PredictRequest) -> dict[str, Any]:
        """The task's prediction for each input, in input order."""
        if not can_predict:
            from rnnkit.tasks import tasks_with

            raise RnnkitError(
                f"a {run.config.task!r} run cannot predict; the tasks that can: "
                f"{', '.join(tasks_with('predict'))}"
            )
        for i, text in enumerate(request.inputs):
            if not text.strip():
                raise RnnkitError(f"inputs.{i}: empty text; expected a non-empty input")
            if len(text) > limits.max_text_chars:
                raise RnnkitError(
                    f"inputs.{i}: {len(text)} characters, over the limit of {limits.max_text_chars}"
                )
        with lock:
            return {"predictions": run.predict(request.inputs)}

    @app.exception_handler(RnnkitError)
    async def refused(request, exc: RnnkitError):  # noqa: ANN001, ANN202
        return error(400, str(exc))

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
) -> None:
    """Serve ``run_dir`` with uvicorn until interrupted (in-flight requests finish)."""
    _, uvicorn = require_server()
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise RnnkitError(f"--port: expected a port number in 0..65535, got {port!r}")
    app = create_app(run_dir, limits=limits, device=device)
    check_address(host, port)
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=10)
