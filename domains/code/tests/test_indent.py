from dataclasses import replace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqdiff.samplers.base import StepContext
from seqdiff_code.candidates import LayoutHook
from seqdiff_code.decoding import QuotaThresholdSampler
from seqdiff_code.indent import (Lead, Opening, body_after_header, first_token_allowed, gap_leads, header_tail,
                                 header_words, indent_guesses, required_words, scan_prefix, split_lead, typed_indent,
                                 unopened_bracket)


@pytest.mark.parametrize("prefix, suffix, want", [
    ("def f(x):\n", "", ["    ", ""]),  # a block opener: one level deeper first
    ("def f(x):\n", "    y = 1\n", ["    ", ""]),  # the block's own depth, as its next line shows
    ("def f(x):\n", "        y = 1\n", ["    ", "        ", ""]),  # two levels deeper: a header one level in
    ("class A:\n    def f(self):\n        try:\n            x = 1\n", "            return x\n",
     ["            ", "        ", "    "]),  # the next line's, then the enclosing blocks' (a dedent to except:)
    ("x = 1\n", "y = 2\n", [""]),
    ("", "x = 1\n", [""]),
    ("d = {\n    'a': 1,  # one\n", "    'c': 3,\n}\n", ["    ", ""]),
    ("def f(x):\n    return ", "\n", []),  # not at a line start: no guesses
    ("def f(x):\n    y = []\n", "        y.append(x)\n", ["    ", ""]),  # deeper next line: the gap opens it
    ("def f(x):\n    y = g(\n", "        x)\n", ["        ", "    ", ""]),  # inside a call: any depth
])
def test_indent_guesses(prefix, suffix, want):
    assert indent_guesses(prefix, suffix) == want


def test_split_lead_follows_the_tokenizer(tokenizer):
    assert split_lead(tokenizer, "        ") == Lead("       ", " ")  # "       " then " return"
    assert split_lead(tokenizer, "") == Lead("", "")
    assert split_lead(tokenizer, "\t\t") == Lead("\t\t", "")
    for indent in ("    ", "   ", "\t"):
        lead = split_lead(tokenizer, indent)
        assert lead.text + lead.start == indent
        ids = tokenizer.encode("x = 1\n" + indent + "return 1\n")
        assert tokenizer.decode(ids[-3:]) == lead.start + "return 1\n"  # the BPE's own boundary


@pytest.mark.parametrize("start", [" ", ""])
def test_first_token_allowed_is_content_only(tokenizer, start):
    allowed = first_token_allowed(tokenizer, start)
    assert not allowed[list(tokenizer.special_ids)].any()
    for i in allowed.nonzero().squeeze(1).tolist():
        data = tokenizer.token_bytes[i]
        assert data.startswith(start.encode()) and data[len(start):][:1] not in (b" ", b"\t", b"\n", b"\r")
    for text in ("\n", "\n   ", " ", "   "):
        assert not allowed[tokenizer.encode(text)[0]]
    assert allowed[tokenizer.encode(start + "pass")[0]]


def test_layout_hook_first_position_rule_only_while_masked():
    mask, eos = 0, 2
    x = torch.tensor([[7, mask, mask, mask], [7, 5, mask, mask]])
    editable = torch.tensor([[False, True, True, True]] * 2)
    allowed = torch.zeros(2, 10, dtype=torch.bool)
    allowed[:, 5] = True
    logits = torch.randn(2, 4, 10)
    out = LayoutHook(editable, eos, mask, torch.tensor([1, 1]), allowed)(0, x, logits.clone())
    assert out[0, 1].argmax() == 5 and (out[0, 1, ~allowed[0]] == -1e4).all()
    assert torch.equal(out[1], logits[1])  # row 1's first position is committed: untouched
    assert torch.equal(out[0, 2:], logits[0, 2:])
    # a header keyword's row: no <eos> right after its first token while that position is masked
    second = LayoutHook(editable, eos, mask, torch.tensor([1, 1]), allowed, torch.tensor([2, -1]))(0, x, logits.clone())
    assert second[0, 2, eos] == -1e4 and torch.equal(second[0, 2, :eos], logits[0, 2, :eos])
    assert torch.equal(second[1], logits[1]) and torch.equal(second[0, 3], logits[0, 3])


def test_a_header_keyword_that_cannot_stand_alone_is_never_followed_by_eos(tokenizer):
    """``while n:`` needs its condition: a header lead's row bans ``<eos>`` after the keyword (``else:``
    may end there, so a lead that allows it bans nothing)."""
    from seqdiff.checkpoint import Pretrained
    from seqdiff_code.infill import CodeInfiller, _Row

    infiller = CodeInfiller(Pretrained(model=torch.nn.Linear(1, 1), tokenizer=tokenizer, domain="code"))
    rows = [_Row(0, [1], [2], 4, 0, "   ", ":", " ", ("while", "if"), more=True),
            _Row(0, [1], [2], 4, 0, "   ", ":", " ", ("else", "if"), more=False)]
    first, _, second = infiller._first_token_rule(rows, [(1, 5), (1, 5)])
    assert first.tolist() == [1, 1] and second.tolist() == [2, -1]
    assert Lead("   ", " ", ":\n", ("while", "if")).needs_more
    assert not Lead("   ", " ", ":\n", ("else", "if")).needs_more  # "else:" may end there
    assert not Lead("   ", " ", "(\n", ("for",)).needs_more and not Lead("   ", " ", ":\n").needs_more


def _ctx(editable):
    return StepContext(step=0, num_steps=4, mask_id=0, editable=editable)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12), st.integers(1, 4), st.floats(0.5, 1.0))
def test_quota_threshold_commits_k_or_every_sure_token(probs, k, threshold):
    """One masked row, position i's best token has probability ~probs[i]: the sampler commits
    max(k, #sure) positions, the most confident ones, never more than are masked."""
    n, vocab = len(probs), 4
    logits = torch.full((1, n, vocab), -30.0)
    for i, p in enumerate(probs):
        p = min(max(p, 1e-4), 1 - 1e-4)
        logits[0, i, 3] = 0.0
        logits[0, i, 1] = torch.log(torch.tensor((1 - p) / p)).item()  # P(token 3) = p
    x = torch.zeros(1, n, dtype=torch.long)
    editable = torch.ones(1, n, dtype=torch.bool)
    out = QuotaThresholdSampler(k=k, threshold=threshold).step(logits, x, _ctx(editable))
    conf = torch.softmax(logits[0], -1).max(-1).values
    committed = out[0] != 0
    sure = int((conf >= threshold).sum())
    assert int(committed.sum()) == min(n, max(k, sure))
    if committed.any() and (~committed).any():
        assert conf[committed].min() >= conf[~committed].max()


@pytest.mark.parametrize("suffix, indent, want", [
    ("            if x:\n", "        ", ":\n"),  # a whole removed line: the middle ends the line
    ("\n            if x:\n", "        ", ":"),  # llama.vim's empty line: the suffix holds the line end
    ("\n\n    # note\n        y = 1\n", "    ", ":"),  # blank lines and comments are skipped
    ("        y = 1\n", "        ", ""),  # the same depth: nothing to open
    ("    y = 1\n", "        ", ""),
    ("", "", ""),
])
def test_header_tail(suffix, indent, want):
    assert header_tail(suffix, indent) == want


def test_gap_leads_for_an_editors_three_line_start_layouts(tokenizer):
    """The cursor on an empty line (indentation guesses), after typed indentation (that indentation, its
    first token content), and at the end of a header with no body yet (the body's newline and indent)."""
    leads, later = gap_leads(tokenizer, "def f(x):\n", "\n")
    assert [lead.text + lead.start for lead in leads] == ["    ", ""] and later == []
    leads, later = gap_leads(tokenizer, "def f(x):\n    ", "\n")
    assert leads == [Lead("", "", code=True)] and later == []  # the body of f: no comment first
    leads, later = gap_leads(tokenizer, "def f(x):\n    y = g(x)\n    ", "\n        y -= 1\n")
    assert leads == [Lead("", "", ":", OPENS)] and later == [Lead("", "")]  # typed, before a deeper line
    leads, _ = gap_leads(tokenizer, "def f(x):", "\n")
    assert [lead.text + lead.start for lead in leads] == ["\n    "]
    assert body_after_header("def f(x):", "\n    return x\n") is None  # the block has its body
    assert body_after_header("x = f(", "\n") is None and typed_indent("x = 1", "\n") is None


def test_a_line_after_a_try_body_at_its_depth_begins_except_or_finally(tokenizer):
    prefix = "def f(d):\n    try:\n        x = float(d)\n"
    assert required_words(prefix, "    ") == ("except", "finally")
    assert required_words(prefix, "        ") == () and required_words(prefix, "") == ()
    assert required_words("try:\n    x = 1\nexcept E:\n    y = 2\n", "") == ()  # an except body: anything
    assert required_words("    try:\n", "    ") == ()  # no body yet
    leads, _ = gap_leads(tokenizer, prefix, "        raise TypeError(d)\n")
    assert [(lead.text + lead.start, lead.words) for lead in leads][:2] == [
        ("        ", ()), ("    ", ("except", "finally"))]
    allowed = first_token_allowed(tokenizer, " ", ("except", "finally"))
    assert allowed[tokenizer.encode(" except")[0]] and allowed[tokenizer.encode(" finally")[0]]
    assert not allowed[tokenizer.encode(" return")[0]] and not allowed[tokenizer.encode(" exception")[0]]


LOOP = "def f(n):\n    while n:\n        n = n.up\n"
TRY_BODY = "        return cache[key]\n    except KeyError:\n        pass\n"


OPENS = ("if", "for", "while", "with", "def", "class", "async")  # no try without an except, no match without a case


@pytest.mark.parametrize("prefix, suffix, want", [
    (LOOP + "    n = first\n", "        n = n.next\n    return n\n", OPENS),  # after a plain statement
    (LOOP, "        n = n.next\n    return n\n", OPENS + ("else",)),  # after a while block
    ("def f(x):\n    if a:\n        y = 1\n", "        z = 2\n", OPENS + ("elif", "else")),
    ("def f(key):\n    key = str(key)\n", TRY_BODY, ("try",)),  # before an except at the gap's depth
    ("def f(x):\n    if a:\n        y = 1\n", "        z = 2\n    else:\n        z = 3\n",
     ("if", "for", "while", "async", "elif", "try")),
    ("def f(x):\n", "        y = 1\n    except E:\n        pass\n", ("try",)),  # the first line of a block
    ("def f(x):\n", "        case 1:\n            pass\n", ("match",)),
    ("class A:\n    x = 1\n", "        return 1\n", ("def", "async")),  # a block that returns: a method
    ("def f():\n    x = 1\n", "        return 1\n", OPENS),  # ... unless a function encloses it
])
def test_header_words(prefix, suffix, want):
    """A block header's first word: a compound statement's keyword, a continuing clause only after a block
    it may continue, and only what the clause after the gap's block may follow."""
    assert header_words(prefix, suffix, "    ") == want


def test_a_header_gap_begins_with_a_keyword_it_may_begin_with(tokenizer):
    leads, _ = gap_leads(tokenizer, "def f(key):\n    key = str(key)\n", TRY_BODY)
    header = next(lead for lead in leads if lead.tail)
    assert header.text + header.start == "    " and header.words == ("try",)
    allowed = first_token_allowed(tokenizer, header.start, header.words)
    assert allowed[tokenizer.encode(" try")[0]] and not allowed[tokenizer.encode(" if")[0]]


@pytest.mark.parametrize("suffix, indent, want", [
    ("                'a message'\n            )\n        x = 1\n", "            ", Opening("(", False)),  # log(
    ('                "key": value,\n            }\n', "            ", Opening("{", False)),  # json.dumps({
    ("        mod.name\n        for mod in mods\n    )\n", "    ", Opening("(", False)),  # sorted( a generator
    ("        mod.name\n        for mod in mods\n    ]:\n        x = 1\n", "    ", Opening("[", True)),  # for m in [
    ("            if n in (a, b):\n                x = 1\n        return n\n", "        ", None),  # a block
    ("        x = ')'\n    y = 1\n", "    ", None),  # a bracket inside a string
])
def test_unopened_bracket(suffix, indent, want):
    assert unopened_bracket(suffix, indent) == want


def test_a_gap_before_lines_that_close_a_bracket_ends_with_its_opener_first(tokenizer):
    """The opener ends the first leads (the model writes what precedes it); the same leads without it and
    with a header's ``:`` come later; a header's opener (the closing line ends in ``:``) takes its keywords."""
    prefix, suffix = "def f(log):\n    if log:\n", "            'a message'\n        )\n    return 1\n"
    leads, later = gap_leads(tokenizer, prefix, suffix)
    assert leads[0].text + leads[0].start == "        " and leads[0].tail == "(\n" and leads[0].words == ()
    assert later[0] == replace(leads[0], tail="") and any(lead.tail == ":\n" for lead in later)
    leads, _ = gap_leads(tokenizer, "def f(d):\n    n = 0\n", "        k\n        for k in d\n    ):\n        n += 1\n")
    assert leads[0].tail == "(\n" and leads[0].words == OPENS


def test_a_gap_inside_an_open_bracket_may_close_it_last(tokenizer):
    prefix = "from a import b\nfrom c import (  # noqa\n    d,\n"
    assert scan_prefix(prefix).open_closers == ")" and scan_prefix("x = f([1,\n").open_closers == "])"
    assert scan_prefix('def f():\n    """doc\n').open_closers == ""  # an open string is no bracket
    leads, later = gap_leads(tokenizer, prefix, "\n\nclass E:\n    pass\n")
    assert later[-1].words == (")",) and later[-1].text + later[-1].start == ""
    assert all(lead.words != (")",) for lead in leads)
    assert later[-2] == replace(leads[0], tail=")")  # or the last items, then the closer
    assert later[-1] not in gap_leads(tokenizer, "x = 1\n", "y = 2\n")[1]
    # one more item of a table whose closer the suffix holds: no lead closes it early
    _, later = gap_leads(tokenizer, "table = (\n    'a'  # 0x61\n", "\n    'c'  # 0x63\n)\nx = 1\n")
    assert all(")" not in lead.tail and lead.words != (")",) for lead in later)
    leads, later = gap_leads(tokenizer, "def f(a):\n    return a and \\\n", "        a.x\n")  # after a backslash
    assert all(not lead.tail and not lead.words for lead in leads + later)


def test_a_block_with_no_body_yet_gets_a_statement_not_a_comment(tokenizer):
    """After ``except ...:`` and its comment, with the next code line back at the header's depth, the gap is
    the block's body: its leads' first token may not begin a comment (a comment is no body)."""
    prefix, suffix = "def f(x):\n    try:\n        g(x)\n    except E:\n        # risky\n", "\n    return x\n"
    leads, later = gap_leads(tokenizer, prefix, suffix)
    assert leads and all(lead.code for lead in leads + later)
    allowed = first_token_allowed(tokenizer, leads[0].start, leads[0].words, leads[0].code)
    assert not allowed[tokenizer.encode(" #")[0]] and allowed[tokenizer.encode(" pass")[0]]
    assert not any(lead.code for lead in gap_leads(tokenizer, "def f(x):\n    x = 1\n", "    return x\n")[0])


def test_a_bracket_s_hanging_indent_puts_the_gap_a_level_out():
    """The next lines are a def's parameters and its ``) -> None:``: the gap opens that bracket at the top
    level, one level out of the next line."""
    prefix = "def f():\n    g(\n        x=1,\n    )\n\n\n"
    assert indent_guesses(prefix, "    app: int,\n    port: int = 0,\n) -> None:\n    pass\n")[0] == ""
    assert indent_guesses("def f():\n    x = 1\n", "    y = 2\n")[0] == "    "  # no bracket: the next line's


def test_a_multi_line_statement_counts_as_its_first_line(tokenizer):
    """A gap after a header split over lines is one level in from the header's first line; the lines
    inside a docstring are not statements."""
    header = 'def timeit(stmt="pass",\n           number=1, globals=None):\n'
    assert indent_guesses(header, "    return stmt\n")[0] == "    "
    doc = 'def f():\n    """Doc.\n\n  odd indent:\n    """\n'
    assert indent_guesses(doc, "    return 1\n")[0] == "    "


def test_an_editor_window_that_begins_inside_a_docstring_is_read_as_code():
    # llama.vim's 256 lines may start inside a docstring: read from the top, the one-line docstring's
    # closing quotes would open a string that never ends
    window = ('    Returns the thing.\n    """\n    def f(self):\n        """One line."""\n'
              '        skip = (getattr(self, "a", ""),\n')
    scan = scan_prefix(window)
    assert scan.string_lines is None and scan.continued and scan.open_closers == ")"
    assert scan_prefix('def f():\n    """doc\n').string_lines == 1  # a docstring that is open stays open
    assert scan_prefix('x = 1\ns = """a\n    b = """ + c\n    d\n').string_lines is None


def test_an_editor_window_that_begins_inside_a_block_keeps_its_brackets():
    # the window's first line is at depth 8 and later lines return to 4: the tokenizer still reads it
    scan = scan_prefix("        a = 1\n    def g(self):\n        y = f(1,\n")
    assert scan.continued and scan.open_closers == ")" and scan.open_indent == "        "
    assert scan_prefix("        a = 1\n    def g(self):\n        y = 2\n").statements[-2:] == (
        "    def g(self):", "        y = 2")
