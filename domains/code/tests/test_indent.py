import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqdiff.samplers.base import StepContext
from seqdiff_code.candidates import LayoutHook
from seqdiff_code.decoding import QuotaThresholdSampler
from seqdiff_code.indent import (Lead, body_after_header, closes_bracket, first_token_allowed, gap_leads, header_tail,
                                 indent_guesses, required_words, split_lead, typed_indent)


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
    assert leads == [Lead("", "")] and later == []
    leads, later = gap_leads(tokenizer, "def f(x):\n    y = g(x)\n    ", "\n        y -= 1\n")
    assert leads == [Lead("", "", ":")] and later == [Lead("", "")]  # typed, before a deeper line: a header
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


@pytest.mark.parametrize("suffix, indent, want", [
    ("                'a message'\n            )\n        x = 1\n", "            ", True),  # logger.warning(
    ('                "key": value,\n            }\n', "            ", True),  # json.dumps({
    ("        mod.name\n        for mod in mods\n    )\n", "    ", True),  # sorted( a generator
    ("            if n in (a, b):\n                x = 1\n        return n\n", "        ", False),  # a block
    ("        x = ')'\n    y = 1\n", "    ", False),  # a bracket inside a string
])
def test_closes_bracket(suffix, indent, want):
    assert closes_bracket(suffix, indent) == want


def test_a_gap_before_lines_that_close_a_bracket_opens_it_first(tokenizer):
    prefix, suffix = "def f(log):\n    if log:\n", "            'a message'\n        )\n    return 1\n"
    leads, later = gap_leads(tokenizer, prefix, suffix)
    assert [lead.tail for lead in leads] == ["" for _ in leads] and all(lead.tail == ":" + "\n" for lead in later)
