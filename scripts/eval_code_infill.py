"""Evaluate code infilling on held-out files, through the Python API and through ``/infill`` as an editor.

Tasks: ``seqdiff_code.tasks.infill_tasks`` (documented there): whole-line middles cut from the corpus'
``test`` split (content-hash rule, files no training run saw), ``--n-single`` single lines and ``--n-multi``
runs of 2-6 lines, drawn with ``random.Random(--seed)``.

Scored on what a user gets, never on the infiller's own verdict: CPython accepts ``prefix + middle +
suffix`` (``compile``, nothing runs), the middle is not empty/whitespace, it holds code (``code``: not
blank and not only a comment, ``syntax.holds_code``), compiles and holds code (``useful``: an empty line or
a comment always compiles, so ``cpython`` alone rewards saying nothing), exact line match (each line
whitespace-trimmed), truncated by the budget, latency p50/p90, and (API mode) the median number of model
calls, which unlike latency does not move with the machine's load.

* ``api``: ``CodeInfiller.infill(prefix, suffix, max_tokens=--n-predict, time_budget_s=--budget-ms)``, the
  gap being the removed lines (``--window``: in llama.vim's window and framing, as ``infill`` below).
* ``infill``: the current server (``python -m seqdiff.cli serve`` from this tree, started here, one per
  thread count) with llama.vim's own default request body (autoload/llama.vim ``llama#fim``): the cursor
  on an empty line where the removed line was, so ``input_prefix`` = up to 256 lines before plus "\\n",
  ``prompt`` = "", ``input_suffix`` = "\\n" + up to 64 lines after + "\\n", ``n_predict`` 128, ``n_indent``
  0 (a blank line), ``top_k`` 40, ``top_p`` 0.90, ``samplers`` ["top_k","top_p","infill"], ``stream``
  false, ``cache_prompt`` true, ``t_max_prompt_ms`` 500, ``t_max_predict_ms`` 1000 (llama.vim sends 250
  on its first request of a position), and its ``response_fields``. One request at a time, wall time
  measured at the client. CPython judges the whole file with the returned middle on that line.

    python scripts/eval_code_infill.py --limit 30 --modes api,infill --threads 1,2
    python scripts/eval_code_infill.py --json out.json     # 100 + 50 tasks, API only
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path

from serve_process import start_serve, stop_serve  # noqa: E402  (scripts/, beside this file)
RESPONSE_FIELDS = ["content", "timings/prompt_n", "timings/prompt_ms", "timings/prompt_per_token_ms",
                   "timings/prompt_per_second", "timings/predicted_n", "timings/predicted_ms",
                   "timings/predicted_per_token_ms", "timings/predicted_per_second", "truncated", "tokens_cached"]


def llama_vim_body(task, n_predict: int = 128, t_max_predict_ms: int = 1000) -> dict:
    """llama.vim's request for the cursor on an empty line standing where the task's first line was."""
    before = task.prefix.split("\n")[:-1][-256:]
    after = task.suffix.split("\n")
    after = after[:-1] if after and after[-1] == "" else after
    return {"id_slot": 0, "input_prefix": "\n".join(before) + "\n", "input_suffix": "\n" + "\n".join(after[:64]) + "\n",
            "input_extra": [], "prompt": "", "n_predict": n_predict, "stop": [], "n_indent": 0, "top_k": 40,
            "top_p": 0.90, "samplers": ["top_k", "top_p", "infill"], "stream": False, "cache_prompt": True,
            "t_max_prompt_ms": 500, "t_max_predict_ms": t_max_predict_ms, "response_fields": RESPONSE_FIELDS}


def lines_match(got: str, want: str) -> bool:
    a = [line.strip() for line in got.strip("\n").split("\n")]
    b = [line.strip() for line in want.strip("\n").split("\n")]
    return a == b


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else float("nan")


def summarise(rows: list[dict]) -> dict:
    from seqdiff_code.syntax import compiles, holds_code

    n = max(1, len(rows))
    lat = [r["latency_s"] for r in rows]
    return {"n": len(rows),
            "cpython_ok": sum(compiles(r["prefix"] + r["text"] + r["suffix"]) for r in rows) / n,
            "non_empty": sum(bool(r["text"].strip()) for r in rows) / n,
            "code": sum(holds_code(r["text"]) for r in rows) / n,
            # an empty line or a comment is always valid Python: only code that compiles is a useful answer
            "useful": sum(holds_code(r["text"]) and compiles(r["prefix"] + r["text"] + r["suffix"]) for r in rows) / n,
            "exact_line": sum(lines_match(r["text"], r["middle"]) for r in rows) / n,
            "truncated": sum(bool(r["truncated"]) for r in rows) / n,
            "p50_ms": 1000 * percentile(lat, 0.5), "p90_ms": 1000 * percentile(lat, 0.9),
            # model calls (API mode only): the cost that does not move with the machine's load
            "nfe_p50": percentile(nfe, 0.5) if (nfe := [r["nfe"] for r in rows if "nfe" in r]) else float("nan")}


def decoding_of(settings: list[str]):
    """``InfillDecoding`` with ``--decoding name=value`` overrides (values parsed as Python literals)."""
    import ast
    import dataclasses

    from seqdiff_code.decoding import InfillDecoding

    fields = {f.name for f in dataclasses.fields(InfillDecoding)}
    changes = {}
    for item in settings:
        name, sep, value = item.partition("=")
        if not sep or name not in fields:
            raise SystemExit(f"--decoding {item!r}: give name=value with a name among {', '.join(sorted(fields))}")
        changes[name] = ast.literal_eval(value)
    return InfillDecoding(**changes)


def run_api(tasks, args) -> list[dict]:
    from seqdiff_code.infill import CodeInfiller

    infiller = CodeInfiller.from_pretrained(args.model, device=args.device, dtype=args.dtype,
                                            decoding=decoding_of(args.decoding))
    infiller.infill("x = 1\n", "", max_tokens=4, candidates=1)  # warm-up (allocations, grammar load)
    rows = []
    for task in tasks:
        if args.window:  # llama.vim's window and framing, scored on the whole file as in ``run_infill``
            body = llama_vim_body(task)
            prefix, suffix, scored = body["input_prefix"], body["input_suffix"], "\n" + task.suffix
        else:
            prefix, suffix, scored = task.prefix, task.suffix, task.suffix
        start = time.perf_counter()
        res = infiller.infill(prefix, suffix, max_tokens=args.n_predict, candidates=args.candidates,
                              time_budget_s=args.budget_ms / 1000 if args.budget_ms else None)
        rows.append({"kind": task.kind, "prefix": task.prefix, "suffix": scored,
                     "middle": task.middle.rstrip("\n") if args.window else task.middle,
                     "text": res.text, "truncated": res.truncated, "latency_s": time.perf_counter() - start,
                     "nfe": res.nfe, "valid": res.valid})
    return rows


def post(url: str, body: dict, timeout: float = 60.0) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def run_infill(tasks, args, threads: int) -> list[dict]:
    options = ["--domain", "code", "--candidates", str(args.candidates), "--dtype", args.dtype]
    options += ["--model", args.model] if args.model else []
    proc = start_serve(options, args.port, threads=threads)
    url = f"http://127.0.0.1:{args.port}/infill"
    try:
        post(url, llama_vim_body(tasks[0], t_max_predict_ms=args.budget_ms))  # warm-up
        rows = []
        for task in tasks:
            body = llama_vim_body(task, args.n_predict, args.budget_ms)
            start = time.perf_counter()
            out = post(url, body)
            # scored on the whole file: the middle fills the empty line (its newline is the suffix's first)
            rows.append({"kind": task.kind, "prefix": task.prefix, "suffix": "\n" + task.suffix,
                         "middle": task.middle.rstrip("\n"), "text": out["content"],
                         "truncated": out.get("truncated", False), "latency_s": time.perf_counter() - start})
        return rows
    finally:
        stop_serve(proc)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="model folder (default: bundled code model)")
    p.add_argument("--paths", nargs="*", default=["stdlib"], help="corpus sources (default: this stdlib)")
    p.add_argument("--n-single", type=int, default=100)
    p.add_argument("--n-multi", type=int, default=50)
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N tasks of each kind")
    p.add_argument("--seed", type=int, default=0, help="task-cutting seed")
    p.add_argument("--candidates", type=int, default=4, help="candidates per infill (server: --candidates)")
    p.add_argument("--n-predict", type=int, default=128, help="most middle tokens (llama.vim: 128)")
    p.add_argument("--budget-ms", type=int, default=1000, help="time budget per infill (llama.vim: 1000); 0 = none")
    p.add_argument("--modes", default="api", help="comma list of api, infill")
    p.add_argument("--threads", default="1", help="comma list of torch thread counts")
    p.add_argument("--port", type=int, default=8093)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="auto", help="weights' dtype, API and server alike (seqdiff.precision; "
                                                   "default auto, as seqdiff serve)")
    p.add_argument("--decoding", action="append", default=[], metavar="NAME=VALUE",
                   help="API mode: an InfillDecoding setting, e.g. context_tokens=224 (repeatable)")
    p.add_argument("--window", action="store_true",
                   help="API mode: llama.vim's window (256 lines before, 64 after, the cursor on an empty line) "
                        "instead of the whole file")
    p.add_argument("--json", default=None, help="also write the summary and every result to this file")
    args = p.parse_args(argv)

    import torch

    from seqdiff_code.tasks import infill_tasks
    from seqdiff_code.tokenizer import CodeTokenizer

    tasks = infill_tasks(args.n_single, args.n_multi, seed=args.seed, paths=args.paths,
                         tokenizer=CodeTokenizer.bundled())
    if args.limit is not None:
        tasks = [t for t in tasks if t.kind == "single"][: args.limit] + \
                [t for t in tasks if t.kind == "multi"][: args.limit]
    report, results = {}, {}
    for threads in [int(t) for t in args.threads.split(",")]:
        for mode in args.modes.split(","):
            if mode == "api":
                torch.set_num_threads(threads)
                rows = run_api(tasks, args)
            elif mode == "infill":
                rows = run_infill(tasks, args, threads)
            else:
                raise SystemExit(f"--modes: unknown mode {mode!r} (api, infill)")
            key = f"{mode}/threads={threads}"
            results[key] = rows
            report[key] = {kind: summarise([r for r in rows if kind == "all" or r["kind"] == kind])
                           for kind in ("single", "multi", "all") if any(kind == "all" or r["kind"] == kind for r in rows)}
            print(f"{key}: candidates {args.candidates}, n_predict {args.n_predict}, budget {args.budget_ms} ms",
                  flush=True)
            print(f"  {'kind':7} {'n':>4} {'cpython':>8} {'nonempty':>9} {'code':>6} {'useful':>7} {'exact':>7} {'trunc':>6} {'p50_ms':>8} {'p90_ms':>8} {'nfe_p50':>8}")
            for kind, s in report[key].items():
                print(f"  {kind:7} {s['n']:>4} {s['cpython_ok']:>8.3f} {s['non_empty']:>9.3f} {s['code']:>6.3f} {s['useful']:>7.3f} {s['exact_line']:>7.3f} "
                      f"{s['truncated']:>6.2f} {s['p50_ms']:>8.0f} {s['p90_ms']:>8.0f} {s['nfe_p50']:>8.0f}", flush=True)
    if args.json:
        from seqdiff.io import atomic_write_text

        atomic_write_text(Path(args.json), json.dumps({"summary": report, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
