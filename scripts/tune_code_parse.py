"""Reward fine-tuning of the bundled code model (``--config``: ``configs/tune-code-useful.yaml`` by default,
``configs/tune-code-parse.yaml`` for ``parses`` alone; rollouts on tasks cut from the corpus' train split),
then the held-out before/after table of ``scripts/eval_code_tune.py`` (stdlib ``test`` split, several task
seeds, constrained and free decoding, binomial and paired standard errors).

    nice -n 19 python scripts/tune_code_parse.py --out runs/tune/code-useful

Outputs (the tuned model folder, logs, per-model eval caches, table JSON) go under --out, not into the
repository; a finished tune is not re-run (delete ``<out>/model`` to re-train)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from eval_code_tune import evaluate, held_out_tasks, report  # noqa: E402  (scripts/, beside this file)
from seqdiff.tune.config import load_config
from seqdiff.tune.run import tune

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/tune/code-useful")
    parser.add_argument("--config", default=str(CONFIGS / "tune-code-useful.yaml"))
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the config's)")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="task-cutting seeds of the held-out tasks")
    parser.add_argument("--n-single", type=int, default=30, help="held-out single-line tasks per seed")
    parser.add_argument("--n-multi", type=int, default=20, help="held-out multi-line tasks per seed")
    parser.add_argument("--set", action="append", default=[], help="config overrides, as seqdiff tune --set")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    overrides = [f"trainer.out_dir={out}", "trainer.progress=false", *args.set]
    if args.steps:
        overrides.append(f"trainer.max_steps={args.steps}")
    config = load_config(args.config, overrides)
    if config.rollout.canvases == "bench":
        raise SystemExit("rollout.canvases=bench tunes on the held-out tasks this table measures on")
    tuned = out / "model"
    if not (tuned / "config.json").is_file():
        tune(config, resume=(out / "checkpoints" / "last.ckpt").exists())
    tasks = held_out_tasks([int(s) for s in args.seeds.split(",")], args.n_single, args.n_multi)
    models = [["untuned", str(config.policy)], ["tuned", str(tuned)]]  # before = the config's policy
    results = {name: evaluate(name, path, tasks, out / "eval", batch=8) for name, path in models}
    report(models, results, out / "eval", {"seeds": args.seeds, "n_tasks": len(tasks), "config": args.config})


if __name__ == "__main__":
    main()
