"""Held-out before/after eval of code models for reward fine-tuning, large enough to be out of the noise.

Tasks: ``seqdiff_code.tasks.infill_tasks`` on this interpreter's stdlib ``test`` split (files no training
run and no ``rollout.canvases: train`` tune saw), ``--n-single`` single lines and ``--n-multi`` runs of 2-6
lines for each task-cutting seed in ``--seeds``; a (file, line, kind) drawn by two seeds is kept once.
Each task is filled through ``CodeInfiller.infill_many`` with the infiller's defaults (64 tokens, 4
candidates, greedy), constrained (syntax-guided remasking and candidate choice) and ``constrained=False``
("free": the model's own output, which a reward moves).

Columns: CPython compiles ``prefix + middle + suffix``; the middle is not blank; it holds code (not
blank and not only a comment: ``syntax.holds_code``; a tune on "not blank" learnt to answer ``#``);
``useful`` (it compiles and holds code: an empty line or a comment always compiles); exact line match
(each line whitespace-trimmed, as ``eval_code_infill.py``);
mean content tokens (tokens of the whitespace-stripped middle). Rates carry a binomial standard error
sqrt(p(1-p)/n); a comparison row gives the paired difference to the first model with the standard error
of the per-task differences (the same tasks, so this is the honest noise of a before/after).

    nice -n 19 python scripts/eval_code_tune.py --out runs/tune/code-eval \\
        --model untuned=domains/code/seqdiff_code/models/code-small --model tuned=runs/tune/code-useful/model

``--model name=code`` is the bundled model, which is already tuned (``models/code-small-tuned``).

Per-model results are cached per task as ``<out>/<name>.json`` (delete one to re-run that model);
``<out>/table.json`` holds the summary."""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

import torch

from eval_code_infill import lines_match  # noqa: E402  (scripts/, beside this file)
from seqdiff.io import atomic_write_text
from seqdiff.plugins import model_folder
from seqdiff_code.infill import CodeInfiller, InfillRequest
from seqdiff_code.syntax import compiles, holds_code
from seqdiff_code.tasks import infill_tasks
from seqdiff_code.tokenizer import CodeTokenizer

RATES = ("cpython_ok", "non_empty", "code", "useful", "exact_line")
MODES = {"constrained": True, "free": False}


def held_out_tasks(seeds: list[int], n_single: int, n_multi: int) -> list:
    """The union of each seed's tasks, first occurrence kept."""
    tokenizer, seen, tasks = CodeTokenizer.bundled(), set(), []
    for seed in seeds:
        for task in infill_tasks(n_single, n_multi, seed=seed, tokenizer=tokenizer):
            key = (task.file, task.line, task.kind)
            if key not in seen:
                seen.add(key)
                tasks.append(task)
    return tasks


def per_task(infiller: CodeInfiller, tasks: list, constrained: bool, batch: int) -> list[dict]:
    """One record per task: the middle and its 0/1 figures."""
    tok, records = infiller.tokenizer, []
    for start in range(0, len(tasks), batch):
        chunk = tasks[start:start + batch]
        results = infiller.infill_many([InfillRequest(prefix=t.prefix, suffix=t.suffix, constrained=constrained)
                                        for t in chunk])
        records += [figures(t, r.text, tok) for t, r in zip(chunk, results)]
    return records


def figures(task, text: str, tok) -> dict:
    """A task's record: the middle and its 0/1 figures (recomputed from the text when read from a cache,
    so every model's records follow the same definitions)."""
    ok, blank = compiles(task.prefix + text + task.suffix), not text.strip()
    return {"kind": task.kind, "text": text, "cpython_ok": int(ok), "non_empty": int(not blank),
            "code": int(holds_code(text)), "useful": int(ok and holds_code(text)),
            "exact_line": int(lines_match(text, task.middle)),
            "content_tokens": 0 if blank or tok is None else len(tok.encode(text.strip()))}


def summary(records: list[dict]) -> dict:
    """Rates with their binomial standard error, and mean content tokens."""
    n = len(records)
    out: dict = {"n": n}
    for key in RATES:
        p = sum(r[key] for r in records) / max(1, n)
        out[key], out[key + "_se"] = p, math.sqrt(p * (1 - p) / max(1, n))
    out["content_tokens"] = statistics.fmean(r["content_tokens"] for r in records) if records else 0.0
    return out


def paired(before: list[dict], after: list[dict]) -> dict:
    """Mean per-task difference (after - before) of each figure and its standard error."""
    out: dict = {}
    for key in (*RATES, "content_tokens"):
        diffs = [a[key] - b[key] for a, b in zip(after, before)]
        out[key] = statistics.fmean(diffs)
        out[key + "_se"] = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else float("nan")
    return out


def task_key(task) -> str:
    return f"{task.file}:{task.line}:{task.kind}"


def evaluate(name: str, path: str, tasks: list, out: Path, batch: int) -> dict:
    """``{mode: records in task order}`` for one model. Records are cached per task in ``<out>/<name>.json``,
    so a longer task list decodes only the tasks it adds."""
    out.mkdir(parents=True, exist_ok=True)
    cache = out / f"{name}.json"
    done = json.loads(cache.read_text())["records"] if cache.exists() else {mode: {} for mode in MODES}
    missing = [t for t in tasks if any(task_key(t) not in done[mode] for mode in MODES)]
    if missing:
        infiller = CodeInfiller.from_pretrained(model_folder(path))
        for mode, flag in MODES.items():
            done[mode].update(zip(map(task_key, missing), per_task(infiller, missing, flag, batch)))
        atomic_write_text(cache, json.dumps({"model": str(path), "records": done}, indent=0))
    return {mode: [refigured(t, done[mode][task_key(t)]) for t in tasks] for mode in MODES}


def refigured(task, record: dict) -> dict:
    """A cached record under this script's definitions (its content-token count kept: the model's tokenizer
    counted it)."""
    return {**figures(task, record["text"], None), "content_tokens": record["content_tokens"]}


def show(name: str, mode: str, s: dict, diff: dict | None) -> str:
    cells = " ".join(f"{k} {s[k]:.3f}±{s[k + '_se']:.3f}" for k in RATES)
    line = f"{name:<10} {mode:<11} n {s['n']:>3} {cells} content {s['content_tokens']:.2f}"
    if diff:
        line += "\n" + " " * 23 + "paired diff: " + " ".join(
            f"{k} {diff[k]:+.3f}±{diff[k + '_se']:.3f}" for k in (*RATES, "content_tokens"))
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/tune/code-eval")
    parser.add_argument("--model", action="append", required=True,
                        help="name=folder (or name=code for the bundled model); the first is the baseline")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="task-cutting seeds")
    parser.add_argument("--n-single", type=int, default=30, help="single-line tasks per seed")
    parser.add_argument("--n-multi", type=int, default=20, help="multi-line tasks per seed")
    parser.add_argument("--batch", type=int, default=8, help="requests decoded together")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tasks = held_out_tasks([int(s) for s in args.seeds.split(",")], args.n_single, args.n_multi)
    models = [m.split("=", 1) for m in args.model]
    results = {name: evaluate(name, path, tasks, out, args.batch) for name, path in models}
    report(models, results, out, {"seeds": args.seeds, "n_tasks": len(tasks)})


def report(models: list[list[str]], results: dict, out: Path, extra: dict) -> None:
    """Print the table (paired differences against the first model) and write ``<out>/table.json``."""
    base = models[0][0]
    table = []
    for mode in MODES:
        for name, _ in models:
            s = summary(results[name][mode])
            diff = paired(results[base][mode], results[name][mode]) if name != base else None
            table.append({"model": name, "decoding": mode, **s, "paired_diff": diff,
                          "by_kind": {k: summary([r for r in results[name][mode] if r["kind"] == k])
                                      for k in ("single", "multi")}})
            print(show(name, mode, s, diff), flush=True)
    atomic_write_text(out / "table.json", json.dumps({**extra, "models": dict(models), "rows": table}, indent=1))


if __name__ == "__main__":
    main()
