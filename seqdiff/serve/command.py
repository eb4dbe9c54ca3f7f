"""``seqdiff serve``: mounts what every installed domain contributes (``--domain`` restricts), each adding
its own arguments; ``--model PATH`` goes to the domain named by the folder's config.json. Knows no domain by
name. Bad values raise ``ValueError`` (the CLI exits 2); so does a model that fails to load."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seqdiff.io import read_json_object
from seqdiff.precision import add_dtype_argument
from seqdiff.serve.contribution import ServeContribution, ServeOptions, positive_int


def installed_contributions() -> list[tuple[str, ServeContribution]]:
    """(domain, contribution) for each installed domain that serves something; a broken one is skipped
    with a warning so it cannot hide the others."""
    from seqdiff.plugins import domain_entry_points, load_domain

    out = []
    for name in sorted(domain_entry_points()):
        try:
            contribution = load_domain(name).serve()
        except ImportError:  # the serve extra is missing: `seqdiff serve` says so when run
            continue
        except Exception as err:
            print(f"seqdiff: warning: domain {name!r} could not contribute to serve: {err}", file=sys.stderr)
            continue
        if contribution is not None:
            out.append((name, contribution))
    return out


def add_parser(sub: argparse._SubParsersAction, with_domains: bool) -> None:
    contributions = installed_contributions() if with_domains else []
    served = "; ".join(f"{domain}: {c.description}" for domain, c in contributions) or "no domain installed"
    p = sub.add_parser("serve", help="serve the installed domains over HTTP (editor infill, protein design)",
                       description=f"An HTTP server for what the installed domains contribute ({served}). "
                                   "Binds to loopback unless --allow-remote.",
                       epilog="example: seqdiff serve --port 8012   then in Vim (llama.vim) the default "
                              "endpoint http://127.0.0.1:8012/infill works")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; [::1] for IPv6)")
    p.add_argument("--port", type=int, default=8012, help="TCP port (default 8012, llama.vim's default)")
    p.add_argument("--domain", action="append", default=None, metavar="NAME",
                   help="serve only this domain's routes (repeatable; default: every installed domain)")
    p.add_argument("--model", action="append", default=[], metavar="PATH",
                   help="a model folder; it goes to the domain its config.json names (repeatable, one per "
                        "domain; default: each domain's bundled model)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    add_dtype_argument(p)
    p.add_argument("--allow-remote", action="store_true", help="allow a --host that is not loopback")
    p.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' on every route but /health")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="torch CPU threads (default 1: on a 2-core machine with another busy process, torch's "
                        "default of 2 made the code model's forward ~10x slower)")
    p.add_argument("--max-batch", type=positive_int, default=16, help="rows batched into one model call (default 16)")
    p.add_argument("--max-queue", type=positive_int, default=128, help="requests waiting before 503 busy (default 128)")
    p.add_argument("--max-body-bytes", type=positive_int, default=4 * 1024 * 1024,
                   help="largest request body (default 4 MiB)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    for domain, contribution in contributions:
        if contribution.add_arguments is not None:
            try:
                contribution.add_arguments(p.add_argument_group(f"{domain} domain"))
            except argparse.ArgumentError as err:
                print(f"seqdiff: warning: domain {domain!r} adds a serve argument that clashes: {err}",
                      file=sys.stderr)
    p.set_defaults(serve_contributions=contributions)


def model_domain(path: Path) -> str | None:
    """The domain a model folder belongs to: the ``domain`` field of its config.json; None for a Hugging Face
    text model (LLaDA, Dream, ...), which serves whichever single domain ``--domain`` names."""
    config = path / "config.json"
    if not path.exists():
        raise ValueError(f"--model {path}: no such file or folder")
    if not config.is_file():
        raise ValueError(f"--model {path}: not a model folder (no config.json); pass a folder written by "
                         f"`seqdiff train`")
    try:
        config_data = read_json_object(config)
    except ValueError:
        raise ValueError(f"--model {path}: config.json is not a JSON object") from None
    name = config_data.get("domain")
    if name is None and "model_type" in config_data:
        from seqdiff.families import FAMILIES, supported

        family = FAMILIES.get(config_data["model_type"])
        if family is None:  # refused here, before anything loads
            raise ValueError(f"--model {path}: model_type={config_data['model_type']!r} is not supported; "
                             f"supported model types: {supported()}")
        return family.DOMAIN
    if not isinstance(name, str):
        raise ValueError(f"--model {path}: config.json names no domain, so no route can serve it")
    return name


def select(args: argparse.Namespace) -> tuple[list[ServeContribution], dict[str, ServeOptions]]:
    """The contributions to mount and each one's loader options."""
    available = dict(args.serve_contributions)
    wanted = list(dict.fromkeys(args.domain)) if args.domain else sorted(available)
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise ValueError(f"--domain {unknown[0]}: no installed domain of that name serves anything; "
                         f"choose from {', '.join(sorted(available)) or 'none'}")
    models: dict[str, Path] = {}
    for text in args.model:
        path = Path(text)
        name = model_domain(path)
        if name is None:  # a text model: it goes to the one domain asked for
            if len(wanted) != 1:
                raise ValueError(f"--model {path} is a Hugging Face text model that any text domain can serve; "
                                 f"name one with --domain (e.g. --domain code)")
            name = wanted[0]
        if name in models:
            raise ValueError(f"--model {path}: {models[name]} is already the {name} model; pass one per domain")
        if name not in wanted:
            raise ValueError(f"--model {path} is a {name} model, but {name} is not served "
                             f"(serving: {', '.join(wanted) or 'nothing'}; add --domain {name})")
        models[name] = path
    if not wanted:
        raise ValueError("no installed domain contributes routes (pip install -e domains/code -e domains/protein)")
    chosen = [available[name] for name in wanted]
    options = {c.name: ServeOptions(model=models.get(domain), device=args.device,
                                  dtype=args.dtype, args=args)
               for domain, c in zip(wanted, chosen)}
    return chosen, options


def describe(contributions: list[ServeContribution]) -> str:
    """Which domain contributed which routes, as ``seqdiff serve`` prints it at start-up."""
    return "\n".join(f"  {c.name}: {c.description}\n    {', '.join(c.route_names())}" for c in contributions)


def serve(args: argparse.Namespace) -> int:
    try:
        from seqdiff.serve.app import HostConfig, create_app
        from seqdiff.serve.server import is_loopback, run
    except ImportError as err:
        raise ValueError(f"seqdiff serve needs the serve extra (pip install 'seqdiff[serve]'): {err}") from None
    if not is_loopback(args.host) and not args.allow_remote:
        raise ValueError(f"--host {args.host} is not a loopback address: anyone who can reach it could use the "
                         f"model. Pass --allow-remote to bind it on purpose (and consider --api-key)")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port} is not a TCP port (0-65535)")
    contributions, options = select(args)
    from seqdiff.cli import check_device, set_threads  # here: seqdiff.cli imports this module

    set_threads(args.threads)
    check_device(args.device)
    config = HostConfig(max_batch=args.max_batch, max_queue=args.max_queue, max_body_bytes=args.max_body_bytes,
                        api_key=args.api_key)
    app = create_app(contributions, config, options)
    print(f"seqdiff serve: http://{args.host}:{args.port}; GET /health answers 503 until every model is loaded",
          file=sys.stderr)
    print(describe(contributions), file=sys.stderr)
    failure = run(app, args.host, args.port, log_level=args.log_level)
    if failure is not None:
        raise ValueError(f"a model failed to load, so the server stopped: {failure}")
    return 0
