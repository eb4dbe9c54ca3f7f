"""Domain discovery through the ``seqdiff.domains`` entry-point group."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from seqdiff.domain import Domain

GROUP = "seqdiff.domains"


def domain_entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def load_domain(name: str) -> Domain:
    """Instantiate an installed domain; an unknown name lists the installed ones."""
    points = domain_entry_points()
    if name not in points:
        installed = ", ".join(sorted(points)) or "none"
        raise LookupError(f"unknown domain {name!r}; installed domains: {installed}. "
                          f"Install a domain package (e.g. pip install -e domains/protein) to add one.")
    target = points[name].load()
    domain = target() if isinstance(target, type) or callable(target) and not isinstance(target, Domain) else target
    if not isinstance(domain, Domain):
        raise TypeError(f"entry point {points[name].value!r} for domain {name!r} does not implement seqdiff.Domain")
    return domain


def model_folder(name: str | Path) -> Path:
    """A model folder as given, or an installed domain's name standing for its bundled model (``protein``,
    ``code``): the one rule for every command's ``--model`` / ``policy:`` / ``teacher:``."""
    path = Path(name)
    if path.exists() or str(name) not in domain_entry_points():
        return path  # a missing folder is reported by from_pretrained, naming the path
    bundled = load_domain(str(name)).default_model()
    if bundled is None:
        raise LookupError(f"domain {str(name)!r} ships no bundled model; give a model folder instead")
    return Path(bundled)


def domain_version(name: str) -> str:
    ep = domain_entry_points()[name]
    return ep.dist.version if ep.dist is not None else "unknown"
