"""Reward fine-tuning of the bundled code model toward infills CPython parses (``configs/tune-code-parse.yaml``:
rollouts on tasks cut from the corpus' train split), then a before/after table on held-out infills.

Held-out tasks: ``seqdiff_code.tasks.infill_tasks`` on this interpreter's stdlib ``test`` split (files no
training run and no tune rollout saw; the task source of ``scripts/eval_code_infill.py``), ``--n-single``
single lines and ``--n-multi`` runs of 2-6 lines per task-cutting seed. Each task is filled through
``CodeInfiller.infill(prefix, suffix)`` with its defaults (64 tokens, 4 candidates, greedy), once
constrained (the default: syntax-guided remasking and candidate choice) and once with
``constrained=False`` (the model's own output, which is what the parse reward moves). Columns: CPython
compiles ``prefix + middle + suffix``, the middle is not blank, exact line match (each line
whitespace-trimmed, as the eval script), and mean content tokens (tokens of the whitespace-stripped middle).

    nice -n 19 python scripts/tune_code_parse.py --out runs/tune/code-parse

Outputs (the tuned model folder, logs, table JSON) go under --out, not into the repository."""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from eval_code_infill import lines_match  # noqa: E402  (scripts/, beside this file)
from seqdiff.io import atomic_write_text
from seqdiff.tune.config import load_config
from seqdiff.tune.run import tune
from seqdiff_code.domain import CodeDomain
from seqdiff_code.infill import CodeInfiller
from seqdiff_code.syntax import compiles
from seqdiff_code.tasks import infill_tasks
from seqdiff_code.tokenizer import CodeTokenizer

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "tune-code-parse.yaml"


def scores(infiller: CodeInfiller, tasks, constrained: bool) -> dict:
    """The table's figures for one model, decoding mode and task list."""
    tok = infiller.tokenizer
    texts = [infiller.infill(t.prefix, t.suffix, constrained=constrained).text for t in tasks]
    n = max(1, len(tasks))
    return {"n": len(tasks),
            "cpython_ok": sum(compiles(t.prefix + x + t.suffix) for t, x in zip(tasks, texts)) / n,
            "non_empty": sum(bool(x.strip()) for x in texts) / n,
            "exact_line": sum(lines_match(x, t.middle) for t, x in zip(tasks, texts)) / n,
            "content_tokens": statistics.mean(len(tok.encode(x.strip())) if x.strip() else 0 for x in texts),
            "texts": texts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/tune/code-parse")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the config's)")
    parser.add_argument("--n-single", type=int, default=20, help="held-out single-line tasks per seed")
    parser.add_argument("--n-multi", type=int, default=10, help="held-out multi-line tasks per seed")
    parser.add_argument("--seeds", default="0,1", help="task-cutting seeds of the held-out tasks")
    parser.add_argument("--set", action="append", default=[], help="config overrides, as seqdiff tune --set")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    overrides = [f"trainer.out_dir={out}", "trainer.progress=false", *args.set]
    if args.steps:
        overrides.append(f"trainer.max_steps={args.steps}")
    config = load_config(CONFIG, overrides)
    if config.rollout.canvases == "bench":
        raise SystemExit("rollout.canvases=bench tunes on the held-out tasks this table measures on")
    tuned = out / "model"
    if not (tuned / "config.json").is_file():
        tune(config, resume=(out / "checkpoints" / "last.ckpt").exists())
    models = {"untuned": CodeInfiller.from_pretrained(CodeDomain().default_model()),
              "tuned": CodeInfiller.from_pretrained(tuned)}
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        tasks = infill_tasks(args.n_single, args.n_multi, seed=seed, tokenizer=CodeTokenizer.bundled())
        for constrained in (True, False):
            for kind in ("single", "multi"):
                chosen = [t for t in tasks if t.kind == kind]
                for name, infiller in models.items():
                    rows.append({"model": name, "seed": seed, "decoding": "constrained" if constrained else "free",
                                 "kind": kind, **scores(infiller, chosen, constrained)})
                    r = rows[-1]
                    print(f"{r['model']:<8} seed {seed} {r['decoding']:<11} {kind:<6} n {r['n']:>3} cpython "
                          f"{r['cpython_ok']:.3f} non-empty {r['non_empty']:.3f} exact {r['exact_line']:.3f} "
                          f"content tokens {r['content_tokens']:.2f}", flush=True)
    summary = json.loads((out / "tune_summary.json").read_text()) if (out / "tune_summary.json").exists() else {}
    atomic_write_text(out / "table.json", json.dumps({"rows": rows, "tune": summary}, indent=1, default=str))


if __name__ == "__main__":
    main()
