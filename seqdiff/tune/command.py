"""``seqdiff tune``: argument parsing and exit codes (2: a bad config, 1: a reward failed mid-run)."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="reward fine-tuning of a model folder with GRPO (Lightning)",
                       description="Fine-tune a diffusion LM toward rewards with group-relative policy gradients "
                                   "(estimator: mean_field = diffu-GRPO, coupled = coupled-GRPO), a KL penalty to "
                                   "a frozen reference, and export the tuned model folder.",
                       epilog="example: seqdiff tune --config configs/tune-protein-charge.yaml "
                              "--set trainer.max_steps=50 --set trainer.out_dir=runs/tune-try")
    p.add_argument("--config", required=True, help="YAML file whose sections map onto seqdiff.tune.TuneConfig")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. kl_coef=0.1 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue from <out_dir>/checkpoints/last.ckpt")
    p.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from seqdiff.cli import UsageError
    from seqdiff.tune.config import load_config
    from seqdiff.tune.rewards import RewardError
    from seqdiff.tune.run import prepare, tune

    try:
        config = load_config(args.config, args.set)
        prepared = prepare(config)  # models, rewards and canvases checked before training starts
    except (ValueError, TypeError, FileNotFoundError, LookupError) as err:
        raise UsageError(str(err)) from None
    try:
        folder = tune(config, resume=args.resume, prepared=prepared)
    except RewardError as err:
        print(f"seqdiff: error: {err}", file=sys.stderr)
        return 1
    print(f"exported tuned model folder: {folder}")
    return 0
