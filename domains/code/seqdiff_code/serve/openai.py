"""OpenAI legacy completions: ``POST /v1/completions`` with ``suffix`` or FIM sentinels in ``prompt``,
``GET /v1/models``; streaming chunks whose last content chunk carries ``finish_reason``, then ``[DONE]``."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from seqdiff.serve.body import dumps
from seqdiff_code.serve import fim
from seqdiff_code.serve.backend import Completion, InfillBackend, InfillRequest, check_syntax
from seqdiff_code.serve.common import (BadRequest, ServeConfig, fit_context, get_bool, get_float, get_int,
                                       get_seed, get_stop, parse_extra, postprocess)

_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
          405: "invalid_request_error", 413: "invalid_request_error", 500: "server_error", 503: "server_error"}


def error_body(status: int, message: str, param: str | None = None) -> dict:
    code = {401: "invalid_api_key", 503: "overloaded"}.get(status)
    return {"error": {"message": message, "type": _TYPES.get(status, "invalid_request_error"), "param": param,
                      "code": code}}


@dataclass
class OpenAICall:
    request: InfillRequest
    stream: bool
    include_usage: bool
    echo: str  # prompt to put before each text when echo=true
    max_tokens: int  # as asked (0: nothing generated)
    prompt_tokens: int
    id: str
    created: int
    fim_family: str | None

    @property
    def warmup(self) -> bool:
        return self.max_tokens == 0


def parse(data: dict, config: ServeConfig, backend: InfillBackend) -> OpenAICall:
    prompt = data.get("prompt")
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise BadRequest("'prompt' must be a string or a list of one string; send one prompt per request", "prompt")
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise BadRequest("'prompt' is required and must be a string" if prompt is None
                         else "'prompt' must be a string", "prompt")
    suffix = data.get("suffix")
    if suffix is not None and not isinstance(suffix, str):
        raise BadRequest("'suffix' must be a string", "suffix")
    family = None
    extra = ()
    if suffix:
        prefix = prompt
    else:
        parsed = fim.parse(prompt)
        if parsed is None:
            prefix, suffix = prompt, ""  # plain continuation
        else:
            prefix, suffix, family = parsed.prefix, parsed.suffix, parsed.family
            extra = parse_extra([{"text": parsed.context}]) if parsed.context else ()
    max_tokens = get_int(data, "max_tokens", config.default_n_predict, 0, config.max_n_predict)
    n = get_int(data, "n", 1, 1, config.max_n_cmpl)
    temperature = get_float(data, "temperature", 0.0, 0.0, 2.0)
    top_p = get_float(data, "top_p", 1.0, 0.0, 1.0)
    top_k = max(0, get_int(data, "top_k", 0, -(2 ** 31), 2 ** 31))
    seed = get_seed(data)
    stop = get_stop(data, config, allow_string=True)
    stream = get_bool(data, "stream", False)
    echo = get_bool(data, "echo", False)
    options = data.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise BadRequest("'stream_options' must be an object such as {\"include_usage\": true}", "stream_options")
    include_usage = get_bool(options or {}, "include_usage", False)
    fitted = fit_context(prefix, suffix, extra, max_tokens, count=backend.count_tokens,
                         window=backend.max_context_tokens, hard_limit=config.max_prompt_tokens, param="prompt")
    request = InfillRequest(prefix=fitted.prefix, suffix=fitted.suffix, max_tokens=fitted.max_tokens, n=n,
                            temperature=temperature, top_p=top_p, top_k=top_k, seed=seed, stop=stop,
                            extra=fitted.extra)
    return OpenAICall(request=request, stream=stream, include_usage=include_usage, echo=prompt if echo else "",
                      max_tokens=max_tokens, prompt_tokens=fitted.prompt_tokens, id=f"cmpl-{uuid.uuid4().hex}",
                      created=int(time.time()), fim_family=family)


def choice(call: OpenAICall, completion: Completion, index: int, backend: InfillBackend) -> tuple[dict, int]:
    text, cut, _ = postprocess(completion.text, call.request.stop, 0)
    if cut is None:
        valid, n_tokens = completion.valid, completion.tokens_predicted
        reason = "length" if completion.finish_reason == "limit" else "stop"
    else:
        valid, n_tokens = check_syntax(backend, call.request.prefix, text, call.request.suffix), backend.count_tokens(text)
        reason = "stop"
    return ({"index": index, "text": call.echo + text, "logprobs": None, "finish_reason": reason,
             "seqdiff": {"syntax_valid": valid, "nfe": completion.nfe}}, n_tokens)


def _usage(call: OpenAICall, completion_tokens: int) -> dict:
    return {"prompt_tokens": call.prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": call.prompt_tokens + completion_tokens}


def response_body(call: OpenAICall, completions: list[Completion], backend: InfillBackend) -> bytes:
    choices, used = [], 0
    for i, c in enumerate(completions):
        ch, n = choice(call, c, i, backend)
        choices.append(ch)
        used += n
    return dumps({"id": call.id, "object": "text_completion", "created": call.created, "model": backend.model_name,
                  "choices": choices, "usage": _usage(call, used)})


def _chunk(call: OpenAICall, backend: InfillBackend, choices: list[dict], usage: dict | None = None) -> bytes:
    body = {"id": call.id, "object": "text_completion", "created": call.created, "model": backend.model_name,
            "choices": choices}
    if call.include_usage:
        body["usage"] = usage
    return b"data: " + dumps(body) + b"\n\n"


def stream_events(call: OpenAICall, completions: list[Completion], backend: InfillBackend) -> list[bytes]:
    """One chunk per choice with its whole text and its non-null finish_reason (Tabby stops at the first
    non-null one and must never have to parse ``[DONE]``), optional usage chunk, then ``[DONE]``."""
    events, used = [], 0
    for i, c in enumerate(completions):
        ch, n = choice(call, c, i, backend)
        used += n
        events.append(_chunk(call, backend, [ch]))
    if call.include_usage:
        events.append(_chunk(call, backend, [], _usage(call, used)))
    events.append(b"data: [DONE]\n\n")
    return events


def stream_error(status: int, message: str) -> list[bytes]:
    return [b"data: " + dumps(error_body(status, message)) + b"\n\n", b"data: [DONE]\n\n"]


def models_body(backend_name: str, created: int) -> bytes:
    return dumps({"object": "list", "data": [{"id": backend_name, "object": "model", "created": created,
                                              "owned_by": "seqdiff"}]})
