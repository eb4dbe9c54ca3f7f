"""FIM sentinel parsing (hypothesis properties), stop/n_indent post-processing, and context fitting."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqdiff_code.serve import fim
from seqdiff_code.serve.backend import ExtraChunk
from seqdiff_code.serve.common import BadRequest, apply_n_indent, cut_at_stop, fit_context, postprocess

SENTINELS = fim.sentinels()
ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cs",))
code_text = st.text(alphabet=st.sampled_from(list("abc ()[]<>|_:=\n\t\"'")) | ALPHABET, max_size=80).filter(
    lambda s: not any(x in s for x in SENTINELS + ("[PREFIX]", "[SUFFIX]")))


@settings(max_examples=150, deadline=None)
@given(family=st.sampled_from(fim.FAMILY_NAMES), prefix=code_text, suffix=code_text)
def test_render_then_parse_round_trips(family, prefix, suffix):
    parsed = fim.parse(fim.render(family, prefix, suffix))
    assert parsed is not None and parsed.family == family
    assert (parsed.prefix, parsed.suffix, parsed.context, parsed.typed) == (prefix, suffix, "", "")


@settings(max_examples=100, deadline=None)
@given(family=st.sampled_from([f for f in fim.FAMILY_NAMES if f != "codestral"]), context=code_text,
       prefix=code_text, suffix=code_text, typed=code_text)
def test_context_before_and_typed_text_after(family, context, prefix, suffix, typed):
    # repo-level context before the first sentinel; the already-typed part of the line after the middle one
    parsed = fim.parse(context + fim.render(family, prefix, suffix) + typed)
    assert parsed is not None
    assert parsed.context == context and parsed.suffix == suffix
    assert parsed.typed == typed and parsed.prefix == prefix + typed


@given(text=code_text)
def test_no_sentinel_means_no_fim(text):
    assert fim.parse(text) is None


@pytest.mark.parametrize("prompt,expected", [
    ("<fim_prefix>def f():\n    <fim_suffix>\n<fim_middle>", ("def f():\n    ", "\n")),
    ("<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>", ("a", "b")),
    ("<PRE> a <SUF>b <MID>", ("a", "b")),
    ("<｜fim▁begin｜>a<｜fim▁hole｜>b<｜fim▁end｜>", ("a", "b")),
    ("[SUFFIX]b[PREFIX]a", ("a", "b")),
    ("<|repo_name|>r\n<|file_sep|>x.py\n<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>", ("a", "b")),
    ("<fim_prefix>only prefix<fim_middle>", ("only prefix", "")),
    ("<fim_prefix>no middle<fim_suffix>tail", ("no middle", "tail")),
    ("<PRE> a <SUF>b <MID><EOT>", ("a", "b")),
])
def test_each_family(prompt, expected):
    parsed = fim.parse(prompt)
    assert parsed is not None and (parsed.prefix, parsed.suffix) == expected


def test_cut_at_earliest_stop():
    assert cut_at_stop("abc;def\n", (";", "\n")) == ("abc", ";")
    assert cut_at_stop("abc", ("x",)) == ("abc", None)


@pytest.mark.parametrize("text,n,expected,cut", [
    ("x = 1\n    y = 2\nz = 3\n", 4, "x = 1\n    y = 2\n", True),  # first line never checked
    ("a\n        b\n    c\n", 8, "a\n        b\n    ", True),  # cut keeps the line's indentation
    ("a\n\n    b\n", 4, "a\n", True),  # an empty line counts as indentation 0 (llama.cpp)
    ("a\n    b\n    ", 4, "a\n    b\n    ", False),  # trailing indentation alone: nothing to cut yet
    ("a\nb\n", 0, "a\nb\n", False),
])
def test_n_indent_matches_llama_cpp(text, n, expected, cut):
    assert apply_n_indent(text, n) == (expected, cut)


def test_postprocess_stop_before_indent():
    assert postprocess("a\nb;c", (";",), 4) == ("a\nb", "word", ";")
    assert postprocess("a\nb", (), 4) == ("a\n", "limit", "")
    assert postprocess("a", (), 0) == ("a", None, "")


def test_fit_context_keeps_text_nearest_the_cursor():
    prefix = "".join(f"p{i:03d}\n" for i in range(100))  # 500 chars
    suffix = "".join(f"s{i:03d}\n" for i in range(100))
    extra = (ExtraChunk("old" * 10), ExtraChunk("new" * 10))
    fitted = fit_context(prefix, suffix, extra, 50, count=len, window=300, hard_limit=10_000)
    assert fitted.truncated and fitted.max_tokens == 50
    assert fitted.prompt_tokens <= 250
    assert prefix.endswith(fitted.prefix) and fitted.prefix.endswith("p099\n") and fitted.prefix.startswith("p")
    assert suffix.startswith(fitted.suffix) and fitted.suffix.startswith("s000\n")
    small = fit_context("a", "b", extra, 10, count=len, window=300, hard_limit=10_000)
    assert not small.truncated and small.extra == extra
    with pytest.raises(BadRequest, match="limit of 100"):
        fit_context("x" * 500, "", (), 10, count=len, window=300, hard_limit=100)


def test_fit_context_one_long_line():
    fitted = fit_context("y" * 1000, "z" * 1000, (), 10, count=len, window=100, hard_limit=10_000)
    assert fitted.prefix and set(fitted.prefix) == {"y"} and fitted.prompt_tokens <= 90
