"""The ``seqdiff`` command. Domains add their own subcommands (``design-protein``, ``infill``, ...).

Usage errors exit 2 with a message naming the bad value and write nothing."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from seqdiff import __version__


class UsageError(Exception):
    """Bad input from the user: printed as ``seqdiff: error: ...`` with exit status 2."""


def _cmd_domains(args: argparse.Namespace) -> int:
    from seqdiff.plugins import domain_entry_points, domain_version, load_domain

    points = domain_entry_points()
    if not points:
        print("no domains installed (pip install -e domains/protein -e domains/code)")
    for name in sorted(points):
        try:
            description = load_domain(name).description
        except Exception as err:  # a broken third-party plugin must not hide the others
            description = f"(failed to load: {err})"
        print(f"{name}\t{domain_version(name)}\t{description}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from seqdiff.train import load_config, train

    try:
        config = load_config(args.config, args.set)
    except (ValueError, TypeError, FileNotFoundError) as err:
        raise UsageError(str(err)) from None
    folder = train(config, resume=args.resume)
    print(f"exported model folder: {folder}")
    return 0


def build_parser(with_domains: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seqdiff", description="Masked diffusion language models for sequence design.",
        epilog="Run `seqdiff COMMAND --help` for each command's options.")
    parser.add_argument("--version", action="version", version=f"seqdiff {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("domains", help="list installed domains with their versions")
    p.set_defaults(func=_cmd_domains)

    p = sub.add_parser("train", help="train a diffusion LM from a YAML config (Lightning)",
                       description="Train a masked-diffusion model and export it as a model folder.",
                       epilog="example: seqdiff train --config configs/protein-small.yaml "
                              "--set trainer.max_steps=200 --set trainer.out_dir=runs/try")
    p.add_argument("--config", help="YAML file whose sections map onto seqdiff.train.TrainConfig")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. trainer.max_steps=100 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue from <out_dir>/checkpoints/last.ckpt")
    p.set_defaults(func=_cmd_train)

    if with_domains:
        _add_domain_commands(sub)
    return parser


def _add_domain_commands(sub: argparse._SubParsersAction) -> None:
    from seqdiff.plugins import domain_entry_points, load_domain

    for name in sorted(domain_entry_points()):
        try:
            load_domain(name).add_commands(sub)
        except Exception as err:
            print(f"seqdiff: warning: domain {name!r} could not add its commands: {err}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as err:
        parser.exit(2, f"seqdiff: error: {err}\n")
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
