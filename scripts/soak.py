#!/usr/bin/env python
"""Soak test for ``seqdiff serve`` (issue #14): starts it with the bundled code and protein models, then N
client threads (default 16) send a mix of good and bad requests for a fixed time (default 60 s) over all
three protocols. Prints, per class, how the server answered, and the server's RSS at start and end.

    python scripts/soak.py                  # 16 clients x 60 s
    python scripts/soak.py --clients 4 --seconds 10

Good requests: llama.vim's default ``/infill`` body, an OpenAI ``/v1/completions`` FIM prompt, a small
``/v1/protein/designs``. Bad ones: lone surrogates, NUL bytes, huge values and bodies, wrong types,
truncated JSON, and clients that disconnect mid-body or before the answer. The pass criteria: no good
request fails, no request gets a 5xx, the server is still healthy at the end. Raw sockets, so bad bytes
reach the server exactly as written."""

from __future__ import annotations

import argparse
import collections
import json
import random
import socket
import sys
import threading
import time
from pathlib import Path

from serve_process import server_log, start_serve, stop_serve  # noqa: E402  (scripts/, beside this file)

LLAMA_VIM = {  # llama.vim's default FIM request (autoload/llama.vim), as the editor sends it
    "id_slot": 0, "input_prefix": "import os\n\ndef read(path):\n", "input_suffix": "\n\nprint(read('x'))\n",
    "input_extra": [{"text": "def helper(x):\n    return x + 1\n", "time": [1737000000, 1], "filename": "a.py"}],
    "prompt": "    with open(path) as f:\n        ", "n_predict": 128, "stop": [], "n_indent": 4, "top_k": 40,
    "top_p": 0.90, "samplers": ["top_k", "top_p", "infill"], "stream": False, "cache_prompt": True,
    "t_max_prompt_ms": 500, "t_max_predict_ms": 1000,
    "response_fields": ["content", "timings/prompt_n", "timings/predicted_n", "truncated", "tokens_cached"],
}
OPENAI = {"prompt": "<fim_prefix>def add(a, b):\n    <fim_suffix>\n<fim_middle>", "max_tokens": 16}
PROTEIN = {"length": 24, "num_designs": 1, "steps": 3}

GOOD = [("/infill", LLAMA_VIM), ("/v1/completions", OPENAI), ("/v1/protein/designs", PROTEIN)]
PATHS = [path for path, _ in GOOD]


def _raw(body: dict) -> bytes:
    return json.dumps(body).encode()  # ensure_ascii: a lone surrogate goes out as the escape "\ud800"


BAD = {  # name -> (path, body bytes); every one must be answered with a 4xx (or handled with a 2xx)
    "surrogate-infill": ("/infill", _raw({**LLAMA_VIM, "input_prefix": "s = '\ud800'\n"})),
    "surrogate-infill-stream": ("/infill", _raw({**LLAMA_VIM, "prompt": "\udfff", "stream": True})),
    "surrogate-openai": ("/v1/completions", _raw({**OPENAI, "prompt": "x\ud800"})),
    "surrogate-protein": ("/v1/protein/designs", _raw({**PROTEIN, "motif": "3/seq:MK\ud800/3"})),
    "nul-infill": ("/infill", _raw({**LLAMA_VIM, "input_prefix": "a = '\x00'\n", "n_predict": 8})),
    "nul-protein": ("/v1/protein/designs", _raw({**PROTEIN, "length": "2\x000"})),
    "huge-n-predict": ("/infill", _raw({**LLAMA_VIM, "n_predict": 10**12})),
    "huge-max-tokens": ("/v1/completions", _raw({**OPENAI, "max_tokens": 10**30})),
    "huge-designs": ("/v1/protein/designs", _raw({**PROTEIN, "num_designs": 10**9})),
    "huge-length": ("/v1/protein/designs", _raw({**PROTEIN, "length": "1-100000"})),
    "huge-body": ("/infill", _raw({**LLAMA_VIM, "input_prefix": "x" * (5 * 1024 * 1024)})),
    "huge-number": ("/v1/completions", b'{"prompt": "a", "temperature": 1e999999}'),
    "wrong-types": ("/infill", _raw({**LLAMA_VIM, "n_predict": "12", "input_extra": {"text": 1}})),
    "wrong-types-openai": ("/v1/completions", _raw({"prompt": {"a": 1}, "n": "3"})),
    "wrong-types-protein": ("/v1/protein/designs", _raw({"length": [8], "seed": "x"})),
    "truncated-json": ("/v1/completions", b'{"prompt": "def f('),
    "not-an-object": ("/v1/protein/designs", b"[1, 2, 3]"),
    "non-utf8": ("/infill", b'{"input_prefix": "\xff\xfe"}'),
}
def _status(port: int, head: bytes, timeout: float = 300.0) -> int:
    """Send one request; the HTTP status once the answer has been read to its end (streams included)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


def request(port: int, path: str, body: bytes) -> int:
    return _status(port, f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)


def health(port: int) -> int:
    return _status(port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=30)


def disconnect(port: int, path: str, body: bytes, mid_body: bool) -> None:
    """Send the headers and part of the body (``mid_body``), or all of it, then hang up without reading."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n".encode() + (body[: len(body) // 2] if mid_body else body))
        time.sleep(0.05)


def client(port: int, deadline: float, seed: int, counts: collections.Counter, latency: dict, lock) -> None:
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        roll = rng.random()
        if roll < 0.5:
            path, body = rng.choice(GOOD)
            start = time.monotonic()
            try:
                status = request(port, path, _raw(body))
                key = "good ok" if status == 200 else f"good error {status}"
            except OSError as err:
                key = f"good error {type(err).__name__}"
            with lock:
                counts[f"{key} {path}" if key == "good ok" else key] += 1
                latency.setdefault(path, []).append(time.monotonic() - start)
        elif roll < 0.9:
            name, (path, body) = rng.choice(list(BAD.items()))
            try:
                status = request(port, path, body)
                key = "bad 4xx" if 400 <= status < 500 else "5xx" if status >= 500 else "bad handled 2xx"
            except OSError as err:  # e.g. the server answered 413 and closed before the huge body was sent
                key = f"bad connection {type(err).__name__}"
            with lock:
                counts[key] += 1
                if key == "5xx":
                    counts[f"5xx from {name}"] += 1
        else:
            path, body = rng.choice(GOOD)
            mid = rng.random() < 0.5
            try:
                disconnect(port, path, _raw(body), mid_body=mid)
            except OSError:
                pass
            with lock:
                counts["disconnect mid-body" if mid else "disconnect before answer"] += 1


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--threads", type=int, default=1, help="torch threads in the server (default 1)")
    args = p.parse_args()
    port = free_port()
    proc = start_serve(["--log-level", "info"], port, threads=args.threads)
    try:
        rss_start = rss_mb(proc.pid)
        counts: collections.Counter = collections.Counter()
        latency: dict[str, list[float]] = {}
        lock = threading.Lock()
        deadline = time.monotonic() + args.seconds
        workers = [threading.Thread(target=client, args=(port, deadline, i, counts, latency, lock))
                   for i in range(args.clients)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        healthy = health(port)
        rss_end = rss_mb(proc.pid)
    finally:
        stop_serve(proc)
    log = server_log(proc)
    print(f"soak: {args.clients} clients x {args.seconds:.0f} s against seqdiff serve (bundled code + protein "
          f"models, torch threads {args.threads})")
    for key in sorted(counts):
        print(f"  {key:<40}{counts[key]:>7}")
    for path, times in sorted(latency.items()):
        times.sort()
        print(f"  latency {path:<24} p50 {times[len(times) // 2]:6.2f} s   max {times[-1]:6.2f} s")
    good_errors = sum(v for k, v in counts.items() if k.startswith("good error"))
    server_errors = sum(v for k, v in counts.items() if k == "5xx")
    print(f"good errors: {good_errors} (must be 0)   5xx: {server_errors} (must be 0)   /health at end: {healthy}")
    print(f"server RSS: {rss_start:.0f} MB at start, {rss_end:.0f} MB at end")
    print(f"server log: {len(log.splitlines())} lines, {log.count('Traceback')} tracebacks, "
          f"{log.count('disconnected')} disconnect lines ({proc.log_path})")
    return 0 if good_errors == 0 and server_errors == 0 and healthy == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
