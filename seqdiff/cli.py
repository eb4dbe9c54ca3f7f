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


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        from seqdiff.serve.app import create_app
        from seqdiff.serve.backend import CodeInfillerBackend, EchoBackend
        from seqdiff.serve.common import ServeConfig
        from seqdiff.serve.server import is_loopback, run
    except ImportError as err:
        raise UsageError(f"seqdiff serve needs the serve extra (pip install 'seqdiff[serve]'): {err}") from None
    if not is_loopback(args.host) and not args.allow_remote:
        raise UsageError(f"--host {args.host} is not a loopback address: anyone who can reach it could use the "
                         f"model. Pass --allow-remote to bind it on purpose (and consider --api-key)")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a TCP port (0-65535)")
    for name in ("max_batch", "max_queue", "max_n_cmpl", "max_n_predict", "max_body_bytes", "candidates"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} {getattr(args, name)} must be >= 1")
    if args.model is not None and args.backend == "fake":
        raise UsageError("--model has no effect with --backend fake")
    if args.model is not None:
        from pathlib import Path

        if not Path(args.model).exists():
            raise UsageError(f"--model {args.model}: no such file or folder")
    elif args.backend == "code":
        try:
            from seqdiff_code.domain import CodeDomain
        except ImportError as err:
            raise UsageError(f"the code domain is not installed (pip install -e domains/code): {err}") from None
        if CodeDomain().default_model() is None:
            raise UsageError("no bundled code model is installed; pass --model PATH (a model folder written by "
                             "`seqdiff train --config configs/code-small.yaml`), or --backend fake to try clients")
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads {args.threads} must be >= 1")
        import torch

        torch.set_num_threads(args.threads)
    config = ServeConfig(max_batch=args.max_batch, max_queue=args.max_queue, max_n_cmpl=args.max_n_cmpl,
                         max_n_predict=args.max_n_predict, max_body_bytes=args.max_body_bytes,
                         api_key=args.api_key)
    if args.backend == "fake":
        def factory():
            return EchoBackend(steps=args.fake_steps, step_s=args.fake_step_ms / 1000.0,
                               row_s=args.fake_row_ms / 1000.0)
    else:
        def factory():
            return CodeInfillerBackend(args.model, device=args.device, candidates=args.candidates, threads=args.threads)
    print(f"seqdiff serve: http://{args.host}:{args.port} (llama.cpp /infill, OpenAI /v1/completions); "
          f"GET /health answers 503 until the model is loaded", file=sys.stderr)
    run(create_app(factory, config), args.host, args.port, log_level=args.log_level)
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from seqdiff.bench import GRIDS, main_bench

    for name in ("length", "batch_size"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} {getattr(args, name)} must be >= 1")
    if args.designs is not None and args.designs < 1:
        raise UsageError(f"--designs {args.designs} must be >= 1")
    if args.grid not in GRIDS:
        raise UsageError(f"--grid {args.grid!r}: choose one of {', '.join(GRIDS)}")
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads {args.threads} must be >= 1")
        import torch

        torch.set_num_threads(args.threads)
    try:
        main_bench(args.model, args.length, args.batch_size, args.json, designs=args.designs, seed=args.seed,
                   kind=args.grid, device=args.device, only=args.only)
    except (LookupError, FileNotFoundError, ValueError) as err:
        raise UsageError(str(err)) from None
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

    p = sub.add_parser("serve", help="serve code infill to editors (llama.cpp /infill, OpenAI /v1/completions)",
                       description="An infill server that llama.vim, llama.vscode, Continue, minuet and Tabby use "
                                   "unmodified. Binds to loopback unless --allow-remote.",
                       epilog="example: seqdiff serve --port 8012   then in Vim: "
                              "let g:llama_config = {'endpoint_fim': 'http://127.0.0.1:8012/infill'}")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8012, help="TCP port (default 8012, llama.vim's default)")
    p.add_argument("--model", default=None, metavar="PATH", help="code model folder (default: the bundled model)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    p.add_argument("--allow-remote", action="store_true", help="allow a --host that is not loopback")
    p.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' on requests")
    p.add_argument("--backend", choices=("code", "fake"), default="code",
                   help="code: the code-domain infiller; fake: a deterministic stand-in for testing clients")
    p.add_argument("--candidates", type=int, default=2,
                   help="canvases decoded per completion; the best syntax-valid one wins (default 2)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--max-batch", type=int, default=16, help="completions batched into one model call (default 16)")
    p.add_argument("--max-queue", type=int, default=128, help="requests waiting before 503 busy (default 128)")
    p.add_argument("--max-n-cmpl", type=int, default=4, help="largest n_cmpl / n accepted (default 4)")
    p.add_argument("--max-n-predict", type=int, default=4096, help="largest n_predict / max_tokens (default 4096)")
    p.add_argument("--max-body-bytes", type=int, default=4 * 1024 * 1024, help="largest request body (default 4 MiB)")
    p.add_argument("--fake-steps", type=int, default=8, help=argparse.SUPPRESS)
    p.add_argument("--fake-step-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    p.add_argument("--fake-row-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(func=_cmd_serve)

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
    p.add_argument("--grid", default="full", help="full (default) or quick (a few configurations)")
    p.add_argument("--only", default=None, metavar="NAMES",
                   help="comma-separated regular expressions: keep the grid's configurations whose name one "
                        "matches (--only ancestral, --only '^ancestral-(32|8)$'); the naive baseline always runs")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.set_defaults(func=_cmd_bench)

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
