"""Evaluate syntax-constrained code infilling on held-out standard-library files.

Tasks: ``seqdiff_code.tasks.infill_tasks`` (documented there): from the corpus' test split (content-hash
rule), ``--n-single`` single-line and ``--n-multi`` multi-line (2-6 lines) whole-line middles, drawn with
``random.Random(--seed)``. Each task is infilled twice with the same candidates and seeds: constrained
(validator-guided remasking, best valid candidate) and unconstrained (best by model score). Reported per
kind and overall: tree-sitter syntax-valid rate, CPython-compiles rate, exact match, median seconds per
infill, mean NFE, and the constraint overhead (median constrained time / median unconstrained time).

    python scripts/eval_code_infill.py                       # bundled model, 200 + 200 tasks, CPU
    python scripts/eval_code_infill.py --limit 20 --json out.json
    python scripts/eval_code_infill.py --paths runs/corpus-stdlib-py311 --device cuda
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="model folder (default: bundled code model)")
    p.add_argument("--paths", nargs="*", default=["stdlib"], help="corpus sources (default: this stdlib)")
    p.add_argument("--n-single", type=int, default=200)
    p.add_argument("--n-multi", type=int, default=200)
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N tasks of each kind")
    p.add_argument("--seed", type=int, default=0, help="task-cutting seed (decoding uses seed 0 per task)")
    p.add_argument("--candidates", type=int, default=4)
    p.add_argument("--max-tokens-single", type=int, default=32)
    p.add_argument("--max-tokens-multi", type=int, default=64)
    p.add_argument("--remask-rounds", type=int, default=4)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None, help="also write results (summary + per task) to this file")
    args = p.parse_args(argv)

    import torch

    from seqdiff_code.infill import CodeInfiller
    from seqdiff_code.tasks import infill_tasks, score_infills

    if args.threads:
        torch.set_num_threads(args.threads)
    infiller = CodeInfiller.from_pretrained(args.model, device=args.device, steps=args.steps,
                                            max_remask_rounds=args.remask_rounds)
    tasks = infill_tasks(args.n_single, args.n_multi, seed=args.seed, paths=args.paths,
                         tokenizer=infiller.tokenizer)
    if args.limit is not None:
        tasks = [t for t in tasks if t.kind == "single"][: args.limit] + \
                [t for t in tasks if t.kind == "multi"][: args.limit]
    infiller.infill("x = 1\n", "", max_tokens=4, candidates=1)  # warm-up (allocations, grammar load)
    rows = []
    started = time.time()
    for i, task in enumerate(tasks):
        max_tokens = args.max_tokens_single if task.kind == "single" else args.max_tokens_multi
        pair = {}
        for constrained in (False, True):
            pair[constrained] = infiller.infill(task.prefix, task.suffix, max_tokens=max_tokens,
                                                candidates=args.candidates, seed=0, constrained=constrained)
        rows.append((task, pair[True], pair[False]))
        if (i + 1) % 20 == 0:
            print(f"  {i + 1}/{len(tasks)} tasks, {time.time() - started:.0f}s", file=sys.stderr)

    summary = {"model": str(infiller.pretrained.path), "device": args.device,
               "threads": torch.get_num_threads(), "candidates": args.candidates,
               "max_tokens": {"single": args.max_tokens_single, "multi": args.max_tokens_multi},
               "remask_rounds": args.remask_rounds, "seed": args.seed, "kinds": {}}
    for kind in ("single", "multi", "all"):
        chosen = [r for r in rows if kind == "all" or r[0].kind == kind]
        if not chosen:
            continue
        ts = [r[0] for r in chosen]
        con = score_infills(ts, [r[1] for r in chosen])
        unc = score_infills(ts, [r[2] for r in chosen])
        ratios = [r[1].wall_s / r[2].wall_s for r in chosen if r[2].wall_s > 0]
        summary["kinds"][kind] = {
            "n": len(chosen), "constrained": con, "unconstrained": unc,
            "overhead_median_time_ratio": con["median_wall_s"] / unc["median_wall_s"] if unc["median_wall_s"] else None,
            "overhead_median_per_task_ratio": statistics.median(ratios) if ratios else None,
            "mean_remask_rounds": sum(r[1].remask_rounds for r in chosen) / len(chosen)}

    print(f"model {summary['model']} on {args.device} ({summary['threads']} threads), "
          f"{args.candidates} candidates, seed {args.seed}")
    print(f"{'kind':7} {'n':>4} {'valid(c)':>9} {'valid(u)':>9} {'compile(c)':>10} {'compile(u)':>10} "
          f"{'exact(c)':>9} {'exact(u)':>9} {'med_s(c)':>9} {'med_s(u)':>9} {'overhead':>9} {'nfe(c)':>7} {'nfe(u)':>7}")
    for kind, s in summary["kinds"].items():
        c, u = s["constrained"], s["unconstrained"]
        print(f"{kind:7} {s['n']:>4} {c['syntax_valid_rate']:>9.3f} {u['syntax_valid_rate']:>9.3f} "
              f"{c['compiles_rate']:>10.3f} {u['compiles_rate']:>10.3f} {c['exact_match']:>9.3f} "
              f"{u['exact_match']:>9.3f} {c['median_wall_s']:>9.3f} {u['median_wall_s']:>9.3f} "
              f"{s['overhead_median_time_ratio'] or float('nan'):>8.2f}x {c['mean_nfe']:>7.1f} {u['mean_nfe']:>7.1f}")
    if args.json:
        from pathlib import Path

        from seqdiff.io import atomic_write_text

        per_task = [{**t.to_dict(), "constrained": c.to_dict(), "unconstrained": u.to_dict()} for t, c, u in rows]
        atomic_write_text(Path(args.json), json.dumps({"summary": summary, "tasks": per_task}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
