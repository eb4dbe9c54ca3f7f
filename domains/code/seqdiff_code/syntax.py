"""Validity of an infilled middle: the language's own parser decides, tree-sitter points at the tokens.

A small tree-sitter language registry: ``register_language(name, loader, extensions)`` where ``loader()``
returns a ``tree_sitter.Language`` (grammar packages such as ``tree-sitter-javascript`` ship offline and
expose ``language()``). Python is registered by default. ``syntax_errors(text, language="python")`` lists
the ERROR nodes (innermost ones) and MISSING nodes as byte spans ``(start, end, kind)``.

tree-sitter-python accepts code CPython rejects (a missing indent after ``if x:``, an unindent that
matches no outer level), so for Python ``MiddleJudge`` asks CPython (``compile(..., "exec")``, never
executed) and uses tree-sitter only for the spans to re-mask; languages without an in-process parser get
tree-sitter alone. Attribution of CPython's (single, first) error to the middle:

* the *seam* is the lines from the last non-blank prefix line to the first code line of the suffix (blank
  and comment-only lines skipped: CPython reports a missing block body at the next statement): an error
  there, or inside the middle, is the middle's fault (e.g. "expected an indented block" after an empty
  middle is reported on the seam);
* an error in the prefix is not the middle's fault when ``prefix + suffix`` (no middle) has the same error
  at the same line (an editor's context that starts mid-block), unless it is a bracket or string opened
  within ``NEAR_OPENER_LINES`` of the gap that nothing closes: the middle may be the line that closes it
  (a prefix that ends inside such a string excuses no shared error: one at the window's start, far from
  the gap, is read from the rebased window instead, ``MiddleJudge.rebased``); in the suffix, only when it is also one
  that a cut-off end of the text causes (a bracket or string never closed, an unexpected end of file)
  — an editor sends the next 64 lines, not the file — since a middle is often what the rest of the
  suffix needs (an ``except:`` line removed is reported lines later). CPython stops at its first error,
  so then it cannot judge the middle: the construct the window's end cut off (a bracket, a string the
  suffix began, a header, a ``try``) is ended by stand-ins and the text judged again
  (``MiddleJudge._judge``; never one the middle began or a string the prefix began, nor a bracket or
  ``try`` the prefix began near the gap unless the suffix runs as far: the text may be the file's end
  and the middle its close);
  failing that, with the suffix cut back to before its last statement at its shallowest indentation
  (``short_suffix``), and only if that cannot be done does tree-sitter's verdict on the middle stand;
* any other error is the middle's fault (the middle changed how the context parses).

An empty, whitespace-only or comment-only middle (a comment always compiles: the constraint's easy way
out, and no answer to an editor; inside a string a ``#`` line is text) where a statement is expected —
the cursor at the start of a line, or on a line that holds only indentation and nothing after the cursor
— is an error of kind ``EMPTY``.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Callable


@dataclass(frozen=True)
class ErrorSpan:
    start: int  # byte offset in the parsed text
    end: int  # exclusive; == start for a MISSING node
    kind: str  # "ERROR" or "MISSING <type>"


@dataclass(frozen=True)
class StandInEnding:
    """Text to append where a window stops inside a construct (``_stand_in_ending``)."""
    texts: tuple[str, ...]  # alternatives, the first that parses up to where it begins is kept
    line: int  # the line that began the construct
    string: bool = False  # it ends a triple-quoted string


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
    """CPython compiles the text (stricter than tree-sitter about indentation; nothing is executed)."""
    return _python_error(text) is None


def _python_error(text: str, flags: int = 0) -> SyntaxError | None:
    """CPython's first error compiling ``text`` (compile only, nothing runs), or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(text, "<infill>", "exec", flags=flags, dont_inherit=True)
        return None
    except SyntaxError as err:
        return err
    except (ValueError, RecursionError, MemoryError, OverflowError) as err:  # NUL bytes, too deep nesting
        return SyntaxError(str(err))


def _python_parse_error(text: str) -> SyntaxError | None:
    """CPython's parser alone (``ast.parse``): the grammar, indentation included, without the compiler's
    checks of where a statement stands (``return`` outside a function), which a rebased window's
    stand-in headers would trigger."""
    return _python_error(text, ast.PyCF_ONLY_AST)


IN_PROCESS_JUDGES: dict[str, Callable[[str], SyntaxError | None]] = {"python": _python_error}
REBASE_JUDGES: dict[str, Callable[[str], SyntaxError | None]] = {"python": _python_parse_error}
REBASE_LINES = 60  # prefix lines tried as a rebased window's first line
CONTINUING = {"except": "try:", "finally": "try:"}  # a stand-in header for a level whose first line continues one
STAND_IN_OPENERS = ('"""', "'''", "_ = (", "_ = [", "_ = {")  # a window that starts inside one of them
CUT_END_ERRORS = ("was never closed", "unterminated", "unexpected EOF", "expected an indented block")
CLOSERS = {"(": ")", "[": "]", "{": "}"}
MAX_ENDINGS = 4  # stand-in endings appended to one text (nested brackets, a string inside a call)
NEAR_OPENER_LINES = 30  # an editor's prefix window (256 lines) starts this far or farther from the gap


def _cut_end_error(message: str) -> bool:
    """CPython's messages for text that stops too early (what cutting a file's tail produces)."""
    return any(m in message for m in CUT_END_ERRORS)


def needs_code(prefix: str, suffix: str) -> bool:
    """An empty middle is no answer here: the cursor is at a line start, or after indentation only on a
    line with nothing after the cursor."""
    before = prefix[prefix.rfind("\n") + 1:]
    after = suffix.split("\n", 1)[0]
    return not before.strip() and (not before or not after.strip())


def holds_code(middle: str) -> bool:
    """Some line of ``middle`` is more than whitespace and a comment (``#`` alone is no line of code)."""
    return any(line.strip() and not line.lstrip().startswith("#") for line in middle.split("\n"))


def answers_gap(middle: str, in_string: bool) -> bool:
    """What a gap that needs code must hold: code, or inside a string (a docstring's line) any text (a
    ``#`` there is prose)."""
    return holds_code(middle) or (in_string and bool(middle.strip()))


def _line_starts(text: str) -> list[int]:
    """Byte offset of each line start (index 0 = line 1), plus the end of the text."""
    starts, pos = [0], 0
    for line in text.encode("utf-8").splitlines(keepends=True):
        pos += len(line)
        starts.append(pos)
    return starts


def _last_nonblank_line(text: str) -> int:
    """1-based number of the last line of ``text`` with non-space content (0 if none)."""
    lines = text.split("\n")
    return max((i + 1 for i, line in enumerate(lines) if line.strip()), default=0)


class MiddleJudge:
    """Errors a middle causes between a fixed ``prefix`` and ``suffix`` (module docstring: attribution).
    Built once per request: the baselines (``prefix + suffix`` compiled and parsed) are made once, and
    only when a middle is rejected (a request whose first middle compiles never pays for them)."""

    def __init__(self, prefix: str, suffix: str, language: str = "python",
                 judge: Callable[[str], SyntaxError | None] | None = None, stand_in_lines: int = 0):
        self.prefix, self.suffix, self.language = prefix, suffix, language
        self.stand_in_lines = stand_in_lines  # a rebased window's stand-in header lines (``rebased``)
        self.rebased_from = judge is not None  # a rebased window's judge (``rebased``): never rebased again
        self.judge = judge or IN_PROCESS_JUDGES.get(language)
        self.require_code = needs_code(prefix, suffix)
        self.start_byte = len(prefix.encode("utf-8"))
        self.line_start = len(prefix[: prefix.rfind("\n") + 1].encode("utf-8"))
        self.prefix_lines = prefix.count("\n")  # the middle starts on line prefix_lines + 1
        self.seam_first = _last_nonblank_line(prefix) or 1
        first_suffix = next((i for i, line in enumerate(suffix.split("\n"))
                             if line.strip() and not line.lstrip().startswith("#")), suffix.count("\n"))
        self.seam_after = first_suffix  # suffix lines after the middle's last line up to its first code line
        # where the suffix's first code line ends: tree-sitter errors past it that prefix + suffix has too
        # (shifted by the middle) are the context's own
        lines = suffix.split("\n")
        self.suffix_seam_bytes = len("\n".join(lines[: first_suffix + 1]).encode("utf-8"))
        self._memo: dict[str, list[ErrorSpan]] = {}

    @cached_property
    def baseline(self):
        """Where CPython's error in ``prefix + suffix`` (no middle) lies, or None."""
        return self._where(self._judge(self.prefix + self.suffix, ""), 0) if self.judge else None

    @cached_property
    def baseline_tree(self) -> set[tuple[int, int, str]]:
        base = syntax_errors(self.prefix + self.suffix, self.language)
        return {(e.start - self.start_byte, e.end - self.start_byte, e.kind) for e in base
                if e.start >= self.start_byte + self.suffix_seam_bytes}

    @staticmethod
    def _cut_end(where) -> bool:
        return where is not None and where[0] == "suffix" and _cut_end_error(where[2])

    def _context_own(self, where) -> bool:
        """An error ``prefix + suffix`` has too that no middle is expected to mend: in the prefix, unless it is
        an opener near the gap that nothing closes (closing it may be the middle's job: a removed ``)``
        line); in the suffix, one a cut-off end causes."""
        side, line, message = where
        if self.in_near_string:
            return False  # the middle's line (or a later one) must end the string the prefix began
        if side == "prefix":
            return not (_cut_end_error(message) and line > self.prefix_lines - NEAR_OPENER_LINES)
        return side == "suffix" and _cut_end_error(message)

    @cached_property
    def string_lines(self) -> int | None:
        """The prefix ends inside a string (a docstring) that began this many lines back; None if not (or
        not Python: Python's tokenizer reads the prefix)."""
        if self.language != "python":
            return None
        from seqdiff_code.indent import scan_prefix

        return scan_prefix(self.prefix).string_lines

    @property
    def in_near_string(self) -> bool:
        """The prefix ends inside a string it began within ``NEAR_OPENER_LINES`` of the gap: an error
        ``prefix + suffix`` shares is then no excuse, since the removed line may be its end."""
        return self.string_lines is not None and self.string_lines < NEAR_OPENER_LINES

    @property
    def judges_the_gap(self) -> bool:
        """CPython reaches the gap: the prefix's whole lines parse (it may end cut off: a block or bracket
        left open, a line begun; asked first, as the cheap test, and because an unterminated string in the
        suffix is found before any grammar error), and ``prefix + suffix`` (its suffix cut back when it ends
        inside a construct) has no error before the gap but one the middle must mend (a bracket or string
        opened near it)."""
        alone = self.judge(self.prefix)
        if not (alone is None or _cut_end_error(alone.msg) or "expected 'except' or 'finally'" in alone.msg
                or (alone.lineno or 0) > self.prefix_lines):
            return False
        base = self.baseline
        if self._cut_end(base) and self.short_suffix is not None:
            base = self.short_baseline
        return base is None or base[0] != "prefix" or not self._context_own(base)

    @cached_property
    def rebased(self) -> tuple["MiddleJudge", int] | None:
        """An editor's window that starts mid-block (256 lines before the cursor: "unexpected indent" on its
        first line) stops CPython before it reaches the middle. Then the window is judged from its first
        line (within ``REBASE_LINES``) that, under stand-in headers opening every indentation level below it
        (``if 1:``, or ``try:`` where that level's first line is an ``except``), parses up to the gap, by
        CPython's parser alone (``_python_parse_error``); failing that, from its first line with a stand-in
        opener before it (the window starts inside a docstring or a bracket: ``STAND_IN_OPENERS``). Returns
        that judge and the byte shift of its text against this one's, or None (no such line, tabs, no
        parser-only judge)."""
        if REBASE_JUDGES.get(self.language) is None or self.rebased_from:
            return None
        lines, dropped, first = self.prefix.split("\n"), 0, None
        for cut in range(min(REBASE_LINES, len(lines) - 1)):
            line = lines[cut]
            if cut:
                dropped += len(lines[cut - 1].encode("utf-8")) + 1
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if "\t" in line:
                return None
            first = (cut, dropped) if first is None else first
            found = self._rebase_at(lines, cut, dropped, "")
            if found is not None:
                return found
        for opener in STAND_IN_OPENERS if first is not None else ():
            found = self._rebase_at(lines, *first, opener)
            if found is not None:
                return found
        return None

    def _rebase_at(self, lines: list[str], cut: int, dropped: int, opener: str):
        line = lines[cut]
        rest, depth = "\n".join(lines[cut:]), _indentation(line)
        start = " " * depth + opener + "\n" if opener else ""
        header = _stand_in_headers(depth, _line_levels(rest + self.suffix))  # every line's level
        if header is None or not self._stand_in(header + start, rest).judges_the_gap:
            return None
        # only the levels statements use (a docstring's or a call's lines are no level a middle may dedent
        # to), read by Python's tokenizer now that the window parses
        header = _stand_in_headers(depth, _statement_levels(header + start, rest + self.suffix)) + start
        judge = self._stand_in(header, rest)
        return (judge, len(header.encode("utf-8")) - dropped) if judge.judges_the_gap else None

    def _stand_in(self, header: str, rest: str) -> "MiddleJudge":
        return MiddleJudge(header + rest, self.suffix, self.language, judge=REBASE_JUDGES[self.language],
                           stand_in_lines=header.count("\n"))

    @cached_property
    def short_suffix(self) -> str | None:
        """The suffix without its last statement at its shallowest indentation (and what follows it): an
        editor's 64 lines often end inside a docstring or a call, and CPython stops there, reporting nothing
        about the middle. None when the suffix has no such statement after its first code line."""
        lines = self.suffix.split("\n")
        code = [i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")]
        if len(code) < 2:
            return None
        depth = min(len(lines[i]) - len(lines[i].lstrip()) for i in code)
        last = max(i for i in code if len(lines[i]) - len(lines[i].lstrip()) == depth)
        return "\n".join(lines[:last]) + "\n" if last > code[0] else None

    @cached_property
    def short_baseline(self):
        return self._where(self._judge(self.prefix + self.short_suffix, ""), 0)

    def _judge(self, text: str, middle: str) -> SyntaxError | None:
        """CPython's error for ``text`` (prefix, ``middle``, suffix), read past the
        window's cut-off end: an editor's 64 lines after the cursor often stop inside a literal, a
        docstring, a ``try`` or a call that began before the gap or after the middle, and then CPython's
        first error is that end and says nothing about the middle. Such an end is closed by stand-ins
        (``_stand_in_ending``) and judged again; the error returned is the first that is no such end (or
        None). A construct the middle opened is the middle's to close, and when a stand-in draws an
        error of its own the original error stands (the old reading: ``short_suffix``, tree-sitter)."""
        err = original = self.judge(text)
        first, last = self.prefix_lines + 1, self.prefix_lines + 1 + middle.count("\n")
        appended_from = text.count("\n") + (1 if text.endswith("\n") else 2)  # the first stand-in line
        found = None if err is None else _stand_in_ending(text, err)
        for _ in range(MAX_ENDINGS):
            if found is None or not self._may_end(found, first, last, middle):
                break
            for ending in found.texts:  # the first that parses up to where it begins (else the last)
                err = self.judge(text + ending)
                found = None if err is None else _stand_in_ending(text + ending, err)  # the next one
                if err is None or (err.lineno or 0) < appended_from or found is not None:
                    break
            text += ending
        if err is not None and (err.lineno or 0) >= appended_from:
            return original  # a stand-in itself does not parse there: nothing learnt
        return err

    def _may_end(self, ending: StandInEnding, first: int, last: int, middle: str) -> bool:
        """A stand-in may end the construct begun on ``ending.line``: not one the middle (lines first..last)
        began, nor a rebased window's own stand-in string (that the window closes it is what shows it
        right: anything parses inside a string); one the prefix began within ``NEAR_OPENER_LINES`` of the
        gap only when the suffix runs that far past the gap too (the middle may be its end where the text
        is the file's real end: the ``except`` of a ``try`` at a file's foot). A string only when the
        suffix began it, the prefix ends in none and the middle has no triple quotes: which quotes open a
        string and which close one is otherwise the middle's doing, and inside a string anything parses."""
        line = ending.line
        if ending.string:
            return line > last and self.string_lines is None and '"""' not in middle and "'''" not in middle
        if line <= self.stand_in_lines:  # a stand-in bracket the window parses inside up to its end is right
            return self.prefix.split("\n")[line - 1].endswith(tuple(CLOSERS))
        if first <= line <= last:
            return False
        return line > last or line <= first - NEAR_OPENER_LINES or self.suffix.count("\n") >= NEAR_OPENER_LINES

    def _where(self, err: SyntaxError | None, middle_lines: int):
        """(side, line relative to that side, message) of an error; side "seam" is always blamed."""
        if err is None:
            return None
        line = err.lineno or (self.prefix_lines + 1)
        first, last = self.seam_first, self.prefix_lines + 1 + middle_lines + self.seam_after
        if line < first:
            return "prefix", line, err.msg
        if line > last:
            return "suffix", line - (self.prefix_lines + 1 + middle_lines), err.msg
        return "seam", line, err.msg

    def errors(self, middle: str) -> list[ErrorSpan]:
        """The middle's errors; memoised per text (the validator and the ranking judge the same texts)."""
        if middle not in self._memo:
            self._memo[middle] = self._errors(middle)
        return list(self._memo[middle])

    def _errors(self, middle: str) -> list[ErrorSpan]:
        if self.require_code and not answers_gap(middle, self.string_lines is not None):
            return [ErrorSpan(self.start_byte, self.start_byte, "EMPTY")]
        full = self.prefix + middle + self.suffix
        err = self._judge(full, middle) if self.judge else None
        if self.judge is not None and err is None:
            return []  # CPython accepts: tree-sitter's spans are not needed
        shift = self.start_byte + len(middle.encode("utf-8"))
        tree = [e for e in relevant_errors(syntax_errors(full, self.language), self.start_byte, self.line_start)
                if (e.start - shift, e.end - shift, e.kind) not in self.baseline_tree]
        if self.judge is None:
            return tree
        where, baseline = self._where(err, middle.count("\n")), self.baseline
        if self._cut_end(where) and self.short_suffix is not None:
            # the suffix ends inside a construct, so CPython stopped there: judge with it cut back
            err = self._judge(self.prefix + middle + self.short_suffix, middle)
            if err is None:
                return tree
            where, baseline = self._where(err, middle.count("\n")), self.short_baseline
        window_start = where[0] == "prefix" and where[1] <= self.prefix_lines - NEAR_OPENER_LINES
        if where == baseline and (self._context_own(where) or window_start):
            if where[0] == "prefix" and "was never closed" not in where[2] and self.rebased is not None:
                # the window's start stopped CPython (a bracket it opened and never closed is its own:
                # cutting the window past the opener would judge the middle outside that bracket); so
                # too inside a docstring near the gap, where the middle must not be excused outright
                judge, shift = self.rebased
                return [ErrorSpan(max(0, e.start - shift), max(0, e.end - shift), e.kind)
                        for e in judge.errors(middle)]
            if self._context_own(where):
                return tree  # the context's own error (module docstring): CPython cannot judge the middle
        return [_error_span(full, err)] + tree


def _stand_in_ending(text: str, err: SyntaxError) -> StandInEnding | None:
    """What to append for an error CPython reports because ``text`` stops too early: the closer of a
    bracket never closed (and a header's ``:`` and ``pass`` after it: ``def f(`` cut in its parameters),
    the quotes of a triple-quoted string, a ``pass`` body for a header on the last line, a ``def`` for
    decorators on it, ``finally: pass`` for a ``try`` the text ends inside. None for any other error."""
    msg, lines = err.msg, text.split("\n")
    newline = "" if text.endswith("\n") else "\n"
    if msg.endswith("was never closed") and msg[1:2] in CLOSERS and err.lineno:
        opener = lines[err.lineno - 1]
        closer, depth = newline + CLOSERS[msg[1]], _indentation(opener)
        if opener.lstrip().startswith("@"):  # a decorator's call: what it decorates follows
            return StandInEnding((closer + "\n" + " " * depth + "def _(): pass\n",), err.lineno)
        return StandInEnding((closer + "\n", closer + ":\n" + " " * (depth + 4) + "pass\n"), err.lineno)
    if msg.startswith("unterminated triple-quoted string") and err.lineno:
        line = lines[err.lineno - 1]
        found = [(line.find(q, max(0, (err.offset or 1) - 1)), q) for q in ('"""', "\'\'\'")]
        found = [(at, q) for at, q in found if at >= 0]
        return StandInEnding((newline + min(found)[1] + "\n",), err.lineno, string=True) if found else None
    end = _last_nonblank_line(text)
    if (err.lineno or 0) < end:
        return None  # not the end of the text
    header = re.search(r"expected an indented block after .* on line (\d+)", msg)
    if header and int(header.group(1)) <= len(lines):
        number = int(header.group(1))
        return StandInEnding((newline + " " * (_indentation(lines[number - 1]) + 4) + "pass\n",), number)
    if lines[end - 1].lstrip().startswith("@"):
        return StandInEnding((newline + " " * _indentation(lines[end - 1]) + "def _(): pass\n",), end)
    if "expected 'except' or 'finally' block" in msg:
        deepest = None  # the statements that enclose the last line, innermost first
        for number in range(len(lines), 0, -1):
            line = lines[number - 1]
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            depth = _indentation(line)
            if deepest is None or depth < deepest:
                if re.match(r"try\s*:", line.lstrip()):
                    return StandInEnding((newline + " " * depth + "finally:\n" + " " * (depth + 4) + "pass\n",), number)
                deepest = depth
    return None


def _indentation(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _line_levels(text: str) -> list[tuple[int, str]] | None:
    """(indentation, first word) of each code line in order; None where a line is indented with tabs."""
    out = []
    for line in text.split("\n"):
        body = line.lstrip(" ")
        if not body or body.startswith("#"):
            continue
        if body.startswith("\t"):
            return None
        out.append((len(line) - len(body), body.split(None, 1)[0].rstrip(":")))
    return out


def _statement_levels(header: str, text: str) -> list[tuple[int, str]]:
    """(column, first word) of each logical line of ``text`` (after ``header``), by Python's tokenizer."""
    skip, out, start = header.count("\n"), [], True
    try:
        for tok in tokenize.generate_tokens(io.StringIO(header + text).readline):
            if tok.type in (tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
                start = start or tok.type == tokenize.NEWLINE
                continue
            if start and tok.start[0] > skip:
                out.append((tok.start[1], tok.string))
            start = False
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # the text's cut-off end: the lines before it are read
    return out


def _stand_in_headers(depth: int, lines: list[tuple[int, str]] | None) -> str | None:
    """Lines opening every indentation level below ``depth`` that ``lines`` use (extra levels do no harm:
    a dedent may close several), so a text can start at ``depth``; None for None (tabs)."""
    if lines is None:
        return None
    levels, first = {0}, {}
    for level, word in lines:
        if level < depth:
            levels.add(level)
            first.setdefault(level, word)
    ladder = sorted(levels) + [depth]
    return "".join(" " * a + CONTINUING.get(first.get(a, ""), "if 1:") + "\n"
                   for a, b in zip(ladder, ladder[1:]) if a < b)


def _error_span(full: str, err: SyntaxError) -> ErrorSpan:
    """The bytes CPython's error points at (``offset`` to ``end_offset`` on its line, one character at
    least) for a plain syntax error; the lines it names for an indentation error or one with no column.
    A whole-line span re-masks and bans every token of the line (``candidates.SyntaxValidator``), so the
    next decode may not repeat its good tokens either: ``assert isinstance(x, str):`` must lose its ``:``,
    not its ``assert``."""
    line = (err.text or "").rstrip("\r\n")
    if isinstance(err, IndentationError) or not (err.lineno and err.offset and 0 < err.offset <= len(line) + 1):
        return _line_span(full, err)
    start = _line_starts(full)[min(err.lineno, len(_line_starts(full)) - 1) - 1]
    end_column = err.end_offset if err.end_lineno == err.lineno and (err.end_offset or 0) > err.offset else err.offset + 1
    first = start + len(line[: err.offset - 1].encode("utf-8"))
    return ErrorSpan(first, max(first + 1, start + len(line[: end_column - 1].encode("utf-8"))), f"CPython: {err.msg}")


def _line_span(full: str, err: SyntaxError) -> ErrorSpan:
    """The byte span of the lines CPython's error names (the whole middle's start if it names none)."""
    starts = _line_starts(full)
    if not err.lineno:
        return ErrorSpan(0, starts[-1], f"CPython: {err.msg}")
    first = min(err.lineno, len(starts) - 1)
    last = min(max(err.lineno, err.end_lineno or err.lineno), len(starts) - 1)
    return ErrorSpan(starts[first - 1], starts[last], f"CPython: {err.msg}")


def relevant_errors(errors: list[ErrorSpan], middle_start: int, line_start: int) -> list[ErrorSpan]:
    """Errors the middle may have caused: all except those ending before the line the middle starts on
    (tree-sitter reads left to right, so an error that closes before that line predates the infill)."""
    return [e for e in errors if e.end > line_start or e.end >= middle_start]


def infill_errors(prefix: str, middle: str, suffix: str, language: str = "python") -> list[ErrorSpan]:
    """Errors of ``prefix + middle + suffix`` that the middle caused (byte spans in the full text); for
    many middles of one gap build one ``MiddleJudge``."""
    return MiddleJudge(prefix, suffix, language).errors(middle)


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
