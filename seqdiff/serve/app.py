"""The ASGI app: routes, body limits, readiness, auth, the batcher, and cancellation on disconnect.

``create_app(backend, config)`` takes a backend or a zero-argument factory; a factory runs in a thread after
start-up, and until it returns ``GET /health`` answers 503 ``Loading model`` as llama.cpp does."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import threading
import time
from typing import Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from seqdiff.serve import llama, openai
from seqdiff.serve.backend import Completion, InfillBackend
from seqdiff.serve.batching import Batcher, Cancelled, QueueFull
from seqdiff.serve.common import BadRequest, ServeConfig, dumps, parse_body

log = logging.getLogger("seqdiff.serve")

BackendSource = InfillBackend | Callable[[], InfillBackend]
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class ServerState:
    def __init__(self, source: BackendSource, config: ServeConfig):
        self.source = source
        self.config = config
        self.backend: InfillBackend | None = None
        self.batcher: Batcher | None = None
        self.load_error: str | None = None
        self.created = int(time.time())
        self.ready = asyncio.Event()

    async def load(self) -> None:
        try:
            if isinstance(self.source, InfillBackend):
                backend = self.source
            else:
                backend = await asyncio.to_thread(self.source)
            batcher = Batcher(backend, max_batch=self.config.max_batch, max_queue=self.config.max_queue,
                              batch_wait_s=self.config.batch_wait_s)
            batcher.start()
            self.backend, self.batcher = backend, batcher
            log.info("model %s ready (max %d rows per batch, queue %d)", backend.model_name,
                     self.config.max_batch, self.config.max_queue)
        except Exception as err:  # reported by /health; the process keeps answering 503
            self.load_error = f"{type(err).__name__}: {err}"
            log.error("model failed to load: %s", self.load_error)
        finally:
            self.ready.set()


def _json(status: int, body: dict | bytes, headers: dict | None = None) -> Response:
    return Response(body if isinstance(body, bytes) else dumps(body), status_code=status,
                    media_type="application/json", headers=headers)


def _is_openai(request: Request) -> bool:
    return request.url.path.startswith("/v1/")


def _error(request: Request, status: int, message: str, param: str | None = None) -> Response:
    body = openai.error_body(status, message, param) if _is_openai(request) else llama.error_body(status, message)
    return _json(status, body)


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise BadRequest(f"invalid Content-Length header {length!r}")
        if int(length) > limit:
            raise BadRequest(f"request body is {int(length)} bytes, more than the limit of {limit} "
                             f"(seqdiff serve --max-body-bytes)", status=413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BadRequest(f"request body is more than the limit of {limit} bytes "
                             f"(seqdiff serve --max-body-bytes)", status=413)
    return bytes(body)


async def _watch_disconnect(request: Request, cancel: threading.Event) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            cancel.set()
            return


def create_app(backend: BackendSource, config: ServeConfig | None = None) -> Starlette:
    config = config or ServeConfig()
    state = ServerState(backend, config)

    def unavailable(request: Request) -> Response | None:
        if state.backend is None:
            message = f"Model failed to load: {state.load_error}" if state.load_error else "Loading model"
            return _error(request, 503, message)
        return None

    def unauthorized(request: Request) -> Response | None:
        if not config.api_key:
            return None
        header = request.headers.get("authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
        if hmac.compare_digest(given.encode(), config.api_key.encode()):
            return None
        return _error(request, 401, "Invalid API Key")

    async def health(request: Request) -> Response:
        return unavailable(request) or _json(200, {"status": "ok"})

    async def models(request: Request) -> Response:
        refusal = unavailable(request) or unauthorized(request)
        if refusal:
            return refusal
        assert state.backend is not None
        return Response(openai.models_body(state.backend.model_name, state.created), media_type="application/json")

    async def props(request: Request) -> Response:
        refusal = unavailable(request) or unauthorized(request)
        if refusal:
            return refusal
        assert state.backend is not None
        return _json(200, {"model_path": state.backend.model_name, "total_slots": config.max_n_cmpl,
                           "n_ctx": state.backend.max_context_tokens,
                           "default_generation_settings": {"n_predict": config.default_n_predict,
                                                           "n_ctx": state.backend.max_context_tokens}})

    async def stats(request: Request) -> Response:
        b = state.batcher
        if b is None:
            return unavailable(request) or _json(200, {})
        s = b.stats
        return _json(200, {"batches": s.batches, "requests": s.requests, "rows": s.rows, "max_rows": s.max_rows,
                           "queued": b.queued, "cancelled_in_queue": s.cancelled_in_queue,
                           "mean_requests_per_batch": round(s.requests / s.batches, 3) if s.batches else 0.0})

    async def serve(request: Request, proto) -> Response:
        refusal = unavailable(request) or unauthorized(request)
        if refusal:
            return refusal
        assert state.backend is not None and state.batcher is not None
        backend, batcher = state.backend, state.batcher
        try:
            data = parse_body(await _read_body(request, config.max_body_bytes))
            call = proto.parse(data, config, backend)
        except BadRequest as err:
            return _error(request, err.status, err.message, err.param)
        req = call.request
        warmup = (call.n_predict if proto is _LLAMA_INFILL or proto is _LLAMA_COMPLETION else call.max_tokens) == 0
        cancel = threading.Event()
        future: asyncio.Future | None = None
        if not warmup:
            try:
                future = batcher.enqueue(req, cancel)
            except QueueFull as err:
                return _error(request, 503, f"Server busy: {err}; retry shortly")
        if call.stream:
            return StreamingResponse(_stream(proto, call, backend, future, cancel, req.n),
                                     media_type="text/event-stream", headers=SSE_HEADERS)
        if future is None:
            return Response(proto.response_body(call, _empty(req.n), backend), media_type="application/json")
        watcher = asyncio.create_task(_watch_disconnect(request, cancel))
        try:
            completions = await future
        except Cancelled:
            return _error(request, 503, "request cancelled")
        except Exception as err:
            log.exception("backend failed")
            return _error(request, 500, f"backend failed: {type(err).__name__}: {err}")
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
        return Response(proto.response_body(call, completions, backend), media_type="application/json")

    async def _stream(proto, call, backend, future, cancel, n):
        try:
            completions = _empty(n) if future is None else await future
            for event in proto.stream_events(call, completions, backend):
                yield event
        except Cancelled:
            return
        except Exception as err:
            log.exception("backend failed")
            for event in proto.stream_error(500, f"backend failed: {type(err).__name__}: {err}"):
                yield event
        finally:
            cancel.set()  # client gone (the iterator was cancelled) or finished: either way stop the work

    async def infill(request: Request) -> Response:
        return await serve(request, _LLAMA_INFILL)

    async def completion(request: Request) -> Response:
        return await serve(request, _LLAMA_COMPLETION)

    async def v1_completions(request: Request) -> Response:
        return await serve(request, _OPENAI)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        detail = getattr(exc, "detail", "") or "error"
        if status == 404:
            detail = f"File Not Found: {request.method} {request.url.path}"
        elif status == 405:
            detail = f"Method {request.method} is not allowed on {request.url.path}"
        return _error(request, status, detail)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error")
        return _error(request, 500, f"internal error: {type(exc).__name__}")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        loader = asyncio.create_task(state.load())
        try:
            yield
        finally:
            loader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await loader
            if state.batcher is not None:
                await state.batcher.stop()

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/v1/health", health, methods=["GET"]),
        Route("/props", props, methods=["GET"]),
        Route("/stats", stats, methods=["GET"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/models", models, methods=["GET"]),
        Route("/infill", infill, methods=["POST"]),
        Route("/completion", completion, methods=["POST"]),
        Route("/completions", completion, methods=["POST"]),
        Route("/v1/completions", v1_completions, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: http_error, Exception: server_error})
    app.state.seqdiff = state
    return app


def _empty(n: int) -> list[Completion]:
    return [Completion(text="", finish_reason="limit", tokens_predicted=0) for _ in range(n)]


class _Proto:
    def __init__(self, parse, response_body, stream_events, stream_error):
        self.parse = parse
        self.response_body = response_body
        self.stream_events = stream_events
        self.stream_error = stream_error


_LLAMA_INFILL = _Proto(llama.parse_infill, llama.response_body, llama.stream_events,
                       lambda status, msg: [llama.stream_error(status, msg)])
_LLAMA_COMPLETION = _Proto(llama.parse_completion, llama.response_body, llama.stream_events,
                           lambda status, msg: [llama.stream_error(status, msg)])
_OPENAI = _Proto(openai.parse, openai.response_body, openai.stream_events, openai.stream_error)
