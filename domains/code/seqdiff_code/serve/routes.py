"""The code domain's contribution to ``seqdiff serve``: llama.cpp ``/infill``, ``/completion`` and
``/props``, OpenAI ``/v1/completions`` and ``/v1/models``, on the host's batcher, cancelled when the client
goes away. Handlers are module-level and read the loaded ``CodeService`` from the host."""

from __future__ import annotations

import argparse
import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from seqdiff.serve.app import batcher, job_result, read_json, service
from seqdiff.serve.batching import Cancelled, QueueFull
from seqdiff.serve.body import json_response
from seqdiff.serve.contribution import ServeContribution, ServeOptions, positive_int
from seqdiff.serve.errors import HttpError
from seqdiff_code.serve import llama, openai
from seqdiff_code.serve.backend import CodeInfillerBackend, Completion, EchoBackend, InfillBackend
from seqdiff_code.serve.common import ServeConfig

NAME = "code"
log = logging.getLogger("seqdiff.serve.code")
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
BackendSource = InfillBackend | Callable[[], InfillBackend]


@dataclass(frozen=True)
class CodeService:
    """What the contribution's loader returns: the backend and the protocol limits it is served with."""

    backend: InfillBackend
    config: ServeConfig
    created: int  # load time, reported by /v1/models


@dataclass(frozen=True)
class Protocol:
    parse: Callable
    response_body: Callable
    stream_events: Callable
    stream_error: Callable


LLAMA_INFILL = Protocol(llama.parse_infill, llama.response_body, llama.stream_events, llama.stream_error)
LLAMA_COMPLETION = Protocol(llama.parse_completion, llama.response_body, llama.stream_events, llama.stream_error)
OPENAI = Protocol(openai.parse, openai.response_body, openai.stream_events, openai.stream_error)


def _empty(n: int) -> list[Completion]:
    return [Completion(text="", finish_reason="limit", tokens_predicted=0) for _ in range(n)]


async def _stream(proto: Protocol, call, backend: InfillBackend, future, cancel: threading.Event, n: int):
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


async def _await_completions(request: Request, future: asyncio.Future, cancel: threading.Event) -> list[Completion]:
    try:
        return await job_result(request, future, cancel)
    except HttpError:
        raise
    except Exception as err:
        log.exception("backend failed")
        raise HttpError(f"backend failed: {type(err).__name__}: {err}", status=500) from None


async def _complete(request: Request, proto: Protocol) -> Response:
    svc: CodeService = service(request, NAME)
    data = await read_json(request)
    # parsing counts tokens (fitting the context): off the event loop, so big prompts never stall /health
    call = await asyncio.to_thread(proto.parse, data, svc.config, svc.backend)
    req = call.request
    cancel = threading.Event()
    future = None
    if not call.warmup:
        try:
            future = batcher(request, NAME).enqueue(req, cancel, rows=req.n)
        except QueueFull as err:
            raise HttpError(f"Server busy: {err}; retry shortly", status=503) from None
    if call.stream:
        return StreamingResponse(_stream(proto, call, svc.backend, future, cancel, req.n),
                                 media_type="text/event-stream", headers=SSE_HEADERS)
    completions = _empty(req.n) if future is None else await _await_completions(request, future, cancel)
    return Response(proto.response_body(call, completions, svc.backend), media_type="application/json")


async def infill(request: Request) -> Response:
    return await _complete(request, LLAMA_INFILL)


async def completion(request: Request) -> Response:
    return await _complete(request, LLAMA_COMPLETION)


async def v1_completions(request: Request) -> Response:
    return await _complete(request, OPENAI)


async def models(request: Request) -> Response:
    svc: CodeService = service(request, NAME)
    return Response(openai.models_body(svc.backend.model_name, svc.created), media_type="application/json")


async def props(request: Request) -> Response:
    svc: CodeService = service(request, NAME)
    backend, config = svc.backend, svc.config
    return json_response(200, {"model_path": backend.model_name, "total_slots": config.max_n_cmpl,
                               "n_ctx": backend.max_context_tokens,
                               "default_generation_settings": {"n_predict": config.default_n_predict,
                                                               "n_ctx": backend.max_context_tokens}})


ROUTES = (
    Route("/props", props, methods=["GET"]),
    Route("/v1/models", models, methods=["GET"]),
    Route("/models", models, methods=["GET"]),
    Route("/infill", infill, methods=["POST"]),
    Route("/completion", completion, methods=["POST"]),
    Route("/completions", completion, methods=["POST"]),
    Route("/v1/completions", v1_completions, methods=["POST"]),
)


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--backend", choices=("code", "fake"), default="code",
                       help="code: the code-domain infiller; fake: a deterministic stand-in for testing clients")
    group.add_argument("--candidates", type=positive_int, default=2,
                       help="canvases decoded per completion; the best syntax-valid one wins (default 2)")
    group.add_argument("--max-n-cmpl", type=positive_int, default=4, help="largest n_cmpl / n accepted (default 4)")
    group.add_argument("--max-n-predict", type=positive_int, default=4096,
                       help="largest n_predict / max_tokens (default 4096)")
    group.add_argument("--fake-steps", type=int, default=8, help=argparse.SUPPRESS)
    group.add_argument("--fake-step-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    group.add_argument("--fake-row-ms", type=float, default=0.0, help=argparse.SUPPRESS)


def load(options: ServeOptions) -> CodeService:
    """The backend the CLI options ask for: the bundled model, ``--model``'s folder, or ``--backend fake``."""
    from seqdiff_code.domain import CodeDomain

    args = options.args
    config = ServeConfig(max_n_cmpl=args.max_n_cmpl, max_n_predict=args.max_n_predict)
    if args.backend == "fake":
        if options.model is not None:
            raise ValueError(f"--model {options.model} has no effect with --backend fake")
        backend: InfillBackend = EchoBackend(steps=args.fake_steps, step_s=args.fake_step_ms / 1000.0,
                                             row_s=args.fake_row_ms / 1000.0)
    else:
        if options.model is None and CodeDomain().default_model() is None:
            raise ValueError("no bundled code model is installed; pass --model PATH (a model folder written by "
                             "`seqdiff train --config configs/code-small.yaml`), or --backend fake to try clients")
        from seqdiff_code.infill import CodeInfiller

        path = None if options.model is None else str(options.model)
        infiller = CodeInfiller.from_pretrained(path, device=options.device, dtype=options.dtype)
        backend = CodeInfillerBackend(path, candidates=args.candidates, infiller=infiller)
    return CodeService(backend, config, int(time.time()))


def contribution(source: BackendSource | None = None, config: ServeConfig | None = None) -> ServeContribution:
    """The code routes over ``source`` (a backend, or a zero-argument factory run at start-up), or, by
    default, over the backend the CLI options describe."""
    if source is None:
        loader: Callable[[ServeOptions], Any] = load
    else:
        def loader(options: ServeOptions) -> CodeService:
            backend = source if isinstance(source, InfillBackend) else source()
            return CodeService(backend, config or ServeConfig(), int(time.time()))
    return ServeContribution(
        name=NAME, description="code infill for editors: llama.cpp /infill, OpenAI /v1/completions",
        routes=ROUTES, load=loader, add_arguments=add_arguments if source is None else None,
        batch=lambda svc: svc.backend.complete, error_bodies=(("/v1/", openai.error_body),))
