"""Syntax validation with tree-sitter, and the map from error byte spans back to a middle's tokens.

A small language registry: ``register_language(name, loader, extensions)`` where ``loader()`` returns a
``tree_sitter.Language`` (grammar packages such as ``tree-sitter-javascript`` ship offline and expose
``language()``). Python is registered by default. ``syntax_errors(text, language="python")`` lists the
ERROR nodes (innermost ones) and MISSING nodes as byte spans ``(start, end, kind)``.

Note: tree-sitter-python accepts some code that CPython rejects (e.g. a missing indent after ``if x:``);
``compiles(text)`` is the stricter CPython check, reported by the evaluation next to tree-sitter validity.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class ErrorSpan:
    start: int  # byte offset in the parsed text
    end: int  # exclusive; == start for a MISSING node
    kind: str  # "ERROR" or "MISSING <type>"


@dataclass(frozen=True)
class LanguageSpec:
    name: str
    loader: Callable[[], object]
    extensions: tuple[str, ...] = ()


_REGISTRY: dict[str, LanguageSpec] = {}
_PARSERS: dict[str, object] = {}


def register_language(name: str, loader: Callable[[], object], extensions: tuple[str, ...] = ()) -> None:
    """Add a grammar. ``loader`` returns a ``tree_sitter.Language`` or the capsule a grammar package's
    ``language()`` returns."""
    _REGISTRY[name] = LanguageSpec(name, loader, tuple(extensions))
    _PARSERS.pop(name, None)


def languages() -> list[str]:
    return sorted(_REGISTRY)


def language_for_path(path: str) -> str | None:
    for spec in _REGISTRY.values():
        if any(str(path).endswith(ext) for ext in spec.extensions):
            return spec.name
    return None


def _python_language():
    import tree_sitter_python

    return tree_sitter_python.language()


register_language("python", _python_language, (".py", ".pyi"))


def _parser(name: str):
    import tree_sitter

    if name in _PARSERS:
        return _PARSERS[name]
    if name not in _REGISTRY:
        raise ValueError(f"no grammar registered for language {name!r}; registered: {', '.join(languages())}")
    language = _REGISTRY[name].loader()
    if not isinstance(language, tree_sitter.Language):
        language = tree_sitter.Language(language)
    _PARSERS[name] = tree_sitter.Parser(language)
    return _PARSERS[name]


def parse(source: bytes | str, language: str = "python"):
    data = source.encode("utf-8") if isinstance(source, str) else source
    return _parser(language).parse(data)


def syntax_errors(source: bytes | str, language: str = "python") -> list[ErrorSpan]:
    """Innermost ERROR nodes and all MISSING nodes of the parse, as byte spans, in document order."""
    tree = parse(source, language)
    spans: list[ErrorSpan] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_missing:
            spans.append(ErrorSpan(node.start_byte, node.start_byte, f"MISSING {node.type}"))
            continue
        if not node.has_error:
            continue
        children = node.children
        if node.is_error and not any(c.has_error or c.is_missing for c in children):
            spans.append(ErrorSpan(node.start_byte, node.end_byte, "ERROR"))
            continue
        if node.is_error:  # keep the error's own tokens outside its erroneous children
            inner = [c for c in children if c.has_error or c.is_missing]
            spans.append(ErrorSpan(node.start_byte, inner[0].start_byte if inner else node.end_byte, "ERROR"))
        stack.extend(reversed(children))
    return sorted(spans, key=lambda s: (s.start, s.end))


def is_valid(source: bytes | str, language: str = "python") -> bool:
    return not parse(source, language).root_node.has_error


def compiles(text: str) -> bool:
    """CPython's own parser accepts the text (stricter than tree-sitter about indentation)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
        return True
    except (SyntaxError, ValueError):
        return False


def relevant_errors(errors: list[ErrorSpan], middle_start: int, line_start: int) -> list[ErrorSpan]:
    """Errors the middle may have caused: all except those ending before the line the middle starts on
    (tree-sitter reads left to right, so an error that closes before that line predates the infill)."""
    return [e for e in errors if e.end > line_start or e.end >= middle_start]


def infill_errors(prefix: str, middle: str, suffix: str, language: str = "python") -> list[ErrorSpan]:
    """Errors of ``prefix + middle + suffix`` that the middle may have caused (byte spans in the full text)."""
    line_start = len(prefix[: prefix.rfind("\n") + 1].encode("utf-8"))
    full = (prefix + middle + suffix).encode("utf-8")
    return relevant_errors(syntax_errors(full, language), len(prefix.encode("utf-8")), line_start)


def error_tokens(errors: list[ErrorSpan], token_offsets: list[tuple[int, int]], middle_start: int,
                 middle_end: int, neighbours: int = 1, edge: int = 4) -> tuple[set[int], set[int]]:
    """Map error spans to indices into the middle's tokens.

    ``token_offsets[i] = (start, end)`` byte range of middle token i in the parsed text (a filler has
    start == end). Returns (direct, context): tokens overlapping an error, and their ``neighbours`` on
    each side. An error wholly after (before) the middle selects the last (first) ``edge`` tokens (fillers
    included, so a missing closing bracket can grow into the canvas tail)."""
    direct: set[int] = set()
    n = len(token_offsets)
    if n == 0:
        return set(), set()
    for err in errors:
        hit = [i for i, (s, e) in enumerate(token_offsets)
               if (s < err.end and err.start < e) or (s == e and err.start <= s <= err.end)
               or (err.start == err.end and s <= err.start <= e)]
        if not hit:
            if err.start >= middle_end:
                hit = list(range(max(0, n - edge), n))
            elif err.end <= middle_start:
                hit = list(range(min(n, edge)))
            else:  # inside the middle but between tokens: nearest token
                hit = [min(range(n), key=lambda i: abs(token_offsets[i][0] - err.start))]
        direct.update(hit)
    context = {j for i in direct for j in range(i - neighbours, i + neighbours + 1) if 0 <= j < n} - direct
    return direct, context
