"""How the infill judge reads an editor's window, against CPython on the whole file (not a test).

Held-out single-line gaps (``seqdiff_code.tasks.infill_tasks``, the corpus' test split) in llama.vim's
window: 256 lines before the cursor's empty line, 64 after. Two failure rates, both judged by CPython
compiling the whole file:

* true line rejected: the judge blames the line that was there. An infiller then spends its whole
  time budget looking for another line and answers with whatever it has.
* false acceptance: another gap's line (``--others`` per gap) the judge calls valid but the file rejects.

    python scripts/eval_window_judge.py --paths stdlib packages --n 300 --seed 1
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_code_infill import llama_vim_body  # noqa: E402


def evaluate(paths: list[str], n: int, seed: int, others: int) -> dict:
    from seqdiff_code.syntax import MiddleJudge, _python_error
    from seqdiff_code.tasks import infill_tasks
    from seqdiff_code.tokenizer import CodeTokenizer

    tasks = [t for t in infill_tasks(n, 0, seed=seed, tokenizer=CodeTokenizer.bundled(), paths=paths)
             if t.kind == "single"][:n]
    rng = random.Random(seed)
    rejected, accepted_wrongly, tried, start = [], [], 0, time.perf_counter()
    for i, task in enumerate(tasks):
        body = llama_vim_body(task)
        judge = MiddleJudge(body["input_prefix"], body["input_suffix"])
        truth = task.middle.rstrip("\n")
        if errors := judge.errors(truth):
            rejected.append((i, errors[0].kind))
        for _ in range(others):
            other = rng.choice(tasks).middle.rstrip("\n")
            if other.strip() == truth.strip():
                continue
            tried += 1
            if not judge.errors(other) and (err := _python_error(task.prefix + other + "\n" + task.suffix)):
                accepted_wrongly.append((i, other.strip()[:40], err.msg))
    return {"n": len(tasks), "rejected": rejected, "others": tried, "accepted_wrongly": accepted_wrongly,
            "ms_per_gap": 1000 * (time.perf_counter() - start) / max(1, len(tasks))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--paths", nargs="+", default=["stdlib"], help="corpora, each judged on its own")
    p.add_argument("--n", type=int, default=300, help="gaps per corpus")
    p.add_argument("--seed", type=int, default=1, help="task-cutting seed")
    p.add_argument("--others", type=int, default=4, help="other gaps' lines tried in each window")
    p.add_argument("--verbose", action="store_true", help="list every miss")
    args = p.parse_args(argv)
    for path in args.paths:
        r = evaluate([path], args.n, args.seed, args.others)
        rejected = len(r["rejected"])
        print(f"{path}: {r['n']} windows, true line rejected {rejected} ({rejected / max(1, r['n']):.3f}), "
              f"other lines judged valid that the file rejects {len(r['accepted_wrongly'])} of {r['others']}, "
              f"{r['ms_per_gap']:.0f} ms a window")
        if args.verbose:
            for miss in r["rejected"] + r["accepted_wrongly"]:
                print("  ", miss)
    return 0


if __name__ == "__main__":
    sys.exit(main())
