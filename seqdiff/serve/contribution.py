"""What a domain hands ``seqdiff serve`` through the ``Domain.serve`` hook: its routes, a model loader the
host runs in a worker thread at start-up, the CLI arguments it adds, and how its errors look.

Kept free of Starlette imports so ``seqdiff.domain`` can name these types without the serve extra."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

# (status, message, param) -> the JSON error body a client of these routes expects
ErrorBody = Callable[[int, str, "str | None"], dict]
# (requests, should_stop) -> one result per request, in order; runs in the host batcher's worker thread
BatchFn = Callable[[list, Callable[[], bool]], list]


@dataclass(frozen=True)
class ServeOptions:
    """What a contribution's loader is told. ``model``: the folder ``--model`` routed to this domain (by the
    ``domain`` field of its config.json), None for the domain's bundled model; ``dtype``: the weights'
    ``--dtype`` choice; ``args``: the parsed ``seqdiff serve`` arguments, the contribution's own among them
    (their defaults outside the CLI)."""

    model: Path | None = None
    device: str = "cpu"
    dtype: str = "float32"  # a --dtype choice (seqdiff.precision); `seqdiff serve` defaults to auto
    args: argparse.Namespace = field(default_factory=argparse.Namespace)


@dataclass(frozen=True)
class ServeContribution:
    """One domain's part of the server.

    ``load(options)`` runs once in a worker thread at start-up; handlers get its result with
    ``seqdiff.serve.service(request, name)`` and ``GET /health`` answers 503 until every contribution has
    loaded. With ``batch``, the host also runs a request batcher over ``batch(loaded)``
    (``seqdiff.serve.batcher(request, name)``). ``error_bodies`` maps path prefixes to the error envelope
    of the protocol served there (the longest matching prefix of all contributions wins)."""

    name: str
    description: str  # one line: what these routes serve
    routes: Sequence[Any]  # Starlette routes with module-level handlers
    load: Callable[[ServeOptions], Any]
    add_arguments: Callable[[argparse._ArgumentGroup], None] | None = None
    batch: Callable[[Any], BatchFn] | None = None
    error_bodies: tuple[tuple[str, ErrorBody], ...] = ()

    def default_options(self) -> ServeOptions:
        """Options with every added argument at its default (defaults are written once, in add_arguments)."""
        parser = argparse.ArgumentParser(add_help=False)
        if self.add_arguments is not None:
            self.add_arguments(parser.add_argument_group(self.name))
        return ServeOptions(args=parser.parse_args([]))

    def route_names(self) -> list[str]:
        """``METHOD /path`` of each route, for the start-up listing."""
        out = []
        for route in self.routes:
            methods = sorted(set(getattr(route, "methods", None) or ()) - {"HEAD"}) or ["*"]
            out.append(f"{'|'.join(methods)} {route.path}")
        return out


def positive_int(text: str) -> int:
    """argparse type for counts and limits: a bad value exits 2 before anything starts."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value
