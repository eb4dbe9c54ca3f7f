"""The protein domain's contribution to ``seqdiff serve``: ``POST /v1/protein/designs``, so a lab's web page
or pipeline can ask for designs over HTTP.

The JSON body's fields are ``DesignConfig``'s (its types and bounds; a few fields that name server-side
files are refused); unknown fields and bad values are a 400 naming the field. The
answer is ``{"designs": [<one scores.csv row each>], "run": {"config", "summary", "designs"}}``, or FASTA
with ``Accept: text/x-fasta``. Designs run on the host's batcher thread, never on the event loop."""

from __future__ import annotations

import argparse
import math
import threading
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from seqdiff.config import ConfigError
from seqdiff.serve.app import batcher, job_result, read_json, service
from seqdiff.serve.batching import QueueFull
from seqdiff.serve.body import json_response
from seqdiff.serve.contribution import ServeContribution, ServeOptions
from seqdiff.serve.errors import HttpError, default_error_body
from seqdiff_protein.design_config import DesignConfig

NAME = "protein"
MAX_DESIGNS = 64  # per request


def _bad(name: str, message: str) -> HttpError:
    return HttpError(f"Field '{name}': {message}", param=name)


REFUSED = {
    "pdb": "is not accepted over HTTP: the server would read a structure file from its own disk; give the motif "
           "as seq: segments (e.g. 5-20/seq:FSLFDKDGDGTITTKELGTV/10-25), or run seqdiff design-protein --pdb locally",
    "esm_model": "is chosen when the server starts (seqdiff serve --protein-esm-model)",
    "novelty": "is not accepted over HTTP: it names files on the server",
    "progress": "is not accepted over HTTP: the server shows no progress bars",
}


def parse_config(data: dict) -> DesignConfig:
    """The request body as a ``DesignConfig`` (its fields, types and bounds; JSON null means the default),
    with the HTTP limits on top: no server-side files, at most ``MAX_DESIGNS`` designs per request."""
    for name in data:
        if name in REFUSED:
            raise _bad(name, REFUSED[name])
    fields = {k: v for k, v in data.items() if v is not None}
    try:
        config = DesignConfig.from_dict({**fields, "novelty": None, "progress": False})
    except ConfigError as err:
        raise _bad(err.field, f"{err.value!r} {err.problem}") from None
    if config.num_designs > MAX_DESIGNS:
        raise _bad("num_designs", f"must be <= {MAX_DESIGNS} per request, but got {config.num_designs}")
    return config


def _plain(value: Any) -> Any:
    """JSON-safe: NaN/inf become null, tuples and sets lists, anything else unknown its string."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return str(value)


def _design_one(designer, config: DesignConfig):
    try:
        return designer.design(config)
    except ValueError as err:  # DesignInputError / MotifError: the request's fault, answered 400
        return err


def _design_batch(designer) -> Callable[[list, Callable[[], bool]], list]:
    return lambda requests, should_stop: [_design_one(designer, fields) for fields in requests]


async def designs(request: Request) -> Response:
    service(request, NAME)
    config = parse_config(await read_json(request))
    cancel = threading.Event()
    try:
        future = batcher(request, NAME).enqueue(config, cancel, rows=config.num_designs)
    except QueueFull as err:
        raise HttpError(f"Server busy: {err}; retry shortly", status=503) from None
    result = await job_result(request, future, cancel)
    if isinstance(result, ValueError):
        field = getattr(result, "field", None)
        raise _bad(field, str(result)) if field else HttpError(str(result))
    if "text/x-fasta" in request.headers.get("accept", ""):
        from seqdiff_protein.records import fasta_text

        return Response(fasta_text(result.designs), media_type="text/x-fasta")
    return json_response(200, {"designs": [_plain(d.row) for d in result.designs],
                               "run": _plain({"config": result.config, "summary": result.summary,
                                              "designs": [d.mapping for d in result.designs]})})


def error_body(status: int, message: str, param: str | None = None) -> dict:
    body = default_error_body(status, message)
    body["error"]["param"] = param
    return body


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--protein-esm-model", default="bundled", metavar="NAME_OR_PATH",
                       help="scorer for served designs: bundled (default), none, or a model folder")


def load(options: ServeOptions):
    from seqdiff_protein import ProteinDesigner

    return ProteinDesigner.from_pretrained(options.model, device=options.device, dtype=options.dtype,
                                           esm_model=options.args.protein_esm_model)


def contribution(loader: Callable[[ServeOptions], Any] | None = None) -> ServeContribution:
    """The design route over the designer ``loader`` returns (default: the CLI's model and scorer)."""
    return ServeContribution(
        name=NAME, description="protein design: POST /v1/protein/designs (JSON, or FASTA with Accept: text/x-fasta)",
        routes=(Route("/v1/protein/designs", designs, methods=["POST"]),), load=loader or load,
        add_arguments=add_arguments if loader is None else None, batch=_design_batch,
        error_bodies=(("/v1/protein/", error_body),))

