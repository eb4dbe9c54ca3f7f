"""Shared by both editor protocols: their limits, field validation with clear messages, compact JSON,
context fitting, and the post-processing llama.cpp applies to a completion (stop strings, ``n_indent``)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable

from seqdiff.serve.errors import HttpError
from seqdiff_code.candidates import cut_n_indent
from seqdiff_code.serve.backend import ExtraChunk


@dataclass(frozen=True)
class ServeConfig:
    """Limits of the editor protocols (the host's body limit, batch and queue sizes are in HostConfig)."""

    max_prompt_tokens: int = 65536  # hard limit on prompt size (400 above); below it, long context is trimmed
    max_n_predict: int = 4096  # hard limit on n_predict / max_tokens (400 above)
    default_n_predict: int = 128  # n_predict -1 ("infinite") or absent
    max_n_cmpl: int = 4  # n_cmpl / n
    max_stop: int = 64  # number of stop strings
    max_stop_chars: int = 512


class BadRequest(HttpError):
    """A 400 naming the request field at fault."""


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def get_int(data: dict, name: str, default: int | None, lo: int, hi: int, *, aliases: tuple[str, ...] = ()) -> int | None:
    key = next((k for k in (name, *aliases) if k in data), None)
    if key is None or data[key] is None:
        return default
    value = data[key]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"Field '{key}': must be an integer, but got {_show(value)}", key)
    if not lo <= value <= hi:
        raise BadRequest(f"Field '{key}': Value must be between {lo} <= value <= {hi}, but got {value}", key)
    return value


def get_float(data: dict, name: str, default: float, lo: float, hi: float) -> float:
    if data.get(name) is None:
        return default
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadRequest(f"Field '{name}': must be a number, but got {_show(value)}", name)
    if not lo <= value <= hi:
        raise BadRequest(f"Field '{name}': Value must be between {lo:g} <= value <= {hi:g}, but got {value:g}", name)
    return float(value)


def get_bool(data: dict, name: str, default: bool) -> bool:
    if data.get(name) is None:
        return default
    value = data[name]
    if not isinstance(value, bool):
        raise BadRequest(f"Field '{name}': must be true or false, but got {_show(value)}", name)
    return value


def get_stop(data: dict, config: ServeConfig, *, allow_string: bool) -> tuple[str, ...]:
    value = data.get("stop")
    if value is None:
        return ()
    if isinstance(value, str) and allow_string:
        value = [value]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        kind = "a string or an array of strings" if allow_string else "an array of strings"
        raise BadRequest(f"Field 'stop': must be {kind}, but got {_show(value)}", "stop")
    if len(value) > config.max_stop:
        raise BadRequest(f"Field 'stop': at most {config.max_stop} stop strings, but got {len(value)}", "stop")
    for s in value:
        if len(s) > config.max_stop_chars:
            raise BadRequest(f"Field 'stop': each stop string must be at most {config.max_stop_chars} characters, "
                             f"but one has {len(s)}", "stop")
    return tuple(s for s in value if s)


def get_seed(data: dict) -> int | None:
    seed = get_int(data, "seed", None, -(2 ** 63), 2 ** 64 - 1)
    return None if seed is None or seed < 0 else seed  # llama.cpp: -1 (any negative) = random


def cut_at_stop(text: str, stop: tuple[str, ...]) -> tuple[str, str | None]:
    """Cut before the earliest stop string; returns (text, stopping_word or None)."""
    best: tuple[int, str] | None = None
    for s in stop:
        at = text.find(s)
        if at >= 0 and (best is None or at < best[0]):
            best = (at, s)
    if best is None:
        return text, None
    return text[: best[0]], best[1]


def apply_n_indent(text: str, n_indent: int) -> tuple[str, bool]:
    """llama.cpp's ``n_indent`` cut (``candidates.cut_n_indent``, which the infiller applies too), and
    whether it cut anything."""
    cut = cut_n_indent(text, n_indent)
    return cut, cut != text


def postprocess(text: str, stop: tuple[str, ...], n_indent: int) -> tuple[str, str | None, str]:
    """Returns (text, stop_type or None if untouched, stopping_word)."""
    text, word = cut_at_stop(text, stop)
    if word is not None:
        return text, "word", word
    text, cut = apply_n_indent(text, n_indent)
    return text, ("limit" if cut else None), ""


def parse_extra(value: Any) -> tuple[ExtraChunk, ...]:
    """llama.cpp's ``input_extra`` checks, with its exact messages."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadRequest('"input_extra" must be an array of {"filename": string, "text": string}', "input_extra")
    chunks = []
    for chunk in value:
        if not isinstance(chunk, dict):
            raise BadRequest('"input_extra" must be an array of {"filename": string, "text": string}', "input_extra")
        if not isinstance(chunk.get("text"), str):
            raise BadRequest('extra_context chunk must contain a "text" field with a string value', "input_extra")
        if "filename" in chunk and not isinstance(chunk["filename"], str):
            raise BadRequest('extra_context chunk\'s "filename" field must be a string', "input_extra")
        chunks.append(ExtraChunk(text=chunk["text"], filename=chunk.get("filename")))
    return tuple(chunks)


@dataclass
class FittedContext:
    prefix: str
    suffix: str
    extra: tuple[ExtraChunk, ...]
    max_tokens: int
    prompt_tokens: int
    truncated: bool


def fit_context(prefix: str, suffix: str, extra: tuple[ExtraChunk, ...], max_tokens: int, *,
                count: Callable[[str], int], window: int, hard_limit: int, param: str = "input_prefix") -> FittedContext:
    """Make prompt + middle fit the model's window the way llama.cpp's infill does: keep the prefix lines
    nearest the cursor (up to 3/4 of the room), the first suffix lines (up to the rest), then whole extra
    chunks, most recent (last) first. Above ``hard_limit`` prompt tokens the request is refused."""
    pieces = [prefix, suffix] + [c.text for c in extra]
    total_chars = sum(len(p) for p in pieces)
    # cheap guard before tokenising: no tokenizer makes fewer than 1 token per 16 characters
    if total_chars > 16 * hard_limit:
        raise BadRequest(f"the prompt has {total_chars} characters, far above the limit of {hard_limit} tokens; "
                         f"send less context (llama.vim: g:llama_config.n_prefix/n_suffix)", param)
    counts = [count(p) for p in pieces]
    total = sum(counts)
    if total > hard_limit:
        raise BadRequest(f"the prompt is {total} tokens, more than the limit of {hard_limit}; send less context "
                         f"(llama.vim: g:llama_config.n_prefix/n_suffix)", param)
    max_tokens = max(0, min(max_tokens, window // 2))
    room = max(1, window - max_tokens)
    if total <= room:
        return FittedContext(prefix, suffix, extra, max_tokens, total, False)
    suffix_room = max(0, min(counts[1], room // 4))
    prefix_room = max(0, min(counts[0], room - suffix_room))
    new_prefix = _keep_tail(prefix, prefix_room, count)
    new_suffix = _keep_head(suffix, room - count(new_prefix), count)
    left = room - count(new_prefix) - count(new_suffix)
    kept: list[ExtraChunk] = []
    for chunk, n in zip(reversed(extra), reversed(counts[2:])):
        if n <= left:
            kept.append(chunk)
            left -= n
    kept.reverse()
    used = count(new_prefix) + count(new_suffix) + sum(count(c.text) for c in kept)
    return FittedContext(new_prefix, new_suffix, tuple(kept), max_tokens, used, True)


def _keep_tail(text: str, budget: int, count: Callable[[str], int]) -> str:
    if budget <= 0:
        return ""
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        n = count(line)
        if used + n > budget:
            if not kept:  # one long line: keep its end
                return _chars_tail(line, budget, count)
            break
        kept.append(line)
        used += n
    return "".join(reversed(kept))


def _keep_head(text: str, budget: int, count: Callable[[str], int]) -> str:
    if budget <= 0:
        return ""
    kept: list[str] = []
    used = 0
    for line in text.splitlines(keepends=True):
        n = count(line)
        if used + n > budget:
            if not kept:
                return _chars_tail(line[::-1], budget, lambda s: count(s[::-1]))[::-1]
            break
        kept.append(line)
        used += n
    return "".join(kept)


def _chars_tail(line: str, budget: int, count: Callable[[str], int]) -> str:
    lo, hi = 0, len(line)  # smallest start index whose tail fits
    while lo < hi:
        mid = (lo + hi) // 2
        if count(line[mid:]) <= budget:
            hi = mid
        else:
            lo = mid + 1
    return line[lo:]
