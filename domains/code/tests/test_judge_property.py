"""Property: over real held-out code, the infill constraint agrees with CPython about the middle.

Gaps are lines cut from held-out standard-library files (``seqdiff_code.tasks``, the corpus' test split),
so ``prefix + true middle + suffix`` compiles: when CPython rejects another middle, the middle is why,
unless ``prefix + suffix`` (no middle) fails with that same error. Middles: the true one, whitespace
variants of it (indentation shifted, tabs, newline dropped, trailing spaces), pieces of it, lines from
other gaps, and blanks."""

from __future__ import annotations

import io
import re
import tokenize
from functools import lru_cache

from hypothesis import given, settings
from hypothesis import strategies as st

from seqdiff_code.syntax import MiddleJudge, _cut_end_error, _python_error


@lru_cache(maxsize=1)
def gaps():
    """Held-out gaps (a function, not a fixture: a failing example then prints indices, not files)."""
    from seqdiff_code.tasks import infill_tasks

    tasks = infill_tasks(24, 12, seed=11)
    return [(t.prefix, t.middle, t.suffix, MiddleJudge(t.prefix, t.suffix)) for t in tasks]


def _variant(middle: str, other: str, kind: str, k: int) -> str:
    lines = middle.split("\n")
    if kind == "true":
        return middle
    if kind == "indent+":
        return "\n".join(" " * k + line if line else line for line in lines)
    if kind == "indent-":
        return "\n".join(line[min(k, len(line) - len(line.lstrip(" "))):] for line in lines)
    if kind == "tab":
        return middle.replace("    ", "\t", 1)
    if kind == "no-newline":
        return middle.rstrip("\n")
    if kind == "trailing":
        return middle.rstrip("\n") + " " * k + "\n"
    if kind == "piece":
        return middle[: k % (len(middle) + 1)]
    if kind == "other":
        return other
    return " " * k + ("\n" if k % 2 else "")  # blank


def _same_error_without_middle(prefix: str, middle: str, suffix: str) -> bool:
    """The oracle's own reading of "not because of the middle": the error of prefix + middle + suffix
    is the one prefix + suffix has, at the same line counted from the side it is on, and after the gap
    only one a cut-off end of text causes."""
    full, base = _python_error(prefix + middle + suffix), _python_error(prefix + suffix)
    if base is None or _message(full) != _message(base) or not (full.lineno and base.lineno):
        return False
    cut = prefix.count("\n") + 1
    if full.lineno < cut and base.lineno < cut:
        return full.lineno == base.lineno
    cut_end = any(m in full.msg for m in ("was never closed", "unterminated", "unexpected EOF", "indented block"))
    return cut_end and full.lineno - middle.count("\n") == base.lineno


def _message(err: SyntaxError) -> str:
    """CPython's message without the line numbers it names ("... after 'if' statement on line 12")."""
    return re.sub(r"line \d+", "line N", err.msg)


KINDS = ["true", "indent+", "indent-", "tab", "no-newline", "trailing", "piece", "other", "blank"]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_constraint_never_calls_valid_what_cpython_rejects_because_of_the_middle(data):
    gaps_ = gaps()
    i = data.draw(st.integers(0, len(gaps_) - 1), label="gap")
    j = data.draw(st.integers(0, len(gaps_) - 1), label="other gap")
    kind = data.draw(st.sampled_from(KINDS), label="variant")
    k = data.draw(st.integers(1, 9), label="k")
    prefix, true_middle, suffix, judge = gaps_[i]
    middle = _variant(true_middle, gaps_[j][1], kind, k)
    errors = judge.errors(middle)
    rejected = _python_error(prefix + middle + suffix)
    if not errors:
        assert middle.strip(), "an empty middle where a line was is never valid"
        assert rejected is None or _same_error_without_middle(prefix, middle, suffix), (middle, rejected)
    if rejected is None and middle.strip():
        assert errors == [], (middle, errors)  # CPython's acceptance is never overruled
    if kind == "true":
        assert errors == []


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_an_editors_window_is_judged_as_its_whole_file_would_be(data):
    """llama.vim sends a window (256 lines before the cursor, 64 after), which often starts mid-block or
    inside a docstring and ends inside a literal, a ``try`` or a call, so CPython's first error is the
    window's own edge. A middle the constraint calls valid there is one CPython accepts in the whole file
    (or rejects there for a reason the file without the middle has too, or beyond the window's last line,
    which no judge of the window can see)."""
    gaps_ = gaps()
    i = data.draw(st.integers(0, len(gaps_) - 1), label="gap")
    j = data.draw(st.integers(0, len(gaps_) - 1), label="other gap")
    kind = data.draw(st.sampled_from(KINDS), label="variant")
    k = data.draw(st.integers(1, 9), label="k")
    before = data.draw(st.integers(3, 80), label="lines before")
    after = data.draw(st.integers(2, 40), label="lines after")
    prefix, true_middle, suffix, _ = gaps_[i]
    window_prefix = "".join(prefix.splitlines(keepends=True)[-before:])
    window_suffix = "".join(suffix.splitlines(keepends=True)[:after])
    judge = MiddleJudge(window_prefix, window_suffix)
    middle = _variant(true_middle, gaps_[j][1], kind, k)
    if not judge.errors(middle):  # the oracle: the whole file
        rejected = _python_error(prefix + middle + suffix)
        if rejected is not None and _starts_in_a_block(window_prefix) and rejected.msg in ENCLOSING_ERRORS:
            return  # a window that starts inside a block does not show the statement that encloses it
        if rejected is not None and _inside_a_bracket(prefix[: len(prefix) - len(window_prefix)]):
            return  # nor one that starts inside a literal its opener: a tuple of strings reads as statements
        window_end = prefix.count("\n") + middle.count("\n") + window_suffix.count("\n") + 1
        assert (rejected is None or _same_error_without_middle(prefix, middle, suffix)
                or (rejected.lineno or 0) > window_end), (middle, rejected)


# CPython's errors about an enclosing statement: a window cut below its ``def``/``for``/``try`` header
# cannot tell a method body from a class body (``return`` at a class's depth) or see that the ``try`` it is
# in still needs its ``except`` (the removed line was that ``except``), so the judge cannot either
ENCLOSING_ERRORS = {"'return' outside function", "'yield' outside function", "'await' outside function",
                    "'break' outside loop", "'continue' not properly in loop",
                    "nonlocal declaration not allowed at module level", "expected 'except' or 'finally' block"}


def _inside_a_bracket(text: str) -> bool:
    """Python's tokenizer ends ``text`` inside a bracket."""
    depth = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.OP and token.string in "([{":
                depth += 1
            elif token.type == tokenize.OP and token.string in ")]}":
                depth -= 1
    except tokenize.TokenError as err:
        return "statement" in str(err)
    return depth > 0


def _starts_in_a_block(text: str) -> bool:
    first = next((line for line in text.split("\n") if line.strip() and not line.lstrip().startswith("#")), "")
    return first[:1].isspace()
