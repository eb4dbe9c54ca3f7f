"""llama.cpp server protocol: ``POST /infill``, ``POST /completion`` (and ``/completions``).

Request parsing with llama.cpp's messages and envelope, the result object llama.vim and llama.vscode read
(compact JSON; ``response_fields`` flattening; object for one completion, array for ``n_cmpl`` > 1), and
SSE events (``data: {...}`` partials, a final ``stop:true`` event, no ``[DONE]``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from seqdiff.serve.body import dumps
from seqdiff.serve.errors import default_error_body as error_body  # the host's default is llama.cpp's envelope
from seqdiff_code.serve import fim
from seqdiff_code.serve.backend import Completion, InfillBackend, InfillRequest, check_syntax
from seqdiff_code.serve.common import (BadRequest, ServeConfig, fit_context, get_bool, get_float, get_int,
                                       get_seed, get_stop, parse_extra, postprocess)


@dataclass
class LlamaCall:
    request: InfillRequest
    stream: bool
    array: bool  # n_cmpl > 1: the body is a JSON array
    response_fields: list[str] | None
    n_indent: int
    n_predict: int  # as asked (0: warm-up)
    prompt: str  # echoed in the result's "prompt"
    prompt_tokens: int
    truncated: bool

    @property
    def warmup(self) -> bool:
        return self.n_predict == 0


def _string_field(data: dict, name: str, required: bool, message: str | None = None) -> str:
    if name not in data or data[name] is None:
        if required:
            raise BadRequest(f'"{name}" is required', name)
        return ""
    if not isinstance(data[name], str):
        raise BadRequest(message or f'"{name}" must be a string', name)
    return data[name]


def _common(data: dict, config: ServeConfig, backend: InfillBackend, prefix: str, suffix: str, extra, prompt: str,
            param: str) -> LlamaCall:
    n_predict = get_int(data, "n_predict", -1, -1, config.max_n_predict)
    n_cmpl = get_int(data, "n_cmpl", 1, 1, config.max_n_cmpl, aliases=("n",))
    n_indent = get_int(data, "n_indent", 0, -(2 ** 31), 2 ** 31)
    t_max = get_int(data, "t_max_predict_ms", 0, -(2 ** 31), 2 ** 31)
    temperature = max(0.0, get_float(data, "temperature", 0.0, -100.0, 100.0))
    top_k = max(0, get_int(data, "top_k", 40, -(2 ** 31), 2 ** 31))
    top_p = get_float(data, "top_p", 0.95, 0.0, 1.0)
    seed = get_seed(data)
    stop = get_stop(data, config, allow_string=True)
    stream = get_bool(data, "stream", False)
    fields = data.get("response_fields")
    if fields is not None and (not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)):
        raise BadRequest("Field 'response_fields': must be an array of strings, e.g. [\"content\",\"timings/prompt_n\"]",
                         "response_fields")
    max_tokens = config.default_n_predict if n_predict == -1 else n_predict
    fitted = fit_context(prefix, suffix, extra, max_tokens, count=backend.count_tokens,
                         window=backend.max_context_tokens, hard_limit=config.max_prompt_tokens, param=param)
    request = InfillRequest(prefix=fitted.prefix, suffix=fitted.suffix, max_tokens=fitted.max_tokens, n=n_cmpl,
                            temperature=temperature, top_p=top_p, top_k=top_k, seed=seed, stop=stop,
                            extra=fitted.extra, time_budget_s=(t_max / 1000.0 if t_max > 0 else None),
                            n_indent=max(0, n_indent))
    return LlamaCall(request=request, stream=stream, array=n_cmpl > 1, response_fields=fields, n_indent=n_indent,
                     n_predict=n_predict, prompt=prompt, prompt_tokens=fitted.prompt_tokens, truncated=fitted.truncated)


def parse_infill(data: dict, config: ServeConfig, backend: InfillBackend) -> LlamaCall:
    """``POST /infill``: the hole is between input_prefix + prompt and input_suffix, after input_extra."""
    prefix = _string_field(data, "input_prefix", True)
    suffix = _string_field(data, "input_suffix", True)
    extra = parse_extra(data.get("input_extra"))
    prompt = data.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if prompt is not None and not isinstance(prompt, str):
        raise BadRequest('"prompt" must be a string', "prompt")
    prompt = prompt or ""
    return _common(data, config, backend, prefix + prompt, suffix, extra, prompt, "input_prefix")


def parse_completion(data: dict, config: ServeConfig, backend: InfillBackend) -> LlamaCall:
    """``POST /completion``: FIM sentinels inside ``prompt`` (Continue's templates) or a plain continuation."""
    if data.get("prompt") is None:
        raise BadRequest('"prompt" must be provided', "prompt")
    prompt = data["prompt"]
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise BadRequest('"prompt" must be a string (token arrays and several prompts are not supported)', "prompt")
    parsed = fim.parse(prompt)
    if parsed is None:
        prefix, suffix, extra = prompt, "", ()
    else:
        prefix, suffix = parsed.prefix, parsed.suffix
        extra = parse_extra([{"text": parsed.context}]) if parsed.context else ()
    return _common(data, config, backend, prefix, suffix, extra, prompt, "prompt")


def finish(call: LlamaCall, completion: Completion, backend: InfillBackend) -> tuple[str, str, str, bool | None, int]:
    """Post-process one completion: (content, stop_type, stopping_word, syntax_valid, tokens_predicted)."""
    text, cut_type, word = postprocess(completion.text, call.request.stop, call.n_indent)
    if cut_type is None:
        stop_type = {"eos": "eos", "limit": "limit", "word": "word", "cancelled": "none"}[completion.finish_reason]
        return text, stop_type, word, completion.valid, completion.tokens_predicted
    valid = check_syntax(backend, call.request.prefix, text, call.request.suffix)
    return text, cut_type, word, valid, backend.count_tokens(text)


def result_object(call: LlamaCall, completion: Completion, index: int, backend: InfillBackend,
                  *, streamed: bool = False) -> dict:
    content, stop_type, word, valid, n_pred = finish(call, completion, backend)
    predicted_ms = completion.wall_s * 1000.0
    req = call.request
    obj: dict[str, Any] = {
        "index": index,
        "content": "" if streamed else content,
        "tokens": [],
        "id_slot": 0,
        "stop": True,
        "model": backend.model_name,
        "tokens_predicted": n_pred,
        "tokens_evaluated": call.prompt_tokens,
        "generation_settings": {"n_predict": call.n_predict, "seed": -1 if req.seed is None else req.seed,
                                "temperature": req.temperature, "top_k": req.top_k, "top_p": req.top_p,
                                "n_indent": call.n_indent, "stop": list(req.stop), "stream": call.stream,
                                "n_cmpl": req.n},
        "prompt": call.prompt,
        "has_new_line": "\n" in content,
        "truncated": call.truncated or completion.truncated,  # context cut, or the time budget ran out
        "stop_type": stop_type,
        "stopping_word": word,
        "tokens_cached": 0,
        "timings": {"cache_n": 0, "prompt_n": call.prompt_tokens, "prompt_ms": 0.0, "prompt_per_token_ms": 0.0,
                    "prompt_per_second": 0.0, "predicted_n": n_pred, "predicted_ms": round(predicted_ms, 3),
                    "predicted_per_token_ms": round(predicted_ms / n_pred, 3) if n_pred else 0.0,
                    "predicted_per_second": round(1000.0 * n_pred / predicted_ms, 3) if predicted_ms > 0 else 0.0},
        # seqdiff's own fields; clients ignore unknown keys
        "seqdiff": {"syntax_valid": valid, "nfe": completion.nfe, "cancelled": completion.finish_reason == "cancelled"},
    }
    if call.response_fields is not None:
        obj = flatten_fields(obj, call.response_fields)
    return obj


def flatten_fields(obj: dict, fields: list[str]) -> dict:
    """llama.cpp ``json_get_nested_values``: each path ``a/b`` becomes a root key named ``"a/b"``;
    missing paths are left out."""
    out: dict[str, Any] = {}
    for path in fields:
        node: Any = obj
        found = True
        for key in path.split("/"):
            if isinstance(node, dict) and key in node:
                node = node[key]
            else:
                found = False
                break
        if found:
            out[path] = node
    return out


def response_body(call: LlamaCall, completions: list[Completion], backend: InfillBackend) -> bytes:
    objs = [result_object(call, c, i, backend) for i, c in enumerate(completions)]
    return dumps(objs if call.array else objs[0])


def stream_events(call: LlamaCall, completions: list[Completion], backend: InfillBackend) -> list[bytes]:
    """SSE events for finished completions: a content partial each, then each final ``stop:true`` result."""
    events = []
    for i, c in enumerate(completions):
        content, _, _, _, n_pred = finish(call, c, backend)
        if content:
            events.append(b"data: " + dumps({"index": i, "content": content, "tokens": [], "stop": False,
                                              "id_slot": -1, "tokens_predicted": n_pred,
                                              "tokens_evaluated": call.prompt_tokens}) + b"\n\n")
        events.append(b"data: " + dumps(result_object(call, c, i, backend, streamed=True)) + b"\n\n")
    return events


def stream_error(status: int, message: str) -> list[bytes]:
    return [b"error: " + dumps(error_body(status, message)) + b"\n\n"]
