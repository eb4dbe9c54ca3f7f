#!/usr/bin/env python
"""Load test for ``seqdiff serve``: N concurrent clients (default 32) send llama.vim-style ``/infill``
requests for a fixed time (default 60 s) to a server this script starts on 127.0.0.1, once with request
batching and once without (``--max-batch 1``). Prints errors, p50/p99 latency and throughput for each.

    python scripts/load_test.py                                # fake backend (simulated step costs)
    python scripts/load_test.py --backend code --model runs/code-small/export
    python scripts/load_test.py --backend code --random-model  # real CodeInfiller, tiny random weights

Each client loops request after request until the time is up (no request starts after the deadline; every
request has a timeout), so the run always ends by itself. The server runs in its own process so the clients
do not share its interpreter.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from serve_process import server_log, start_serve, stop_serve  # noqa: E402  (scripts/, beside this file)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def random_code_model(directory: str, d_model: int, n_layers: int) -> str:
    """A code model folder with random weights: the real CodeInfiller pipeline (tokenizer, batched denoising,
    tree-sitter checks and remasking) at the cost of a small model, without training one."""
    import torch
    from seqdiff_code.tokenizer import CodeTokenizer

    from seqdiff.checkpoint import Pretrained, save_pretrained
    from seqdiff.model import Denoiser, DenoiserConfig

    tok = CodeTokenizer.bundled()
    torch.manual_seed(0)
    model = Denoiser(DenoiserConfig(vocab_size=tok.vocab_size, pad_id=tok.pad_id, mask_id=tok.mask_id,
                                    d_model=d_model, n_layers=n_layers, n_heads=max(1, d_model // 64),
                                    token_dropout=False))
    return str(save_pretrained(Pretrained(model=model, tokenizer=tok, domain="code",
                                          meta={"note": "random weights, load testing only"}), directory))


def start_server(args, max_batch: int, model: str | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    options = ["--domain", "code", "--backend", args.backend, "--max-batch", str(max_batch),
               "--max-queue", str(4 * args.clients), "--log-level", "warning"]
    if args.backend == "fake":
        options += ["--fake-steps", str(args.fake_steps), "--fake-step-ms", str(args.fake_step_ms),
                    "--fake-row-ms", str(args.fake_row_ms)]
    else:
        options += ["--candidates", str(args.candidates), "--device", args.device] + (["--model", model] if model else [])
    return start_serve(options, port, threads=args.threads), f"http://127.0.0.1:{port}"


def payload(client: int, i: int, n_predict: int) -> dict:
    """What llama.vim sends on a FIM request (anchors-ecosystem §1.2), with varying code."""
    prefix = "".join(f"def helper_{k}(x):\n    return x * {k}\n\n" for k in range(i % 5))
    return {"id_slot": 0, "input_prefix": prefix + f"def compute_{client}(values):\n    total = 0\n",
            "input_suffix": "\n    return total\n",
            "input_extra": [{"text": "import math\n", "time": [0, 0], "filename": "util.py"}],
            "prompt": "    for v in values:\n        ", "n_predict": n_predict, "stop": [], "n_indent": 4,
            "top_k": 40, "top_p": 0.90, "samplers": ["top_k", "top_p", "infill"], "stream": False,
            "cache_prompt": True, "t_max_prompt_ms": 500, "t_max_predict_ms": 1000,
            "response_fields": ["content", "timings/predicted_n", "timings/predicted_ms", "truncated"]}


async def run_clients(url: str, clients: int, duration: float, n_predict: int, timeout: float) -> dict:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.monotonic() + duration

    async def client(c: int, http: httpx.AsyncClient) -> None:
        i = 0
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                r = await http.post("/infill", json=payload(c, i, n_predict))
                ok = r.status_code == 200 and isinstance(r.json().get("content"), str)
                key = None if ok else f"HTTP {r.status_code}: {r.text[:120]}"
            except Exception as err:  # count every failure, keep going
                key = f"{type(err).__name__}: {err}"[:160]
            if key is None:
                latencies.append(time.perf_counter() - start)
            else:
                errors[key] = errors.get(key, 0) + 1
            i += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as http:
        await asyncio.gather(*[client(c, http) for c in range(clients)])
        stats = (await http.get("/stats")).json()
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")

    return {"requests": len(latencies), "errors": sum(errors.values()), "error_kinds": errors,
            "p50_ms": round(pct(0.50), 1), "p99_ms": round(pct(0.99), 1),
            "throughput_rps": round(len(latencies) / elapsed, 2), "elapsed_s": round(elapsed, 1),
            "mean_requests_per_batch": stats.get("mean_requests_per_batch"), "max_rows": stats.get("max_rows")}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=60.0, help="seconds per run (default 60)")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    p.add_argument("--backend", choices=("fake", "code"), default="fake")
    p.add_argument("--model", default=None, help="code model folder (--backend code)")
    p.add_argument("--random-model", action="store_true", help="--backend code with a tiny random-weights model")
    p.add_argument("--d-model", type=int, default=128, help="--random-model width (default 128)")
    p.add_argument("--n-layers", type=int, default=2, help="--random-model depth (default 2)")
    p.add_argument("--candidates", type=int, default=1, help="code backend canvases per completion (default 1)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch threads in the server")
    p.add_argument("--n-predict", type=int, default=16, help="n_predict of each request (default 16)")
    p.add_argument("--max-batch", type=int, default=32, help="rows per batch in the batched run (default 32)")
    p.add_argument("--only", choices=("batched", "unbatched"), default=None, help="run one configuration")
    p.add_argument("--timeout", type=float, default=120.0, help="per-request timeout (default 120 s)")
    p.add_argument("--fake-steps", type=int, default=16)
    p.add_argument("--fake-step-ms", type=float, default=4.0, help="fake: cost per step, shared by the batch")
    p.add_argument("--fake-row-ms", type=float, default=0.25, help="fake: extra cost per step per row")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args()
    if args.duration <= 0 or args.clients < 1:
        p.error("--duration must be > 0 and --clients >= 1")
    if args.backend == "fake" and (args.model or args.random_model):
        p.error("--model/--random-model need --backend code")

    model = args.model
    tmp = None
    if args.backend == "code" and args.random_model:
        tmp = tempfile.TemporaryDirectory()
        model = random_code_model(tmp.name, args.d_model, args.n_layers)
    if args.backend == "code" and model is None:
        print("using the bundled code model (pass --model or --random-model otherwise)")

    runs = [("batched", args.max_batch), ("unbatched", 1)]
    if args.only:
        runs = [r for r in runs if r[0] == args.only]
    backend = args.backend if args.backend == "fake" else f"code ({'random ' + str(args.d_model) + 'x' + str(args.n_layers) if args.random_model else model or 'bundled'})"
    print(f"backend: {backend}; {args.clients} clients x {args.duration:g} s against /infill, "
          f"n_predict {args.n_predict}, cpus {os.cpu_count()}")
    results = {}
    try:
        for name, max_batch in runs:
            proc, url = start_server(args, max_batch, model)
            try:
                res = asyncio.run(run_clients(url, args.clients, args.duration, args.n_predict, args.timeout))
            finally:
                stop_serve(proc)
                log = server_log(proc)
                os.unlink(proc.log_path)  # type: ignore[attr-defined]
            warnings = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
            res["server_warnings"] = warnings[:20]
            res["max_batch"] = max_batch
            results[name] = res
            print(f"{name:>9} (max-batch {max_batch:>2}): {res['requests']:>6} ok, {res['errors']} errors, "
                  f"p50 {res['p50_ms']:>8.1f} ms, p99 {res['p99_ms']:>8.1f} ms, "
                  f"{res['throughput_rps']:>7.2f} req/s, {res['mean_requests_per_batch']} requests/batch")
            for kind, count in res["error_kinds"].items():
                print(f"           {count} x {kind}")
            for line in res["server_warnings"]:
                print(f"           server: {line}")
    finally:
        if tmp is not None:
            tmp.cleanup()
    if len(results) == 2 and results["unbatched"]["throughput_rps"] > 0:
        ratio = results["batched"]["throughput_rps"] / results["unbatched"]["throughput_rps"]
        print(f"batching: {ratio:.2f}x the throughput of --max-batch 1")
        results["speedup"] = round(ratio, 2)
    results["backend"] = backend
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 1 if any(r["errors"] for r in results.values() if isinstance(r, dict)) else 0


if __name__ == "__main__":
    sys.exit(main())
