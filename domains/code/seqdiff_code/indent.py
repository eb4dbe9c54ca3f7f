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
header before it, beginning with a keyword a header there may begin with (``header_words``: ``else`` only
after a block it may continue, only ``try`` before an ``except`` at the gap's depth). The other way to
open a deeper line, a bracket left open, is the same lead without the tail. When the deeper lines close a
bracket they never opened (``unopened_bracket``) that way goes first, its opener as the tail
(``logger.warning(``; a header's keywords when the closing line ends in ``:``, ``for m in sorted(``).

Depths are read from statements, not lines (``scan_prefix``, Python's tokenizer): the continuation lines
of a call or a docstring say nothing of the block depth. A gap inside a bracket the prefix left open needs
no depth and opens no block; the line that closes the bracket is its last lead.
"""

from __future__ import annotations

import functools
import io
import re
import tokenize
from dataclasses import dataclass, replace

import torch

OPENERS = (":", "(", "[", "{", ",", "\\")  # a line ending so may be followed by a deeper one
PROBE = "x"  # a word to tokenise after the indentation: shows where the BPE puts the boundary
STATEMENT_WINDOW = 80  # prefix lines the tokenizer reads for statement starts (~1 ms)
CLOSERS = {"(": ")", "[": "]", "{": "}"}
STANDALONE = frozenset({"else", "try", "finally", "except"})  # header keywords that need nothing after them
# a line at column 0 that reads as a statement, not as a docstring's prose
STATEMENT_START = re.compile(r"(def|class|async|import|from|if|for|while|try|with)\b|@|[A-Za-z_][\w.]*\s*[=(\[]")


@dataclass(frozen=True)
class Lead:
    """``text`` joins the prefix (the indentation minus what the first content token carries);
    ``start`` is what the first canvas token must begin with (" " or "") before a non-space byte."""

    text: str
    start: str
    tail: str = ""  # the middle ends with this (a block header's ":"), put before the suffix while decoding
    words: tuple[str, ...] = ()  # the first token must begin one of these keywords (``required_words``)
    code: bool = False  # the first token begins a statement, not a comment (a block's missing body)

    @property
    def needs_more(self) -> bool:
        """A header's keyword that cannot stand alone (``while n:``, not ``while:``; ``else:`` may)."""
        return bool(self.words and self.tail.startswith(":") and not set(self.words) & STANDALONE)


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _code_lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip() and not line.lstrip().startswith("#")]


@dataclass(frozen=True)
class PrefixScan:
    """What Python's tokenizer tells of a prefix's end: its code lines with each multi-line statement
    joined into one line at its first line's indentation (the lines inside its brackets or strings say
    nothing of the block depth: ``def f(a,`` then ``b):`` opens a block one level in from ``def``), and
    the closers of the brackets still open at its end (a gap inside a call or a list)."""

    statements: tuple[str, ...]
    continued: bool = False  # the prefix ends inside a statement: in a bracket, or after a backslash
    open_closers: str = ""  # innermost first: ")]" for ``f([``
    open_indent: str = ""  # the indentation of the statement those brackets belong to
    string_lines: int | None = None  # the prefix ends inside a string that began this many lines back


@functools.lru_cache(maxsize=16)  # one request asks for the same prefix once per indentation guess
def scan_prefix(prefix: str, window: int = STATEMENT_WINDOW) -> PrefixScan:
    """The tokenizer reads the whole prefix, or its last ``window`` lines from the first one that looks like
    a top-level statement (``STATEMENT_START``: it must not start inside a docstring; the nearest one
    before the window when there is none in it); plain code lines where it cannot read them, or where a
    string or bracket is left open (its closers, or where the string began, are kept).

    An editor's window (llama.vim: 256 lines before the cursor) may begin inside a docstring; read from its
    first line, every triple quote then flips, and a closing ``\"\"\"`` of a one-line docstring reads as an
    opening one that never ends. A string "opened" on a line where the same triple quote already stood
    is read that way, so the prefix is read again from the line after its first odd triple quote."""
    lines = prefix.split("\n")
    cut = max(0, len(lines) - window)
    # from the window's first statement-like line, else the last one before it (a long class), else the top
    starts = (i for i in [*range(cut, len(lines)), *range(cut - 1, -1, -1)] if STATEMENT_START.match(lines[i]))
    start = 0 if cut == 0 else next(starts, 0)
    scan, opened = _scan_from(lines, start)
    if opened is not None and _closed_before(lines[start + opened[0] - 1], opened[1]):
        flip = next((i for i in range(start, len(lines)) if _odd_triple_quotes(lines[i])), None)
        if flip is not None and flip + 1 < len(lines):
            again, reopened = _scan_from(lines, flip + 1)
            if reopened is None or not _closed_before(lines[flip + reopened[0]], reopened[1]):
                return again
    return scan


def _scan_from(lines: list[str], start: int) -> tuple[PrefixScan, tuple[int, int] | None]:
    """``scan_prefix`` read from ``lines[start]``, and where (row from there, column) a string left open
    began, or None. A first line inside a block (an editor's window) gets stand-in lines at the shallower
    depths the later lines return to, so the tokenizer's indentation stack holds them."""
    plain = PrefixScan(tuple(_code_lines("\n".join(lines))))
    body = lines[start:]
    stand_in = _stand_in_levels(body)
    spans, row, stack = [], None, []  # spans: (first row, last row) of each statement in body
    try:
        for token in tokenize.generate_tokens(io.StringIO("\n".join(stand_in + body)).readline):
            if token.type in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
                continue
            if token.start[0] <= len(stand_in):
                continue
            if token.type == tokenize.OP and token.string in CLOSERS:
                stack.append(CLOSERS[token.string])
            elif token.type == tokenize.OP and token.string in ")]}" and stack:
                stack.pop()
            if token.type == tokenize.NEWLINE:
                if row is not None:
                    spans.append((row, token.start[0] - len(stand_in)))
                row = None
            elif row is None:
                row = token.start[0] - len(stand_in)
    except tokenize.TokenError as err:
        if "string" in str(err.args[0]):  # "EOF in multi-line string", args[1]: where the string began
            opened = (err.args[1][0] - len(stand_in), err.args[1][1])
            return replace(plain, string_lines=len(body) - opened[0]), opened
        if row is None:
            return plain, None
        return replace(plain, continued=True, open_closers="".join(reversed(stack)),
                       open_indent=_indent(body[row - 1])), None
    except (IndentationError, SyntaxError):
        return plain, None
    joined = [" ".join([body[a - 1].rstrip()] + [line.strip() for line in body[a: b]]) for a, b in spans]
    return PrefixScan(tuple(_code_lines("\n".join(lines[:start])) + joined)), None


def _stand_in_levels(body: list[str]) -> list[str]:
    """A line at each depth shallower than the first code line's that a later line has (spaces only)."""
    code = [line for line in body if line.strip() and not line.lstrip().startswith("#")]
    if not code or "\t" in "".join(_indent(line) for line in code):
        return []
    first = len(_indent(code[0]))
    shallower = {len(_indent(line)) for line in code} - {0}
    return [" " * depth + "x" for depth in sorted(shallower) if depth < first]


def _closed_before(line: str, column: int) -> bool:
    """The triple quote a string opens with at ``column`` (after its r/b/f prefix) already stands before it."""
    body = line[column:].lstrip("rRbBfFuU")
    quote = body[:3]
    return quote in ('"""', "'''") and quote in line[:column]


def _odd_triple_quotes(line: str) -> bool:
    return (line.count('"""') + line.count("'''")) % 2 == 1


def _unit(line: str) -> str:
    """One indentation level in the line's own style."""
    return "\t" if _indent(line).startswith("\t") else "    "


def at_line_start(prefix: str) -> bool:
    return not prefix or prefix.endswith("\n")


def indent_guesses(prefix: str, suffix: str, limit: int = 3) -> list[str]:
    """Likely indentations of a line-start gap, best first: one level deeper than a previous line ending
    in ``:`` (first when the next code line is two levels deeper: the gap is a header), the next code
    line's (not when it is deeper than a previous line that opens nothing: the gap
    must then open that block, at most at the previous line's depth; one level out of it first when the
    next lines close a bracket they never opened: its hanging indent), the previous code line's, then the
    enclosing blocks' (each shallower prefix line going back, nearest first: a dedent to ``except:`` or to
    the top level); duplicates once. Empty unless the gap starts a line."""
    if not at_line_start(prefix):
        return []
    before, after = list(scan_prefix(prefix).statements), _code_lines(suffix)
    prev = before[-1] if before else None
    nxt = after[0] if after else None
    guesses = []
    if prev is not None and prev.split("#", 1)[0].rstrip().endswith(":"):
        unit = _unit(prev)
        deeper = _indent(prev) + unit
        if nxt is not None and len(_indent(nxt)) >= len(deeper) + len(unit):
            guesses.append(deeper)  # two levels deeper next: the gap is most likely a header one level in
        if nxt is not None and len(_indent(nxt)) > len(_indent(prev)):
            deeper = _indent(nxt)  # the block's own depth, as its next line shows
        guesses.append(deeper)
    opens = prev is not None and prev.split("#", 1)[0].rstrip().endswith(OPENERS)
    if nxt is not None and (prev is None or opens or len(_indent(nxt)) <= len(_indent(prev))):
        hanging = _indent(nxt)[: -len(_unit(nxt))] if _indent(nxt) else None
        if not opens and hanging is not None and unopened_bracket(suffix, hanging) is not None:
            guesses.append(hanging)  # the next lines are a bracket's hanging indent: the gap opens it a level out
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


@dataclass(frozen=True)
class Opening:
    """A bracket the suffix's deeper lines close without opening it: the gap's line opens it."""

    opener: str
    header: bool  # the line that closes it ends a block header (``for m in sorted(`` ... ``):``)


def unopened_bracket(suffix: str, indent: str) -> Opening | None:
    """The bracket the suffix's lines deeper than ``indent`` (up to the next one that is not) close without
    opening it: the gap's line opens it (``logger.warning(``), rather than a block; else None."""
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
                    opener = next(o for o, c in CLOSERS.items() if c == token.string)
                    return Opening(opener, token.line.split("#", 1)[0].rstrip().endswith(":"))
            elif token.type == tokenize.OP and token.string in "([{":
                depth += 1
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return None


def split_lead(tokenizer, indent: str, probe: str = PROBE) -> Lead:
    """Split ``indent`` as the tokenizer does before ``probe`` (a word): GPT-2-style BPE keeps the last space
    with the word (``"        x"`` -> ``"       "``, ``" x"``); tabs stay whole."""
    ids = tokenizer.encode(indent + probe)
    last = tokenizer.decode(ids[-1:])
    start = last[: -len(probe)] if last.endswith(probe) else ""
    if not indent.endswith(start):
        start = ""
    return Lead(text=indent[: len(indent) - len(start)], start=start)


def first_token_allowed(tokenizer, start: str, words: tuple[str, ...] = (), code: bool = False) -> torch.Tensor:
    """[V] bool: tokens that begin with ``start`` and then a non-whitespace byte (with ``code``, nor ``#``:
    no comment); special tokens never. With ``words``, only those that are a word and then a non-word byte,
    or the first token of a word's own encoding when the BPE splits it (``" i"`` is no way to begin
    ``if``: the BPE writes ``" if"``)."""
    prefix = start.encode("utf-8")
    wanted = [w.encode("utf-8") for w in words]
    special = set(tokenizer.special_ids)
    allowed = torch.zeros(tokenizer.vocab_size, dtype=torch.bool)
    for i, data in enumerate(tokenizer.token_bytes):
        if i in special or not data.startswith(prefix) or len(data) <= len(prefix):
            continue
        rest = data[len(prefix):]
        if wanted:
            allowed[i] = any(rest.startswith(w) and not _word_byte(rest[len(w):len(w) + 1]) for w in wanted)
        else:
            allowed[i] = rest[:1] not in (b" ", b"\t", b"\n", b"\r", b"\x0b", b"\x0c") + ((b"#",) if code else ())
    for word in words:  # a word the BPE splits: its first piece, as the BPE writes it before a space
        ids = tokenizer.encode(start + word + " x")
        if ids and ids[0] not in special and tokenizer.token_bytes[ids[0]].startswith(prefix):
            allowed[ids[0]] = True
    return allowed


def _word_byte(byte: bytes) -> bool:
    return byte.isalnum() or byte == b"_"


def required_words(prefix: str, indent: str) -> tuple[str, ...]:
    """``("except", "finally")`` when a line at ``indent`` would follow the body of a ``try:`` at that
    depth (nothing else may), else ``()``."""
    lines = list(scan_prefix(prefix).statements)
    for k in range(len(lines) - 1, -1, -1):
        depth = len(_indent(lines[k]))
        if depth <= len(indent):  # the try's body (deeper lines) must come between it and the gap
            is_try = depth == len(indent) and lines[k].split("#", 1)[0].strip() == "try:"
            return ("except", "finally") if is_try and k < len(lines) - 1 else ()
    return ()


COMPOUND = ("if", "for", "while", "with", "def", "class", "try", "async", "match")  # may open a block anywhere
# a clause that continues a compound statement: the headers whose block it may follow at the same depth
CONTINUES = {"elif": ("if", "elif"), "else": ("if", "elif", "for", "while", "try", "except", "async"),
             "except": ("try", "except"), "finally": ("try", "except", "else")}


def _first_word(line: str) -> str:
    word = line.lstrip()
    end = next((i for i, ch in enumerate(word) if not (ch.isalnum() or ch == "_")), len(word))
    return word[:end]


def header_words(prefix: str, suffix: str, indent: str) -> tuple[str, ...]:
    """The keywords a block header at ``indent`` may begin with (a line there ends in ``:`` before deeper
    lines: a compound statement). ``elif``/``else``/``except``/``finally`` only right after a block at that
    depth that they may continue (a header at ``indent`` with deeper lines after it); ``try`` only when the
    gap's block is followed at its depth by ``except`` or ``finally``, and then only the headers such a
    clause may follow; ``match`` exactly when the block's first line is a ``case``; only ``def`` when the
    block returns and no function encloses it. The small model otherwise writes ``else:`` after a plain
    statement, ``try:`` with no ``except``, or ``class F:`` over a ``return``."""
    before = list(scan_prefix(prefix).statements)
    words = [w for w in COMPOUND if w not in ("try", "match")]
    for k in range(len(before) - 1, -1, -1):
        depth = len(_indent(before[k]))
        if depth <= len(indent):
            if depth == len(indent) and k < len(before) - 1:  # a header here, its block between it and the gap
                words += [w for w, after in CONTINUES.items() if _first_word(before[k]) in after]
            break
    after = _code_lines(suffix)
    if after and _first_word(after[0]) == "case":
        return ("match",)
    block = next((i for i, line in enumerate(after) if len(_indent(line)) <= len(indent)), None)
    body = [line for line in after[:block] if after and len(_indent(line)) == len(_indent(after[0]))]
    if any(_first_word(line) == "return" for line in body) and not _in_function(before, indent):
        words = [w for w in words if w in ("def", "async")]  # a return in the block: only a function holds it
    if block is not None and len(_indent(after[block])) == len(indent) and block > 0:
        follows = CONTINUES.get(_first_word(after[block]))
        if follows is not None:
            words = [w for w in words + ["try"] if w in follows]
    return tuple(words)


def needs_body(prefix: str, suffix: str) -> bool:
    """The prefix's last statement is a block header and the suffix's next code line is not deeper: the gap
    must hold that block's first statement (a comment is no body)."""
    before, after = scan_prefix(prefix).statements, _code_lines(suffix)
    if not before or not before[-1].split("#", 1)[0].rstrip().endswith(":"):
        return False
    return not after or len(_indent(after[0])) <= len(_indent(before[-1]))


def _in_function(before: list[str], indent: str) -> bool:
    """A ``def`` encloses a line at ``indent`` after these statements (each shallower one going back)."""
    depth = len(indent)
    for line in reversed(before):
        if len(_indent(line)) < depth:
            depth = len(_indent(line))
            if _first_word(line) in ("def", "async") and "def" in line.split("(", 1)[0].split():
                return True
    return False


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
    return _indent(line) + _unit(line)


def gap_leads(tokenizer, prefix: str, suffix: str) -> tuple[list[Lead], list[Lead]]:
    """How a gap that needs a statement starts (and, before a deeper line, ends): leads best first, and the
    leads for the infiller to try after them: the tailed ones once more without the tail (a bracket left
    open) or, when the deeper lines close a bracket, the opener-tailed leads first and, later, the same
    leads bare and with a header's ``:``; inside an open bracket, the guesses and then the closer."""
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
    body = needs_body(prefix, suffix)
    leads = [replace(lead, words=required_words(prefix, indent), code=body) for lead, indent in zip(leads, indents)]
    scan = scan_prefix(prefix)
    inside = scan.continued and typed is None and header is None  # lines need no depth and open no block
    tails = [header_tail(suffix, indent) for indent in indents]
    headers = [_as_header(lead, header_words(prefix, suffix, indent)) if tail else lead
               for lead, indent, tail in zip(leads, indents, tails)]
    first = next((i for i, t in enumerate(tails) if t), None)
    opening = unopened_bracket(suffix, indents[first]) if first is not None else None
    if opening is not None and inside and scan.open_closers[:1] == CLOSERS[opening.opener]:
        opening = None  # the suffix closes the prefix's own bracket (a call's last argument line)
    closing = _closing_leads(tokenizer, scan, leads, suffix) if inside else []
    if opening is not None:  # a bracket opens here: its opener ends the middle, the model writes what precedes it
        end = opening.opener + ("" if suffix.startswith(("\n", "\r\n")) else "\n")
        opened = [replace(h if opening.header and not inside else lead, tail=end) if t else lead
                  for lead, h, t in zip(leads, headers, tails)]
        colon = [] if inside else [replace(h, tail=t) for h, t in zip(headers, tails) if t]
        return opened, [lead for lead, t in zip(leads, tails) if t] + colon + closing
    if inside:
        return leads, closing
    tailed = [replace(h, tail=t) for h, t in zip(headers, tails)]
    return tailed, [lead for lead, t in zip(leads, tails) if t]


def _closing_leads(tokenizer, scan: PrefixScan, leads: list[Lead], suffix: str) -> list[Lead]:
    """Inside a bracket the prefix left open, the gap may be the line that closes it (a removed ``)`` or
    ``b)`` line): the first lead with the closer as its tail (the model writes the last items), then the
    closer alone at its statement's indentation. None of them when the suffix closes the bracket itself (the
    gap is one more item of a table: the closer there would end it early)."""
    if not scan.open_closers or _closes(suffix, scan.open_closers):
        return []
    closer = scan.open_closers[0]
    alone = replace(split_lead(tokenizer, scan.open_indent, probe=closer), words=(closer,))
    end = closer + ("" if suffix.startswith(("\n", "\r\n")) else "\n")
    return ([replace(leads[0], tail=end)] if leads else []) + [alone]


def _closes(suffix: str, closers: str) -> bool:
    """The suffix closes every bracket ``closers`` stands for (innermost first), read by the tokenizer."""
    openers = "".join(next(o for o, c in CLOSERS.items() if c == closer) for closer in reversed(closers))
    depth = 0  # the openers' own tokens count it up first
    try:
        for token in tokenize.generate_tokens(io.StringIO(openers + "\n" + suffix).readline):
            if token.type == tokenize.OP and token.string in ")]}":
                depth -= 1
                if depth == 0:
                    return True
            elif token.type == tokenize.OP and token.string in "([{":
                depth += 1
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return False


def _as_header(lead: Lead, words: tuple[str, ...]) -> Lead:
    """A header lead: its first word one of ``words``, within the lead's own rule (``required_words``)."""
    return replace(lead, words=tuple(w for w in words if not lead.words or w in lead.words) or lead.words)
