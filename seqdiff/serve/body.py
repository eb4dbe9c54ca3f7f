"""Bodies in and out: read with a size limit (413 above it), parsed as one JSON object (400 otherwise);
compact JSON responses."""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from seqdiff.serve.errors import HttpError


def dumps(obj: Any) -> bytes:
    """Compact JSON as llama.cpp writes it (``"content":"`` with no space: llama.vim's regex needs it)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def json_response(status: int, body: dict | bytes, headers: dict | None = None) -> Response:
    return Response(body if isinstance(body, bytes) else dumps(body), status_code=status,
                    media_type="application/json", headers=headers)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to inf, which no field can use and no response can echo
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def parse_json_object(raw: bytes) -> dict:
    if not raw.strip():
        raise HttpError("request body is empty; send a JSON object")
    try:
        data = json.loads(raw, parse_constant=_no_constants, parse_float=_finite)
    except RecursionError:
        raise HttpError("request body is nested too deeply") from None
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError, int too long
        raise HttpError(f"request body is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise HttpError(f"request body must be a JSON object, got {type(data).__name__}")
    try:  # JSON can escape a lone UTF-16 surrogate ("\\ud800"), which no tokenizer or file can take
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as err:
        raise HttpError(f"request body holds a lone UTF-16 surrogate ({err.object[err.start:err.end]!a}); "
                        f"send valid Unicode text") from None
    return data


async def read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise HttpError(f"invalid Content-Length header {length!r}")
        if int(length) > limit:
            raise HttpError(f"request body is {int(length)} bytes, more than the limit of {limit} "
                            f"(seqdiff serve --max-body-bytes)", status=413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HttpError(f"request body is more than the limit of {limit} bytes "
                            f"(seqdiff serve --max-body-bytes)", status=413)
    return bytes(body)
