"""The HTTP host: mounts the domains' contributions, loads them in worker threads after start-up (``GET
/health`` answers 503 ``Loading model`` until all have loaded, as llama.cpp does), runs their batchers,
checks the API key, and turns every refusal into the envelope of the protocol at that path.

Handlers are module-level and read the ``HostState`` stored on the app (``request.app.state.seqdiff``)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from seqdiff.serve.batching import Batcher, Cancelled
from seqdiff.serve.body import json_response, parse_json_object, read_body
from seqdiff.serve.contribution import ErrorBody, ServeContribution, ServeOptions
from seqdiff.serve.errors import HttpError, default_error_body

log = logging.getLogger("seqdiff.serve")

PUBLIC_PATHS = ("/health", "/v1/health")  # open without the API key, as in llama.cpp


@dataclass(frozen=True)
class HostConfig:
    max_body_bytes: int = 4 * 1024 * 1024
    max_batch: int = 16  # rows per batch function call
    max_queue: int = 128  # requests waiting per batcher
    batch_wait_s: float = 0.0
    api_key: str | None = None


class HostState:
    """What the handlers read: each contribution's loaded value and batcher, or why it is not there."""

    def __init__(self, contributions: Sequence[ServeContribution], config: HostConfig,
                 options: Mapping[str, ServeOptions]):
        self.contributions = list(contributions)
        self.config = config
        self.options = dict(options)
        self.services: dict[str, Any] = {}
        self.batchers: dict[str, Batcher] = {}
        self.load_errors: dict[str, str] = {}
        self.on_load_failure: Callable[[str], None] | None = None  # the runner exits on it (seqdiff serve: 2)
        self._error_bodies = sorted(((prefix, body) for c in contributions for prefix, body in c.error_bodies),
                                    key=lambda pair: -len(pair[0]))

    @property
    def ready(self) -> bool:
        return len(self.services) == len(self.contributions)

    @property
    def settled(self) -> bool:
        """Every contribution has loaded or failed."""
        return len(self.services) + len(self.load_errors) == len(self.contributions)

    def failure(self) -> str | None:
        return "; ".join(f"{name}: {err}" for name, err in self.load_errors.items()) or None

    def error_body(self, path: str) -> ErrorBody:
        return next((body for prefix, body in self._error_bodies if path.startswith(prefix)), default_error_body)

    async def load_all(self) -> None:
        for contribution in self.contributions:
            if self.load_errors and self.on_load_failure is not None:
                return  # the runner is stopping the server: loading more would only delay the exit
            await self._load(contribution)

    async def _load(self, c: ServeContribution) -> None:
        try:
            value = await asyncio.to_thread(c.load, self.options.get(c.name) or c.default_options())
            if c.batch is not None:
                batcher = Batcher(c.batch(value), max_batch=self.config.max_batch, max_queue=self.config.max_queue,
                                  batch_wait_s=self.config.batch_wait_s)
                batcher.start()
                self.batchers[c.name] = batcher
            self.services[c.name] = value
            log.info("%s ready", c.name)
        except Exception as err:  # reported by /health and to the runner
            self.load_errors[c.name] = f"{type(err).__name__}: {err}"
            log.error("%s failed to load: %s", c.name, self.load_errors[c.name])
            if self.on_load_failure is not None:
                self.on_load_failure(f"{c.name}: {self.load_errors[c.name]}")

    async def close(self) -> None:
        for batcher in self.batchers.values():
            await batcher.stop()

    def unavailable(self, name: str | None = None) -> HttpError | None:
        """503 while ``name`` (default: any contribution) is loading or after it failed."""
        loaded = self.ready if name is None else name in self.services
        if loaded:
            return None
        failure = self.failure() if name is None else self.load_errors.get(name)
        return HttpError(f"Model failed to load: {failure}" if failure else "Loading model", status=503)


def host_state(request: Request) -> HostState:
    return request.app.state.seqdiff


def service(request: Request, name: str) -> Any:
    """What contribution ``name`` loaded; raises 503 until it has."""
    state = host_state(request)
    refusal = state.unavailable(name)
    if refusal is not None:
        raise refusal
    return state.services[name]


def batcher(request: Request, name: str) -> Batcher:
    service(request, name)
    return host_state(request).batchers[name]


async def read_json(request: Request) -> dict:
    """The request body as a JSON object, within the host's body limit."""
    return parse_json_object(await read_body(request, host_state(request).config.max_body_bytes))


async def _watch_disconnect(request: Request, cancel: threading.Event) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            cancel.set()
            return


async def job_result(request: Request, future: asyncio.Future, cancel: threading.Event) -> Any:
    """Await a batcher job; a client that disconnects meanwhile sets ``cancel`` (a queued job is dropped, a
    running one sees it through ``should_stop``). A cancelled job is a 503; other failures propagate."""
    watcher = asyncio.create_task(_watch_disconnect(request, cancel))
    try:
        return await future
    except Cancelled:
        raise HttpError("request cancelled", status=503) from None
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher


def error_response(request: Request, err: HttpError) -> Response:
    body = host_state(request).error_body(request.url.path)(err.status, err.message, err.param)
    return json_response(err.status, body)


async def health(request: Request) -> Response:
    refusal = host_state(request).unavailable()
    return error_response(request, refusal) if refusal else json_response(200, {"status": "ok"})


def _batch_stats(batchers: Sequence[Batcher]) -> dict:
    batches = sum(b.stats.batches for b in batchers)
    requests = sum(b.stats.requests for b in batchers)
    return {"batches": batches, "requests": requests, "rows": sum(b.stats.rows for b in batchers),
            "max_rows": max((b.stats.max_rows for b in batchers), default=0),
            "queued": sum(b.queued for b in batchers),
            "cancelled_in_queue": sum(b.stats.cancelled_in_queue for b in batchers),
            "mean_requests_per_batch": round(requests / batches, 3) if batches else 0.0}


async def stats(request: Request) -> Response:
    """Batcher counters, summed over the contributions, and per contribution under ``by_contribution``."""
    state = host_state(request)
    refusal = state.unavailable()
    if refusal:
        return error_response(request, refusal)
    body = _batch_stats(list(state.batchers.values()))
    body["by_contribution"] = {name: _batch_stats([b]) for name, b in state.batchers.items()}
    return json_response(200, body)


async def _http_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HttpError):
        return error_response(request, exc)
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", "") or "error"
    if status == 404:
        detail = f"File Not Found: {request.method} {request.url.path}"
    elif status == 405:
        detail = f"Method {request.method} is not allowed on {request.url.path}"
    return error_response(request, HttpError(detail, status=status))


async def _client_gone(request: Request, exc: ClientDisconnect) -> Response:
    """A client that went away mid-body: one quiet line, no traceback (nobody reads the answer)."""
    log.info("client disconnected before its request body arrived: %s %s", request.method, request.url.path)
    return Response(status_code=400)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error")
    return error_response(request, HttpError(f"internal error: {type(exc).__name__}", status=500))


class ApiKeyGate:
    """With ``api_key`` set, every path but /health needs ``Authorization: Bearer KEY`` (or ``X-Api-Key``)."""

    def __init__(self, app, state: HostState):
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send) -> None:
        key = self.state.config.api_key
        if key and scope["type"] == "http" and scope["path"] not in PUBLIC_PATHS:
            request = Request(scope, receive)
            header = request.headers.get("authorization", "")
            given = header[7:] if header.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
            if not hmac.compare_digest(given.encode(), key.encode()):
                body = self.state.error_body(scope["path"])(401, "Invalid API Key", None)
                await json_response(401, body)(scope, receive, send)
                return
        await self.app(scope, receive, send)


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette):
    state: HostState = app.state.seqdiff
    loader = asyncio.create_task(state.load_all())
    try:
        yield
    finally:
        loader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await loader
        await state.close()


def _check_unique(contributions: Sequence[ServeContribution]) -> None:
    owner: dict[str, str] = {path: "the host" for path in (*PUBLIC_PATHS, "/stats")}
    names = [c.name for c in contributions]
    if len(set(names)) != len(names):
        raise ValueError(f"two contributions share a name: {names}")
    for c in contributions:
        for route in c.routes:
            if route.path in owner:
                raise ValueError(f"{route.path} is served by both {owner[route.path]} and {c.name}")
            owner[route.path] = c.name


def create_app(contributions: Sequence[ServeContribution], config: HostConfig | None = None,
               options: Mapping[str, ServeOptions] | None = None) -> Starlette:
    """An ASGI app serving ``contributions``; ``options[name]`` goes to that contribution's loader."""
    _check_unique(contributions)
    state = HostState(contributions, config or HostConfig(), options or {})
    routes = [Route("/health", health, methods=["GET"]), Route("/v1/health", health, methods=["GET"]),
              Route("/stats", stats, methods=["GET"])]
    routes += [route for c in contributions for route in c.routes]
    app = Starlette(routes=routes, lifespan=_lifespan, middleware=[Middleware(ApiKeyGate, state=state)],
                    exception_handlers={HTTPException: _http_error, HttpError: _http_error,
                                        ClientDisconnect: _client_gone, Exception: _server_error})
    app.state.seqdiff = state
    return app
