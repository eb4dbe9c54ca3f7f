import torch

from seqdiff_code.candidates import Candidate, LayoutHook, best_of, line_cuts, rank_score, score_canvas

EOS, MASK = 2, 0


def test_eos_after_eos_forces_only_masked_canvas_positions_after_the_first_eos():
    x = torch.tensor([[7, MASK, EOS, MASK, 5, MASK], [MASK, MASK, MASK, MASK, MASK, EOS]])
    editable = torch.tensor([[False, True, True, True, True, True], [True] * 5 + [False]])
    logits = torch.randn(2, 6, 10)
    out = LayoutHook(editable, EOS, MASK)(0, x, logits.clone())
    forced = out.argmax(-1) == EOS
    assert forced[0].tolist() == [False, False, False, True, False, True] or bool(forced[0, 3] & forced[0, 5])
    assert torch.equal(out[0, :3], logits[0, :3]) and torch.equal(out[0, 4], logits[0, 4])
    assert torch.equal(out[1], logits[1])  # an <eos> outside the canvas (not editable) forces nothing
    assert torch.isfinite(out).all()


def test_score_counts_content_and_the_ending_eos_not_the_filler():
    ended, lp = score_canvas([11, 12, EOS, EOS, EOS], [-1.0, -2.0, -0.5, 0.0, 0.0], EOS, MASK)
    assert ended and lp == [-1.0, -2.0, -0.5]
    ended, lp = score_canvas([11, MASK, 12], [-1.0, 0.0, -3.0], EOS, MASK)  # cut short by the budget
    assert not ended and lp == [-1.0]
    assert rank_score([-1.0, -2.0, -0.5], True, 0.1) == -3.5 / 3 + 0.2
    assert rank_score([], False, 0.1) == float("-inf")


def test_line_cuts_keep_or_drop_the_newline():
    text = "a = 1\nb = 2\n"
    offsets = [(0, 5), (5, 6), (6, 11), (11, 12), (12, 12)]
    assert line_cuts(text, offsets, keep_newline=True) == [(text, 4), ("a = 1\n", 2)]
    assert line_cuts(text, offsets, keep_newline=False) == [(text, 4), ("a = 1", 2), ("a = 1\nb = 2", 4)]


def test_best_of_prefers_valid_ended_then_never_empty():
    def cand(text, score, ended=True, errors=()):
        return Candidate(text=text, errors=list(errors), score=score, ended=ended, canvas=4, seed=0, index=0)

    from seqdiff_code.syntax import ErrorSpan

    empty = cand("", 9.0, errors=[ErrorSpan(0, 0, "EMPTY")])
    bad = cand("x +", 1.0, errors=[ErrorSpan(0, 3, "ERROR")])
    cut = cand("x = 1", 5.0, ended=False)
    good = cand("x = 2\n", 0.5)
    assert best_of([empty, bad, cut, good], constrained=True) is good
    assert best_of([empty, bad, cut], constrained=True) is cut
    assert best_of([empty, bad], constrained=True) is bad
    assert best_of([empty, bad, cut, good], constrained=False) is empty
    # with nothing valid, a whole (invalid) line before half of one the budget cut mid-decode
    half = Candidate(text="    def", errors=[ErrorSpan(0, 7, "ERROR")], score=2.0, ended=False, canvas=4, seed=0,
                     index=1, complete=False)
    assert best_of([empty, bad, half], constrained=True) is bad
    assert best_of([empty, half], constrained=True) is half


def test_a_repair_bans_the_token_cpython_points_at_not_the_whole_line(tiny_infiller, tokenizer):
    """``assert isinstance(name, str):`` is one ``:`` away from valid: the re-decode keeps the rest
    (tree-sitter's ERROR span covers the whole statement; where CPython names a column, it decides)."""
    from seqdiff_code.candidates import MiddleCheck, SyntaxValidator
    from seqdiff_code.infill import _Row
    from seqdiff_code.syntax import MiddleJudge

    prefix, suffix = "def f(name):\n", "\n    return name\n"
    pre, suf = tokenizer.encode(prefix), tokenizer.encode(suffix)
    middle = tokenizer.encode("    assert isinstance(name, str):") + [tokenizer.eos_id] * 3
    x = torch.tensor([pre + middle + suf])
    spans = [(len(pre), len(pre) + len(middle))]
    row = _Row(0, pre, suf, len(middle), seed=0)
    check = MiddleCheck(MiddleJudge(prefix, suffix))
    repair = SyntaxValidator(tiny_infiller, [row], spans, [check], [True])(x)
    a, e = spans[0]
    banned = [tokenizer.decode([t]) for t in x[0, a:e][repair.ban[0, a:e]].tolist()]
    remasked = [tokenizer.decode([t]) for t in x[0, a:e][repair.remask[0, a:e]].tolist()]
    assert [t for t in banned if t] == ["):"]  # the BPE token holding it (and the <eos> ending there)
    assert [t for t in remasked if t] == [" str", "):"]  # it and its neighbour (and the <eos> filler)
