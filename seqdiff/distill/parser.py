"""The ``seqdiff distill`` arguments (argparse only: building the CLI imports nothing heavy)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("distill", help="distil a model folder into a student that needs fewer steps (Lightning)",
                       description="Progressive step distillation or certainty forcing of a model folder; "
                                   "exports the student as a model folder.",
                       epilog="example: seqdiff distill --config configs/distill-protein.yaml "
                              "--set trainer.max_steps=300 --set trainer.out_dir=runs/distill")
    p.add_argument("--config", help="YAML file whose sections map onto seqdiff.distill.config.DistillConfig")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. rounds=2 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue from <out_dir>/checkpoints/last.ckpt")
    return p
