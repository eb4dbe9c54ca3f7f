"""Two-way state-dict key renaming from template pairs such as ``("blocks.{n}.q_proj.{p}", "layers.{n}...")``.

One table per on-disk layout serves both directions: loading a folder (its keys to the Denoiser's) and
writing one (the reverse, used by the tests to build folders in each family's own layout)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_FIELDS = {"n": r"(?P<n>\d+)", "p": r"(?P<p>weight|bias)", "x": r"(?P<x>[qkv])"}


def _compile(template: str) -> re.Pattern:
    pattern = re.escape(template)
    for name, group in _FIELDS.items():
        pattern = pattern.replace(re.escape("{" + name + "}"), group)
    return re.compile(pattern + "$")


@dataclass(frozen=True)
class KeyMap:
    """``pairs``: (their template, our template); ``ignore``: regexes of their keys that carry nothing we use
    (rotary tables, contact heads, a tied copy of the embeddings)."""

    pairs: tuple[tuple[str, str], ...]
    ignore: tuple[str, ...] = ()

    def to_ours(self, key: str) -> str | None:
        """Our name for one of their keys; None for an ignored key; KeyError for an unknown one."""
        for theirs, ours in self.pairs:
            match = _compile(theirs).match(key)
            if match:
                return ours.format(**match.groupdict())
        if any(re.search(pattern, key) for pattern in self.ignore):
            return None
        raise KeyError(key)

    def to_theirs(self, key: str) -> str:
        for theirs, ours in self.pairs:
            match = _compile(ours).match(key)
            if match:
                return theirs.format(**match.groupdict())
        raise KeyError(key)
