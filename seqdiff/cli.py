"""The ``seqdiff`` command. Domains add their own subcommands (``design-protein``, ``infill``, ...).

Usage errors exit 2 with a message naming the bad value and write nothing."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from seqdiff import __version__
from seqdiff.precision import add_dtype_argument
from seqdiff.serve import command as serve_command
from seqdiff.tune import command as tune_command


class UsageError(Exception):
    """Bad input from the user: printed as ``seqdiff: error: ...`` with exit status 2."""


def set_threads(value: int | None) -> None:
    """``--threads``: 1 up to this machine's CPU count (more only oversubscribes; a huge count crashes
    OpenMP), then ``torch.set_num_threads``; ``None`` keeps torch's choice."""
    if value is None:
        return
    cpus = os.cpu_count() or 1
    if value < 1:
        raise UsageError(f"--threads {value} must be >= 1, e.g. --threads 1")
    if value > cpus:
        raise UsageError(f"--threads {value} is more than this machine's {cpus} CPUs; e.g. --threads {cpus}")
    import torch

    torch.set_num_threads(value)


def check_device(value: str) -> None:
    """``--device`` must name a torch device (checked before a model loads; domains call it too)."""
    import torch

    try:
        torch.device(value)
    except (RuntimeError, ValueError):
        raise UsageError(f"--device {value!r} is not a torch device; e.g. --device cpu or --device cuda") from None


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
    from seqdiff.train import load_config, prepare, train

    try:
        config = load_config(args.config, args.set)
        prepared = prepare(config)  # model shape, tokenizer and data checked before training starts
    except (ValueError, TypeError, FileNotFoundError, LookupError) as err:
        raise UsageError(str(err)) from None
    folder = train(config, resume=args.resume, prepared=prepared)
    print(f"exported model folder: {folder}")
    return 0


def _cmd_distill(args: argparse.Namespace) -> int:
    from seqdiff.distill.command import distill, prepare
    from seqdiff.distill.config import load_config

    try:
        config = load_config(args.config, args.set)
        prepared = prepare(config)  # teacher, domain and canvases checked before training starts
    except (ValueError, TypeError, FileNotFoundError, LookupError) as err:
        raise UsageError(str(err)) from None
    folder = distill(config, resume=args.resume, prepared=prepared)
    print(f"exported model folder: {folder}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        return serve_command.serve(args)
    except ValueError as err:
        raise UsageError(str(err)) from None


BENCH_MAX_ROWS = 4096  # canvases per bench run (and per batch)


def _cmd_bench(args: argparse.Namespace) -> int:
    from seqdiff.bench import GRIDS, main_bench

    for name in ("length", "batch_size"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} {getattr(args, name)} must be >= 1")
    if args.designs is not None and args.designs < 1:
        raise UsageError(f"--designs {args.designs} must be >= 1")
    from seqdiff.generation import MAX_CANVAS

    for name, limit in (("length", MAX_CANVAS), ("batch_size", BENCH_MAX_ROWS), ("designs", BENCH_MAX_ROWS)):
        if (getattr(args, name) or 0) > limit:
            raise UsageError(f"--{name.replace('_', '-')} {getattr(args, name)} is over the limit of {limit}")
    check_device(args.device)
    if args.grid not in GRIDS:
        raise UsageError(f"--grid {args.grid!r}: choose one of {', '.join(GRIDS)}")
    set_threads(args.threads)
    if args.plot is not None:
        if Path(args.plot).suffix.lower() not in (".png", ".svg", ".pdf"):
            raise UsageError(f"--plot {args.plot!r}: give a .png, .svg or .pdf file name, e.g. --plot bench.png")
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:
            raise UsageError("--plot needs matplotlib (pip install matplotlib)")
    try:
        main_bench(args.model, args.length, args.batch_size, args.json, designs=args.designs, seed=args.seed,
                   kind=args.grid, device=args.device, only=args.only, plot_path=args.plot,
                   compare=[f for f in (args.compare or "").split(",") if f], dtype=args.dtype,
                   naive=not args.no_naive)
    except (LookupError, FileNotFoundError, ValueError) as err:
        raise UsageError(str(err)) from None
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from seqdiff.checkpoint import from_pretrained
    from seqdiff.generation import generate

    set_threads(args.threads)
    check_device(args.device)
    try:
        pretrained = from_pretrained(args.model, device=args.device, dtype=args.dtype)
        result = generate(pretrained, args.prompt, max_new_tokens=args.max_new_tokens, steps=args.steps,
                          block_length=args.block_length, threshold=args.threshold, cache=args.cache,
                          temperature=args.temperature, seed=args.seed, chat=args.chat)
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(str(err)) from None
    print(result.text)
    print(f"nfe {result.nfe}, steps {result.steps}, {result.tokens_per_step:.2f} tokens/step, "
          f"{result.wall_s:.2f} s ({len(result.token_ids)} positions after {result.prompt_tokens} prompt tokens)",
          file=sys.stderr)
    return 0


def build_parser(with_domains: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seqdiff", description="Masked diffusion language models for sequence design.",
        epilog="Run `seqdiff COMMAND --help` for each command's options.")
    parser.add_argument("--version", action="version", version=f"seqdiff {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("domains", help="list installed domains with their versions").set_defaults(func=_cmd_domains)
    _add_train_parser(sub)
    _add_distill_parser(sub)
    tune_command.add_parser(sub)
    serve_command.add_parser(sub, with_domains)
    sub.choices["serve"].set_defaults(func=_cmd_serve)
    _add_bench_parser(sub)
    _add_generate_parser(sub)
    if with_domains:
        _add_domain_commands(sub)
    return parser


def _add_train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a diffusion LM from a YAML config (Lightning)",
                       description="Train a masked-diffusion model and export it as a model folder.",
                       epilog="example: seqdiff train --config configs/protein-small.yaml "
                              "--set trainer.max_steps=200 --set trainer.out_dir=runs/try")
    p.add_argument("--config", help="YAML file whose sections map onto seqdiff.train.TrainConfig")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. trainer.max_steps=100 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue from <out_dir>/checkpoints/last.ckpt")
    p.set_defaults(func=_cmd_train)


def _add_distill_parser(sub: argparse._SubParsersAction) -> None:
    from seqdiff.distill.parser import add_parser

    add_parser(sub).set_defaults(func=_cmd_distill)


def _add_bench_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="speed and quality of samplers and caches against the naive baseline",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Runs the domain's naive baseline (one token per step) and a grid of samplers "
                                   "and KV caches on the same canvases and seeds; prints a table, writes JSON.",
                       epilog="example: seqdiff bench --model protein --length 256 --batch-size 1 --json bench.json\n"
                              "         seqdiff bench --model code --length 64 --designs 16 --only threshold,block")
    p.add_argument("--model", required=True, metavar="DIR_OR_DOMAIN",
                   help="a model folder, or a domain name to use its bundled model")
    p.add_argument("--length", type=int, default=256, help="positions to generate per canvas (default 256)")
    p.add_argument("--batch-size", type=int, default=1, help="canvases decoded together (default 1)")
    p.add_argument("--designs", type=int, default=None, help="canvases in all (default: the batch size)")
    p.add_argument("--seed", type=int, default=0, help="design i is seeded with seed + i (default 0)")
    p.add_argument("--json", default=None, metavar="PATH", help="write the rows as a JSON list")
    p.add_argument("--plot", default=None, metavar="FILE.png",
                   help="draw tokens/s (log) against each quality column, one point per configuration")
    p.add_argument("--compare", default=None, metavar="DIRS",
                   help="comma-separated model folders (e.g. distilled students) run after --model on the same "
                        "canvases and seeds; each row names its model; FOLDER@NAMES runs only the "
                        "configurations NAMES selects (as --only) for that folder")
    p.add_argument("--grid", default="full", help="full (default) or quick (a few configurations)")
    p.add_argument("--only", default=None, metavar="NAMES",
                   help="comma-separated regular expressions: keep the grid's configurations whose name one "
                        "matches (--only ancestral, --only '^ancestral-(32|8)$'); the naive baseline runs "
                        "unless --no-naive")
    p.add_argument("--no-naive", action="store_true",
                   help="skip the one-token-per-step baseline (L forwards per canvas); no speedup column")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    add_dtype_argument(p)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.set_defaults(func=_cmd_bench)


def _add_generate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate text with a model folder (LLaDA, Dream, or a seqdiff model)",
                       description="Decode MAX_NEW_TOKENS positions after the prompt, blockwise, with the knobs "
                                   "LLaDA and Fast-dLLM use; prints the text, then NFE and tokens per step.",
                       epilog="example: seqdiff generate --model ~/models/LLaDA-8B-Instruct --chat --prompt 'Hi' "
                              "--max-new-tokens 256 --block-length 32 --threshold 0.9 --cache dual --device cuda")
    p.add_argument("--model", required=True, metavar="DIR", help="a seqdiff model folder or a Hugging Face folder")
    p.add_argument("--prompt", required=True, help="the prompt text")
    p.add_argument("--chat", action="store_true", help="wrap the prompt in the folder's chat template")
    p.add_argument("--max-new-tokens", type=int, default=128, help="positions to generate (default 128)")
    p.add_argument("--steps", type=int, default=None, help="total steps (default: one token per step)")
    p.add_argument("--block-length", type=int, default=32, help="semi-autoregressive block length (default 32)")
    p.add_argument("--threshold", type=float, default=None,
                   help="commit every position at least this confident (Fast-dLLM, e.g. 0.9) instead of --steps")
    p.add_argument("--cache", choices=("none", "prefix", "dual"), default="none",
                   help="KV cache, refreshed at each block start (approximate; default none)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    add_dtype_argument(p, extra=("float16",))
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.set_defaults(func=_cmd_generate)


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


if __name__ == "__main__":  # run the imported module's main, so domains raise the UsageError it catches
    from seqdiff.cli import main as _main

    sys.exit(_main())
