"""The protein domain's contribution to ``seqdiff serve``: ``POST /v1/protein/designs``, so a lab's web page
or pipeline can ask for designs over HTTP.

The JSON body's fields are ``ProteinDesigner.design``'s (``FIELDS`` below is the one list of what HTTP
accepts, each with its check and bounds); unknown fields and bad values are a 400 naming the field. The
answer is ``{"designs": [<one scores.csv row each>], "run": {"config", "summary", "designs"}}``, or FASTA
with ``Accept: text/x-fasta``. Designs run on the host's batcher thread, never on the event loop."""

from __future__ import annotations

import argparse
import math
import re
import threading
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from seqdiff.serve.app import batcher, job_result, read_json, service
from seqdiff.serve.batching import QueueFull
from seqdiff.serve.body import json_response
from seqdiff.serve.contribution import ServeContribution, ServeOptions
from seqdiff.serve.errors import HttpError, default_error_body

NAME = "protein"
MAX_DESIGNS = 64  # per request
MAX_RESIDUES = 1022  # ESM's position limit (1024 tokens with <cls> and <eos>)
MAX_TEXT = 2000  # characters of a motif or redesign string


def _bad(name: str, message: str) -> HttpError:
    return HttpError(f"Field '{name}': {message}", param=name)


def _int(lo: int, hi: int) -> Callable[[str, Any], int]:
    def check(name: str, value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(name, f"must be an integer, but got {value!r}")
        if not lo <= value <= hi:
            raise _bad(name, f"must be between {lo} and {hi}, but got {value}")
        return value
    return check


def _number(lo: float, hi: float) -> Callable[[str, Any], float]:
    def check(name: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _bad(name, f"must be a finite number, but got {value!r}")
        if not lo <= value <= hi:
            raise _bad(name, f"must be between {lo:g} and {hi:g}, but got {value:g}")
        return float(value)
    return check


def _choice(*options: str) -> Callable[[str, Any], str]:
    def check(name: str, value: Any) -> str:
        if value not in options:
            raise _bad(name, f"must be one of {', '.join(options)}, but got {value!r}")
        return value
    return check


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _bad(name, f"must be true or false, but got {value!r}")
    return value


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(name, f"must be a non-empty string, but got {value!r}")
    if len(value) > MAX_TEXT or not value.isprintable():
        raise _bad(name, f"must be at most {MAX_TEXT} printable characters")
    return value


def _most_residues(motif: str) -> int:
    """An upper bound on a design's length from the motif's generated ranges and seq: literals."""
    total = 0
    for segment in re.split(r"[/,]", motif.split("=")[-1].strip("[] ")):
        numbers = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+))?\s*", segment)
        if segment.strip().startswith("seq:"):
            total += len(segment.strip()) - 4
        elif numbers:
            total += int(numbers.group(2) or numbers.group(1))
    return total


def _motif(name: str, value: Any) -> str:
    value = _text(name, value)
    most = _most_residues(value)
    if most > MAX_RESIDUES:
        raise _bad(name, f"allows designs of up to {most} residues, more than the limit of {MAX_RESIDUES}; "
                         f"narrow its ranges (e.g. 5-20/seq:FSLFDKDGDGTITTKELGTV/10-25)")
    return value


def _length(name: str, value: Any) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool):
        return _int(1, MAX_RESIDUES)(name, value)
    match = re.fullmatch(r"\s*(\d{1,6})\s*(?:-\s*(\d{1,6})\s*)?", value) if isinstance(value, str) else None
    if match is None:
        raise _bad(name, f"must be a number or a range \"LO-HI\" such as \"100-150\", but got {value!r}")
    lo, hi = int(match.group(1)), int(match.group(2) or match.group(1))
    if not 1 <= lo <= hi <= MAX_RESIDUES:
        raise _bad(name, f"must lie within 1-{MAX_RESIDUES} with LO <= HI, but got {value!r}")
    return value


FIELDS: dict[str, Callable[[str, Any], Any]] = {
    "motif": _motif, "length": _length, "redesign": _text, "num_designs": _int(1, MAX_DESIGNS),
    "seed": _int(0, 2 ** 63 - 1), "steps": _int(1, 4096), "temperature": _number(0.0, 100.0),
    "sampler": _choice("ancestral", "confidence"), "top_k": _int(1, 64), "top_p": _number(0.0, 1.0),
    "remasking": _choice("low_confidence", "random"), "batch_size": _int(1, MAX_DESIGNS),
    "repeat_guard": _bool, "max_residue_fraction": _number(0.0, 1.0), "max_run": _int(1, MAX_RESIDUES),
    "repeat_rounds": _int(0, 64),
}
REFUSED = {
    "pdb": "is not accepted over HTTP: the server would read a structure file from its own disk; give the motif "
           "as seq: segments (e.g. 5-20/seq:FSLFDKDGDGTITTKELGTV/10-25), or run seqdiff design-protein --pdb locally",
    "esm_model": "is chosen when the server starts (seqdiff serve --protein-esm-model)",
    "novelty": "is not accepted over HTTP: it names files on the server",
}


def parse_fields(data: dict) -> dict:
    """The ``design`` keyword arguments of a request body; JSON null means the default."""
    fields = {}
    for name, value in data.items():
        if name in REFUSED:
            raise _bad(name, REFUSED[name])
        if name not in FIELDS:
            raise _bad(name, f"unknown field; the fields are {', '.join(FIELDS)}")
        if value is not None:
            fields[name] = FIELDS[name](name, value)
    return fields


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


def _design_one(designer, fields: dict):
    try:
        return designer.design(**fields, progress=False)
    except ValueError as err:  # DesignInputError / MotifError: the request's fault, answered 400
        return err


def _design_batch(designer) -> Callable[[list, Callable[[], bool]], list]:
    return lambda requests, should_stop: [_design_one(designer, fields) for fields in requests]


async def designs(request: Request) -> Response:
    service(request, NAME)
    fields = parse_fields(await read_json(request))
    cancel = threading.Event()
    try:
        future = batcher(request, NAME).enqueue(fields, cancel, rows=fields.get("num_designs", 1))
    except QueueFull as err:
        raise HttpError(f"Server busy: {err}; retry shortly", status=503) from None
    result = await job_result(request, future, cancel)
    if isinstance(result, ValueError):
        raise HttpError(str(result))
    if "text/x-fasta" in request.headers.get("accept", ""):
        from seqdiff_protein.api import fasta_text

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

    return ProteinDesigner.from_pretrained(options.model, device=options.device,
                                           esm_model=options.args.protein_esm_model)


def contribution(loader: Callable[[ServeOptions], Any] | None = None) -> ServeContribution:
    """The design route over the designer ``loader`` returns (default: the CLI's model and scorer)."""
    return ServeContribution(
        name=NAME, description="protein design: POST /v1/protein/designs (JSON, or FASTA with Accept: text/x-fasta)",
        routes=(Route("/v1/protein/designs", designs, methods=["POST"]),), load=loader or load,
        add_arguments=add_arguments if loader is None else None, batch=_design_batch,
        error_bodies=(("/v1/protein/", error_body),))

