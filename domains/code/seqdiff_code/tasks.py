"""Held-out infill tasks and their scoring (used by scripts/eval_code_infill.py and ``seqdiff bench``).

Procedure (``infill_tasks``), fully determined by ``seed`` and the corpus:
1. Files: the corpus' ``test`` split (content-hash rule in corpus.py), sorted by SHA-256, keeping those
   tree-sitter parses without errors and CPython compiles.
2. ``random.Random(seed)``; single-line tasks first, then multi-line, each drawn by: pick a file uniformly,
   pick a line uniformly; a single-line task takes that line, a multi-line task that line and the next
   1-5 (2-6 lines in all, count uniform). The middle is those whole lines, including indentation and the
   final newline; prefix = everything before, suffix = everything after.
3. Reject the draw when: the first line is blank or a comment, or (multi-line) more than half the lines are
   blank; the middle has over ``max_single`` (single, default 32) / ``max_multi`` (multi, default 64)
   tokens; the middle is the whole file (no context at all); or the (file, first line, kind) was drawn
   before. Draw until ``n_single`` / ``n_multi`` tasks.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import asdict, dataclass

from seqdiff_code.corpus import STDLIB, collect, split_files


@dataclass(frozen=True)
class InfillTask:
    kind: str  # "single" | "multi"
    file: str  # relative path in the corpus
    line: int  # 1-based first line of the middle
    n_lines: int
    prefix: str
    middle: str
    suffix: str

    def to_dict(self) -> dict:
        return asdict(self)


def infill_tasks(n_single: int = 200, n_multi: int = 200, seed: int = 0, paths=(STDLIB,), tokenizer=None,
                 max_single: int = 32, max_multi: int = 64, split: str = "test") -> list[InfillTask]:
    from seqdiff_code.syntax import compiles, is_valid
    from seqdiff_code.tokenizer import CodeTokenizer

    tokenizer = tokenizer or CodeTokenizer.bundled()
    files = sorted(split_files(collect(tuple(paths)), split), key=lambda f: f.sha256)
    files = [f for f in files if is_valid(f.text) and compiles(f.text)]
    if not files:
        raise ValueError(f"no parseable {split} files under {list(paths)}")
    rng = random.Random(seed)
    tasks: list[InfillTask] = []
    seen: set[tuple[str, int, str]] = set()
    for kind, count, limit in (("single", n_single, max_single), ("multi", n_multi, max_multi)):
        made, attempts = 0, 0
        while made < count:
            attempts += 1
            if attempts > 200 * max(1, count):
                raise ValueError(f"could only cut {made} of {count} {kind}-line tasks from {len(files)} files")
            f = files[rng.randrange(len(files))]
            lines = f.text.splitlines(keepends=True)
            first = rng.randrange(len(lines))
            n = 1 if kind == "single" else rng.randint(2, 6)
            if first + n > len(lines):
                continue
            chunk = lines[first:first + n]
            head = chunk[0].strip()
            if not head or head.startswith("#"):
                continue
            if kind == "multi" and sum(1 for c in chunk if not c.strip()) * 2 > n:
                continue
            key = (f.relpath, first, kind)
            if key in seen:
                continue
            middle = "".join(chunk)
            if len(tokenizer.encode(middle)) > limit or n == len(lines):  # the whole file: nothing around it
                continue
            seen.add(key)
            tasks.append(InfillTask(kind=kind, file=f.relpath, line=first + 1, n_lines=n,
                                    prefix="".join(lines[:first]), middle=middle, suffix="".join(lines[first + n:])))
            made += 1
    return tasks


def score_infills(tasks: list[InfillTask], results: list) -> dict:
    """Aggregate metrics for infill results (objects or dicts with text, valid, wall_s, nfe). ``compiles_rate``
    (CPython on the whole file) and ``non_empty_rate`` are what a user gets; ``syntax_valid_rate`` is the
    infiller's own verdict."""
    from seqdiff_code.syntax import compiles

    def get(r, k):
        return r[k] if isinstance(r, dict) else getattr(r, k)

    if len(tasks) != len(results):
        raise ValueError(f"{len(tasks)} tasks but {len(results)} results")
    n = max(1, len(tasks))
    texts = [get(r, "text") for r in results]
    return {
        "n": len(tasks),
        "syntax_valid_rate": sum(bool(get(r, "valid")) for r in results) / n,
        "compiles_rate": sum(compiles(t.prefix + x + t.suffix) for t, x in zip(tasks, texts)) / n,
        "exact_match": sum(x == t.middle for t, x in zip(tasks, texts)) / n,
        "exact_match_stripped": sum(x.strip() == t.middle.strip() for t, x in zip(tasks, texts)) / n,
        "non_empty_rate": sum(bool(x.strip()) for x in texts) / n,
        "median_wall_s": statistics.median(get(r, "wall_s") for r in results) if results else 0.0,
        "mean_nfe": sum(get(r, "nfe") for r in results) / n,
    }


def bench_canvases(tokenizer, length: int, n: int, seed: int = 0, context_length: int = 256,
                   split: str = "test", paths=(STDLIB,)) -> list[dict]:
    """``seqdiff bench`` canvases: ``n`` tasks of ``split`` (held-out ``test`` for the bench; ``seqdiff tune``
    draws ``train``) of the corpus ``paths``, half single-line, half multi-line, drawn as in ``infill_tasks``
    with ``seed``, whose middles fit ``length`` tokens, each laid out as the infiller does: cut prefix,
    ``length`` masks (the model pads the middle with ``<eos>``), cut suffix."""
    from seqdiff_code.infill import cut_context

    if not 1 <= length <= context_length - 8:
        raise ValueError(f"code bench length {length} must be in 1..{context_length - 8} (the canvas length)")
    n_single = n // 2
    tasks = infill_tasks(n_single, n - n_single, seed=seed, paths=tuple(paths), tokenizer=tokenizer,
                         max_single=min(32, length), max_multi=length, split=split)
    canvases = []
    for task in tasks:
        pre, suf = cut_context(tokenizer, task.prefix, task.suffix, context_length - length)
        canvases.append({"tokens": pre + [tokenizer.mask_id] * length + suf,
                         "editable": [False] * len(pre) + [True] * length + [False] * len(suf),
                         "task": task, "span": (len(pre), len(pre) + length)})
    return canvases


def tune_canvases(tokenizer, length: int, n: int, seed: int = 0, paths=(STDLIB,)) -> list[dict]:
    """``seqdiff tune``'s ``rollout.canvas_options`` (``{paths: [stdlib, packages]}``): ``bench_canvases``
    cut from the ``train`` split of those corpora, never the held-out one."""
    if isinstance(paths, str) or not paths:
        raise ValueError(f"paths={paths!r} must be a non-empty list of corpus sources, e.g. [stdlib, packages]")
    return bench_canvases(tokenizer, length, n, seed, split="train", paths=tuple(paths))


def bench_scores(tokenizer, canvases: list[dict], outputs: list[list[int]]) -> dict:
    """``syntax_valid_rate`` (tree-sitter, full file) and ``exact_match`` of the decoded middles."""
    from seqdiff_code.syntax import infill_errors

    valid = exact = 0
    for canvas, out in zip(canvases, outputs):
        task = canvas["task"]
        middle = tokenizer.decode(out[canvas["span"][0]: canvas["span"][1]])
        valid += not infill_errors(task.prefix, middle, task.suffix)
        exact += middle == task.middle
    n = max(1, len(canvases))
    return {"syntax_valid_rate": round(valid / n, 4), "exact_match": round(exact / n, 4)}
