import pytest

from seqdiff_code.syntax import (ErrorSpan, compiles, error_tokens, infill_errors, is_valid, language_for_path,
                                 languages, register_language, relevant_errors, syntax_errors)


@pytest.mark.parametrize("source, expected", [
    ("x = 1\n", []),
    ("x = = 1\n", [(4, 5, "ERROR")]),
    ("def f(:\n  pass\n", [(6, 6, "MISSING )")]),
    ("def f(x):\n    return (x + 1\n\ny = 2\n", [(14, 34, "ERROR")]),
])
def test_known_bad_snippets(source, expected):
    assert [(e.start, e.end, e.kind) for e in syntax_errors(source)] == expected
    assert is_valid(source) == (not expected)


def test_nested_errors_give_inner_spans():
    src = "class A:\n    def f(self):\n        return [1, 2\n    def g(self): pass\n"
    spans = syntax_errors(src)
    assert spans and all(0 <= s.start <= s.end <= len(src.encode()) for s in spans)
    assert any(src.encode()[s.start:s.end].startswith(b"return [1") for s in spans)


def test_byte_offsets_with_non_ascii():
    src = "s = 'é'\nx = = 1\n"
    (err,) = syntax_errors(src)
    assert src.encode()[err.start:err.end] == b"="


def test_compiles_is_stricter():
    assert is_valid("if x:\nprint(1)\n") and not compiles("if x:\nprint(1)\n")


def test_error_tokens_mapping():
    # middle tokens at bytes 10..12, 12..15, 15..15 (a filler), 15..15
    offsets = [(10, 12), (12, 15), (15, 15), (15, 15)]
    direct, context = error_tokens([ErrorSpan(12, 13, "ERROR")], offsets, 10, 15)
    assert direct == {1} and context == {0, 2}
    direct, _ = error_tokens([ErrorSpan(40, 40, "MISSING )")], offsets, 10, 15, edge=2)
    assert direct == {2, 3}  # an error after the middle selects its tail (fillers can become ")")
    direct, _ = error_tokens([ErrorSpan(0, 3, "ERROR")], offsets, 10, 15, edge=1)
    assert direct == {0}
    assert error_tokens([ErrorSpan(0, 3, "ERROR")], [], 10, 10) == (set(), set())


def test_relevant_errors_ignores_earlier_lines():
    errors = [ErrorSpan(0, 4, "ERROR"), ErrorSpan(30, 31, "ERROR")]
    assert relevant_errors(errors, middle_start=25, line_start=20) == [errors[1]]


def test_infill_errors_blame_the_middle_only():
    prefix = "x = = 1\ndef f(a):\n    return "
    assert infill_errors(prefix, "a + 1", "\n") == []  # the error on line 1 predates the middle
    bad = infill_errors(prefix, "a +", "\n")
    assert bad and all(e.end > len(prefix[: prefix.rfind("\n") + 1]) for e in bad)


def test_registry():
    assert "python" in languages() and language_for_path("a/b.py") == "python"
    with pytest.raises(ValueError, match="no grammar registered for language 'cobol'"):
        syntax_errors("x", language="cobol")
    import tree_sitter_python

    register_language("python-again", tree_sitter_python.language, (".pyx",))
    assert language_for_path("m.pyx") == "python-again" and syntax_errors("x = = 1\n", "python-again")
