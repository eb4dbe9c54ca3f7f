"""Where a gap's first line starts: indentation guesses and the rule for the canvas' first token.

A gap at a line start (the cursor on an empty line, or a whole removed line) needs a statement at some
indentation; a small model left to itself often spends its canvas on newlines and spaces (an empty
answer) or guesses the depth wrong (CPython: "unexpected indent"). So such a gap is decoded from each
likely indentation (``indent_guesses``): the indentation goes into the prefix, split the way the byte-level
BPE splits it in running text (``Lead``: ``"\\n" + 7 spaces`` then ``" return"``), and the canvas' first
token must then be content (``first_token_allowed``): never ``<eos>``, a newline or more whitespace.

The same rule covers an editor's other two line-start layouts: the indentation already typed (Vim's
autoindent: the cursor after spaces only, nothing after it) is a lead of its own, and the cursor at the end
of a block header with no body yet (``def f(x):|``) gets the body's newline and indentation as its lead.

A line at a ``try:`` block's own depth right after its body can only be ``except`` or ``finally``: such a
lead's first token must begin one of them (``required_words``); the small model otherwise writes another
statement there.

A line followed by a deeper one must open that block. A small model rarely writes the header's ``:``
unprompted (``n = x`` where ``while n is not None:`` belonged), so such a lead also carries a ``tail``
(``header_tail``): the ``:`` joins the suffix while decoding and ends the middle, and the model fills the
header before it. The other way to open a deeper line, a bracket left open, is the same lead without it;
it goes first instead when the deeper lines close a bracket they never opened (``closes_bracket``).
"""

from __future__ import annotations

import io
import tokenize
from dataclasses import dataclass, replace

import torch

OPENERS = (":", "(", "[", "{", ",", "\\")  # a line ending so may be followed by a deeper one
PROBE = "x"  # a word to tokenise after the indentation: shows where the BPE puts the boundary


@dataclass(frozen=True)
class Lead:
    """``text`` joins the prefix (the indentation minus what the first content token carries);
    ``start`` is what the first canvas token must begin with (" " or "") before a non-space byte."""

    text: str
    start: str
    tail: str = ""  # the middle ends with this (a block header's ":"), put before the suffix while decoding
    words: tuple[str, ...] = ()  # the first token must begin one of these keywords (``required_words``)


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _code_lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip() and not line.lstrip().startswith("#")]


def at_line_start(prefix: str) -> bool:
    return not prefix or prefix.endswith("\n")


def indent_guesses(prefix: str, suffix: str, limit: int = 3) -> list[str]:
    """Likely indentations of a line-start gap, best first: one level deeper than a previous line ending
    in ``:`` (first when the next code line is two levels deeper: the gap is a header), the next code
    line's (not when it is deeper than a previous line that opens nothing: the gap
    must then open that block, at most at the previous line's depth), the previous code line's, then the
    enclosing blocks' (each shallower prefix line going back, nearest first: a dedent to ``except:`` or to
    the top level); duplicates once. Empty unless the gap starts a line."""
    if not at_line_start(prefix):
        return []
    before, after = _code_lines(prefix), _code_lines(suffix)
    prev = before[-1] if before else None
    nxt = after[0] if after else None
    guesses = []
    if prev is not None and prev.split("#", 1)[0].rstrip().endswith(":"):
        unit = "\t" if _indent(prev).startswith("\t") else "    "
        deeper = _indent(prev) + unit
        if nxt is not None and len(_indent(nxt)) >= len(deeper) + len(unit):
            guesses.append(deeper)  # two levels deeper next: the gap is most likely a header one level in
        if nxt is not None and len(_indent(nxt)) > len(_indent(prev)):
            deeper = _indent(nxt)  # the block's own depth, as its next line shows
        guesses.append(deeper)
    opens = prev is not None and prev.split("#", 1)[0].rstrip().endswith(OPENERS)
    if nxt is not None and (prev is None or opens or len(_indent(nxt)) <= len(_indent(prev))):
        guesses.append(_indent(nxt))  # deeper after a line that opens nothing: the gap must open it
    if prev is not None:
        guesses.append(_indent(prev))
    depth = len(_indent(prev)) if prev is not None else 0
    for line in reversed(before):
        if len(_indent(line)) < depth:
            depth = len(_indent(line))
            guesses.append(_indent(line))
        if depth == 0 or len(dict.fromkeys(guesses)) >= limit:
            break
    if not guesses:
        guesses.append("")
    return list(dict.fromkeys(guesses))[:limit]


def header_tail(suffix: str, indent: str) -> str:
    """``":"`` when the suffix's next code line is deeper than ``indent`` (a line there opens a block), with
    the line end when the suffix starts on the next line; else ``""``."""
    after = _code_lines(suffix)
    if not after or len(_indent(after[0])) <= len(indent):
        return ""
    return ":" if suffix.startswith(("\n", "\r\n")) else ":\n"


def closes_bracket(suffix: str, indent: str) -> bool:
    """The suffix's lines deeper than ``indent`` (up to the next one that is not) close a bracket they never
    opened: the gap's line opens it (``logger.warning(``), rather than a block."""
    lines = []
    for line in suffix.split("\n"):
        if line.strip() and not line.lstrip().startswith("#") and len(_indent(line)) <= len(indent) and lines:
            lines.append(line)  # the closer may begin the line that returns to the gap's depth (``)``)
            break
        lines.append(line)
    depth = -1  # inside an opening "(" of our own: the tokenizer then skips indentation rules
    try:
        for token in tokenize.generate_tokens(io.StringIO("(" + "\n".join(lines) + "\n").readline):
            if token.type == tokenize.OP and token.string in ")]}":
                depth -= 1
                if depth < 0:
                    return True
            elif token.type == tokenize.OP and token.string in "([{":
                depth += 1
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return False


def split_lead(tokenizer, indent: str) -> Lead:
    """Split ``indent`` as the tokenizer does before a word: GPT-2-style BPE keeps the last space with the
    word (``"        x"`` -> ``"       "``, ``" x"``); tabs stay whole."""
    ids = tokenizer.encode(indent + PROBE)
    last = tokenizer.decode(ids[-1:])
    start = last[: -len(PROBE)] if last.endswith(PROBE) else ""
    if not indent.endswith(start):
        start = ""
    return Lead(text=indent[: len(indent) - len(start)], start=start)


def first_token_allowed(tokenizer, start: str, words: tuple[str, ...] = ()) -> torch.Tensor:
    """[V] bool: tokens that begin with ``start`` and then a non-whitespace byte (special tokens never); with
    ``words``, only those whose rest begins one of the words (or is a word and then a non-word byte)."""
    prefix = start.encode("utf-8")
    wanted = [w.encode("utf-8") for w in words]
    special = set(tokenizer.special_ids)
    allowed = torch.zeros(tokenizer.vocab_size, dtype=torch.bool)
    for i, data in enumerate(tokenizer.token_bytes):
        if i in special or not data.startswith(prefix) or len(data) <= len(prefix):
            continue
        rest = data[len(prefix):]
        if wanted:
            allowed[i] = any(w.startswith(rest) or (rest.startswith(w) and not _word_byte(rest[len(w):len(w) + 1]))
                             for w in wanted)
        else:
            allowed[i] = rest[:1] not in (b" ", b"\t", b"\n", b"\r", b"\x0b", b"\x0c")
    return allowed


def _word_byte(byte: bytes) -> bool:
    return byte.isalnum() or byte == b"_"


def required_words(prefix: str, indent: str) -> tuple[str, ...]:
    """``("except", "finally")`` when a line at ``indent`` would follow the body of a ``try:`` at that
    depth (nothing else may), else ``()``."""
    lines = _code_lines(prefix)
    for k in range(len(lines) - 1, -1, -1):
        depth = len(_indent(lines[k]))
        if depth <= len(indent):  # the try's body (deeper lines) must come between it and the gap
            is_try = depth == len(indent) and lines[k].split("#", 1)[0].strip() == "try:"
            return ("except", "finally") if is_try and k < len(lines) - 1 else ()
    return ()


def typed_indent(prefix: str, suffix: str) -> str | None:
    """The indentation before the cursor when the cursor's line holds only that and nothing after it."""
    before = prefix[prefix.rfind("\n") + 1:]
    if not prefix or not before or before.strip() or suffix.split("\n", 1)[0].strip():
        return None
    return before


def body_after_header(prefix: str, suffix: str) -> str | None:
    """The cursor at the end of a block header whose block has no body yet (``def f(x):|``, no deeper line
    next): the body's first line needs code, one level in; else None."""
    line = prefix[prefix.rfind("\n") + 1:]
    if suffix.split("\n", 1)[0].strip() or not line.split("#", 1)[0].rstrip().endswith(":"):
        return None
    after = _code_lines(suffix)
    if after and len(_indent(after[0])) > len(_indent(line)):
        return None  # the block has its body: nothing is missing here
    return _indent(line) + ("\t" if _indent(line).startswith("\t") else "    ")


def gap_leads(tokenizer, prefix: str, suffix: str) -> tuple[list[Lead], list[Lead]]:
    """How a gap that needs a statement starts (and, before a deeper line, ends): leads best first, and
    the tailed ones once more without the tail (a bracket left open; or, when the deeper lines close a
    bracket, the untailed leads first and the tailed ones second), for the infiller to try after them."""
    typed = typed_indent(prefix, suffix)
    header = body_after_header(prefix, suffix)
    if typed is not None:
        leads = [Lead("", "")]
        indents = [typed]
    elif header is not None:
        leads = [split_lead(tokenizer, "\n" + header)]
        indents = [header]
    else:
        indents = indent_guesses(prefix, suffix)
        leads = [split_lead(tokenizer, g) for g in indents]
    leads = [replace(lead, words=required_words(prefix, indent)) for lead, indent in zip(leads, indents)]
    tails = [header_tail(suffix, indent) for indent in indents]
    first = next((i for i, t in enumerate(tails) if t), None)
    if first is not None and closes_bracket(suffix, indents[first]):
        return leads, [replace(lead, tail=t) for lead, t in zip(leads, tails) if t]  # a bracket opens here
    tailed = [replace(lead, tail=t) for lead, t in zip(leads, tails)]
    return tailed, [lead for lead, t in zip(leads, tails) if t]
