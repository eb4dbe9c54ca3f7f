"""Fill-in-the-middle prompts with sentinels, as editor plugins render them into ``prompt``.

Families (prefix-suffix-middle order unless noted):

- StarCoder ``<fim_prefix>P<fim_suffix>S<fim_middle>`` (Continue's default template, Tabby)
- Qwen ``<|fim_prefix|>P<|fim_suffix|>S<|fim_middle|>`` (llama.vscode OpenAI mode, minuet)
- CodeLlama ``<PRE> P <SUF>S <MID>`` (the single spaces around P and before ``<MID>`` belong to the template)
- DeepSeek ``<｜fim▁begin｜>P<｜fim▁hole｜>S<｜fim▁end｜>``
- Codestral, suffix first: ``[SUFFIX]S[PREFIX]P``

Text before the prefix sentinel (repository name, other files) is returned as ``context``; text after the
middle sentinel is the part of the middle the user already typed, returned as ``typed``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    name: str
    prefix: str
    suffix: str
    middle: str | None  # None: no middle sentinel (the middle starts at the end of the prompt)
    suffix_first: bool = False
    padded: bool = False  # CodeLlama: one space after <PRE>, one before <SUF> and <MID>


FAMILIES: tuple[Family, ...] = (
    Family("qwen", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),
    Family("starcoder", "<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
    Family("codellama", "<PRE>", "<SUF>", "<MID>", padded=True),
    Family("deepseek", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"),
    Family("codestral", "[PREFIX]", "[SUFFIX]", None, suffix_first=True),
)
FAMILY_NAMES = tuple(f.name for f in FAMILIES)

# Trailing end-of-text markers some templates append after the middle sentinel; never part of the code.
_END_MARKERS = ("<|endoftext|>", "<EOT>", "</s>")


@dataclass(frozen=True)
class FimPrompt:
    prefix: str  # includes the typed part of the middle; what the hole continues
    suffix: str
    family: str
    context: str = ""  # text before the first sentinel
    typed: str = ""  # text after the middle sentinel (already in prefix)


def render(family: str, prefix: str, suffix: str) -> str:
    """The prompt a client would send for this family (inverse of ``parse`` for sentinel-free text)."""
    f = _family(family)
    if f.suffix_first:
        return f"{f.suffix}{suffix}{f.prefix}{prefix}"
    if f.padded:
        return f"{f.prefix} {prefix} {f.suffix}{suffix} {f.middle}"
    return f"{f.prefix}{prefix}{f.suffix}{suffix}{f.middle}"


def parse(prompt: str) -> FimPrompt | None:
    """Split a sentinel-bearing prompt into prefix and suffix; ``None`` when it carries no FIM sentinels."""
    best: tuple[int, Family] | None = None
    for f in FAMILIES:
        first = f.suffix if f.suffix_first else f.prefix
        at = prompt.find(first)
        if at < 0 or (f.suffix_first and prompt.find(f.prefix, at + len(first)) < 0):
            continue
        if best is None or at < best[0]:
            best = (at, f)
    if best is None:
        return None
    at, f = best
    context = prompt[:at]
    if f.suffix_first:
        rest = prompt[at + len(f.suffix):]
        cut = rest.find(f.prefix)
        suffix, prefix = rest[:cut], rest[cut + len(f.prefix):]
        return FimPrompt(prefix=prefix, suffix=suffix, family=f.name, context=context)
    rest = prompt[at + len(f.prefix):]
    s_at = rest.find(f.suffix)
    m_at = rest.find(f.middle) if f.middle else -1
    if s_at < 0:
        # "<fim_prefix>P<fim_middle>" (no suffix) or a prefix sentinel alone: an empty suffix
        prefix = rest[:m_at] if m_at >= 0 else rest
        typed = rest[m_at + len(f.middle):] if m_at >= 0 and f.middle else ""
        suffix = ""
    else:
        prefix = rest[:s_at]
        after = rest[s_at + len(f.suffix):]
        m_at = after.find(f.middle) if f.middle else -1
        suffix, typed = (after[:m_at], after[m_at + len(f.middle):]) if m_at >= 0 else (after, "")
    if f.padded:
        prefix = prefix[1:] if prefix.startswith(" ") else prefix
        prefix = prefix[:-1] if s_at >= 0 and prefix.endswith(" ") else prefix
        suffix = suffix[:-1] if suffix.endswith(" ") else suffix
    for marker in _END_MARKERS:
        if typed.endswith(marker):
            typed = typed[: -len(marker)]
    return FimPrompt(prefix=prefix + typed, suffix=suffix, family=f.name, context=context, typed=typed)


def _family(name: str) -> Family:
    for f in FAMILIES:
        if f.name == name:
            return f
    raise ValueError(f"unknown FIM family {name!r}; choose one of {', '.join(FAMILY_NAMES)}")


def sentinels() -> tuple[str, ...]:
    """Every sentinel string of every family."""
    out: list[str] = []
    for f in FAMILIES:
        out += [f.prefix, f.suffix] + ([f.middle] if f.middle else [])
    return tuple(out)
