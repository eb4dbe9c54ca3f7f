import pytest
import torch
from torch import nn

from seqdiff.checkpoint import Pretrained
from seqdiff.model import DenoiserConfig, KVCache
from seqdiff_code.infill import CodeInfiller, InfillCancelled, InfillDecoding, InfillRequest, canvas_lengths


class HandLogits(nn.Module):
    """Fixed preferences everywhere (token text -> logit, the rest -10); by default "]" over ")" over
    <eos>: a plain decode of ``x = (1 + 2`` closes with "]". Honours the loop's cache/window calls."""

    def __init__(self, tokenizer, prefs=None, at=None):
        super().__init__()
        self.at = {pos: tokenizer.encode(t)[0] for pos, t in (at or {}).items()}  # absolute position -> token
        self.config = DenoiserConfig(vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id,
                                     mask_id=tokenizer.mask_id, d_model=8, n_layers=1, n_heads=2)
        prefs = prefs or {"]": 5.0, ")": 4.0, "<eos>": 0.0}
        self.prefs = {(tokenizer.eos_id if t == "<eos>" else tokenizer.encode(t)[0]): v for t, v in prefs.items()}
        self.calls = 0

    def new_cache(self):
        return KVCache(keys=[], values=[])

    def forward(self, tokens, cache=None, window=None, refresh=False):
        self.calls += 1
        if cache is not None and refresh:
            cache.keys.append(tokens)
        logits = torch.full(tokens.shape + (self.config.vocab_size,), -10.0)
        for t, v in self.prefs.items():
            logits[..., t] = v
        for pos, t in self.at.items():
            logits[:, pos, t] = 9.0
        return logits if window is None else logits[:, window[0]:window[1]]


def hand(tokenizer, prefs=None, at=None, **kwargs):
    model = HandLogits(tokenizer, prefs, at)
    return CodeInfiller(Pretrained(model=model, tokenizer=tokenizer, domain="code"), **kwargs)


@pytest.fixture()
def hand_infiller(tokenizer):
    return hand(tokenizer)


@pytest.mark.parametrize("max_tokens, candidates", [(1, 1), (3, 3)])
def test_constraints_fix_what_plain_decoding_gets_wrong(hand_infiller, max_tokens, candidates):
    prefix, suffix = "x = (1 + 2", "\nprint(x)\n"
    plain = hand_infiller.infill(prefix, suffix, max_tokens=max_tokens, candidates=candidates, constrained=False)
    assert not plain.valid and plain.text.startswith("]") and plain.remask_rounds == 0
    fixed = hand_infiller.infill(prefix, suffix, max_tokens=max_tokens, candidates=candidates, constrained=True)
    assert fixed.valid and fixed.remask_rounds >= 1 and fixed.errors == []
    assert fixed.text.startswith(")") and "]" not in fixed.text
    assert fixed.nfe > plain.nfe
    assert compile(prefix + fixed.text + suffix, "<t>", "exec")


def test_canvas_lengths():
    assert canvas_lengths(64, 1) == [64]
    assert canvas_lengths(64, 4) == [64, 48, 32, 16]
    assert canvas_lengths(2, 4) == [2, 2, 1, 1]


def test_infill_result_fields_and_determinism(tiny_infiller):
    a = tiny_infiller.infill("def f(x):\n    return ", "\n", max_tokens=8, candidates=2, seed=5)
    b = tiny_infiller.infill("def f(x):\n    return ", "\n", max_tokens=8, candidates=2, seed=5)
    assert (a.text, a.valid, a.nfe, a.score) == (b.text, b.valid, b.nfe, b.score)
    assert a.candidates >= 2 and a.nfe >= 1 and a.canvas_length in (8, 2)
    assert len(a.canvas_tokens) == len(a.commit_step) == a.canvas_length
    assert set(a.to_dict()) >= {"text", "valid", "candidates", "remask_rounds", "nfe", "wall_s"}
    assert "<eos>" not in a.text and "<mask>" not in a.text


def test_batched_equals_single(tiny_infiller):
    reqs = [InfillRequest("import os\n", "\nprint(1)\n", max_tokens=6, candidates=2, seed=1),
            InfillRequest("def g():\n", "", max_tokens=4, candidates=1, seed=2, constrained=False)]
    together = tiny_infiller.infill_many(reqs)
    for req, res in zip(reqs, together):
        alone = tiny_infiller.infill_many([req])[0]
        assert (alone.text, alone.canvas_length, alone.valid) == (res.text, res.canvas_length, res.valid)
    assert together[1].remask_rounds == 0 and not together[1].constrained


def test_should_stop_cancels(tiny_infiller):
    with pytest.raises(InfillCancelled):
        tiny_infiller.infill("x = ", "\n", max_tokens=8, candidates=1, should_stop=lambda: True)


@pytest.mark.parametrize("kwargs, message", [
    (dict(prefix="", suffix=""), "both empty"),
    (dict(prefix="x", max_tokens=0), "max_tokens=0"),
    (dict(prefix="x", max_tokens=10_000), "max_tokens=10000"),
    (dict(prefix="x", candidates=0), "candidates=0"),
    (dict(prefix="x", temperature=-1.0), "temperature=-1.0"),
    (dict(prefix="x", time_budget_s=0.0), "time_budget_s=0.0"),
    (dict(prefix="x", time_budget_s=float("nan")), "time_budget_s=nan"),
    (dict(prefix="x", n_indent=-1), "n_indent=-1"),
])
def test_bad_requests(tiny_infiller, kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_infiller.infill(**kwargs)


def test_from_pretrained_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        CodeInfiller.from_pretrained(tmp_path / "missing")


def test_domain_plugin():
    from seqdiff.plugins import load_domain

    domain = load_domain("code")
    [problem] = domain.validators()["syntax"]("é = (1,\n")
    assert problem.start >= 0 and domain.validators()["syntax"]("x = 1\n") == []
    assert domain.scorers()["compiles"](["x = 1\n", "x = (\n"]) == [1.0, 0.0]


def test_bench_on_held_out_infill_tasks(tiny_model_dir, tokenizer):
    """``seqdiff bench`` on a code model: held-out canvases, LLaDA naive baseline, syntax/exact-match columns."""
    from seqdiff.bench import bench
    from seqdiff.checkpoint import from_pretrained
    from seqdiff_code.domain import CodeDomain
    from seqdiff_code.tasks import bench_canvases

    canvases = bench_canvases(tokenizer, 16, 4, seed=3)
    assert len(canvases) == 4 and all(sum(c["editable"]) == 16 for c in canvases)
    assert all(len(c["tokens"]) <= 256 and c["task"].middle for c in canvases)
    pre = from_pretrained(tiny_model_dir)
    rows = bench(pre.model, pre.tokenizer, CodeDomain(), length=16, batch_size=2, designs=4, kind="quick",
                 log=lambda m: None)
    assert rows[0]["config"] == "naive-low_confidence" and rows[0]["nfe"] == 16
    assert all(0 <= r["syntax_valid_rate"] <= 1 and 0 <= r["exact_match"] <= 1 for r in rows)


@pytest.mark.parametrize("suffix", ["\n", "\n\n", "", "\n    return 1\n"])
def test_no_empty_middle_where_a_statement_is_needed(tokenizer, suffix):
    """A model that wants to write nothing (<eos> first) still gets a non-empty body line."""
    infiller = hand(tokenizer, {"<eos>": 6.0, "pass": 5.0, " ": 4.0}, max_remask_rounds=3)
    res = infiller.infill("def f(x):\n    ", suffix, max_tokens=8, candidates=2)
    assert res.text.strip(), res
    assert res.valid and res.text == "pass"
    plain = infiller.infill("def f(x):\n    ", suffix, max_tokens=8, candidates=2, constrained=False)
    assert plain.text == "" and plain.remask_rounds == 0  # unconstrained: the model's own (empty) choice


def test_line_start_gap_never_gets_whitespace_from_a_model_that_wants_it(tokenizer):
    """A model whose favourites are <eos>, a newline and spaces still writes a statement on an empty body
    line: the indentation comes from the guesses and the first canvas token must be content."""
    infiller = hand(tokenizer, {"<eos>": 6.0, "\n": 5.5, " ": 5.0, "   ": 5.0, " pass": 4.0})
    for suffix in ("", "\n", "x = 1\n"):
        res = infiller.infill("def f(x):\n", suffix, max_tokens=8, candidates=2)
        assert res.valid and res.text.strip() == "pass" and res.text.startswith("    pass"), res
        assert compile("def f(x):\n" + res.text + suffix, "<t>", "exec")


def test_max_tokens_is_a_maximum_not_the_canvas(tokenizer):
    infiller = hand(tokenizer, {"x": 5.0, "<eos>": 0.0}, decoding=InfillDecoding(first_canvas=4))
    small = infiller.infill("y = ", "\n", max_tokens=3, candidates=1, constrained=False)
    assert small.canvas_length == 3 and len(small.canvas_tokens) == 3  # n_predict below the first canvas
    grown = infiller.infill("y = ", "\n", max_tokens=10, candidates=1, constrained=False)
    assert grown.canvas_length == 10 and grown.candidates == 3  # 4 -> 8 -> 10: never ended, grew to the cap


def test_stops_growing_once_a_candidate_ends(tokenizer):
    """A canvas of 4 holding "x\n..." has a candidate ending at a line end: no larger canvas is decoded."""
    start = len(tokenizer.encode("y = "))
    infiller = hand(tokenizer, {"x": 5.0, "<eos>": 0.0}, at={start + 1: "\n"}, decoding=InfillDecoding(first_canvas=4))
    res = infiller.infill("y = ", "z = 1\n", max_tokens=64, candidates=1)
    assert res.canvas_length == 4 and res.candidates == 1 and res.valid and res.text == "x\n"


def test_first_try_decodes_few_candidates_and_widens_only_when_unsettled(tokenizer):
    """Two candidates first; the other two (not the first two again) only when none is valid and ends."""
    start = len(tokenizer.encode("y = "))
    settles = hand(tokenizer, {"x": 5.0, "<eos>": 0.0}, at={start + 1: "\n"},
                   decoding=InfillDecoding(first_canvas=4, first_candidates=2))
    assert settles.infill("y = ", "z = 1\n", max_tokens=4, candidates=4).candidates == 2
    never = hand(tokenizer, {"]": 5.0, "<eos>": 0.0}, decoding=InfillDecoding(first_canvas=4, first_candidates=2))
    res = never.infill("x = (1 + 2", "\n", max_tokens=4, candidates=4, constrained=False)
    assert res.candidates == 4  # 2 + the 2 not decoded yet, at the same (largest) canvas


class StepClock:
    """Fake clock: reads the model's call count, so a budget of k seconds is k model calls."""

    def __init__(self, model):
        self.model = model

    def __call__(self):
        return float(self.model.calls)


def test_time_budget_returns_best_candidate_so_far(tokenizer):
    decoding = InfillDecoding(first_canvas=4, block_length=2, seconds_per_candidate=1.0, budget_grace=0.0)
    infiller = hand(tokenizer, {"x": 5.0, "<eos>": 0.0}, decoding=decoding)
    infiller.clock = StepClock(infiller.model)
    free = infiller.infill("y = ", "\n", max_tokens=32, candidates=2, constrained=False)
    assert not free.truncated and free.canvas_length == 32
    res = infiller.infill("y = ", "\n", max_tokens=32, candidates=2, constrained=False, time_budget_s=6)
    assert res.truncated and res.nfe == 5 < free.nfe  # a 6th call would end at the deadline: not started
    assert res.text.startswith("x") and res.canvas_length < 32  # the best candidate decoded so far
    tight = InfillRequest("y = ", "\n", candidates=4, time_budget_s=1.5)
    assert infiller._candidate_count(tight) == 1  # a tight budget decodes fewer candidates (1.5 s / 1 s each)


def test_llama_vims_first_250_ms_request_still_decodes_two_candidates(tokenizer):
    infiller = hand(tokenizer, {"x": 5.0, "<eos>": 0.0})  # the default decoding
    counts = [infiller._candidate_count(InfillRequest("y = ", "\n", candidates=4, time_budget_s=budget))
              for budget in (0.1, 0.25, 1.0, None)]
    assert counts == [1, 2, 4, 4]


def test_budget_cut_candidate_uses_committed_text_only(tokenizer):
    decoding = InfillDecoding(first_canvas=8, block_length=2, budget_grace=0.0)
    infiller = hand(tokenizer, {"x": 5.0, "<eos>": 0.0}, decoding=decoding)
    infiller.clock = StepClock(infiller.model)
    res = infiller.infill("y = ", "\n", max_tokens=8, candidates=1, constrained=False, time_budget_s=2)
    # one model call commits the first block of 2; a second would end at the deadline: the committed text
    assert res.truncated and res.nfe == 1 and res.text == "xx" and tokenizer.mask_id in res.canvas_tokens


def test_n_indent_cuts_later_lines(tokenizer):
    infiller = hand(tokenizer, {"\n": 5.0, "x": 4.0, "<eos>": 0.0})
    res = infiller.infill("if y:\n    ", "\n", max_tokens=6, candidates=1, constrained=False, n_indent=4)
    assert "\nx" not in res.text  # a line indented less than 4 ends the middle


def test_budget_stretches_while_nothing_is_valid(tokenizer):
    """llama.cpp applies t_max_predict_ms once a line is complete: with no valid candidate the budget
    stretches by ``budget_grace`` (here 1x: 3 calls become at most 6), then returns what it has."""
    decoding = InfillDecoding(first_canvas=4, block_length=2, budget_grace=1.0, finish_remask_rounds=0)
    infiller = hand(tokenizer, decoding=decoding, max_remask_rounds=50)  # "]" forever: never valid
    infiller.clock = StepClock(infiller.model)
    res = infiller.infill("x = (1 + 2", "\nprint(x)\n", max_tokens=4, candidates=1, time_budget_s=3)
    assert res.truncated and 3 < res.nfe <= 6 + 2  # + the candidate finished after it: 4 tokens, blocks of 2


def test_budget_cut_invalid_text_is_finished_and_repaired(tokenizer):
    """A budget that ends with only a cut-off, invalid candidate (``]`` where ``)`` belongs) does not
    return it: one candidate is decoded to its end with ``finish_remask_rounds`` re-maskings."""
    decoding = InfillDecoding(first_canvas=4, block_length=2, budget_grace=0.0, finish_remask_rounds=4)
    infiller = hand(tokenizer, decoding=decoding)
    infiller.clock = StepClock(infiller.model)
    res = infiller.infill("x = (1 + 2", "\nprint(x)\n", max_tokens=1, candidates=1, time_budget_s=1)
    assert res.truncated and res.valid and res.text.startswith(")") and "]" not in res.text, res


@pytest.mark.parametrize("middle, lps, pruned", [
    ("    x = 1\n    y = (\n", [-0.1, -0.2, -3.0, -0.1, -0.5, -0.2], False),  # the whole text is invalid
    ("    x = 1\n    y = 2\n", [-2.0, -2.0, -0.1, -0.1, -0.1, -0.1], True),  # the whole text wins: cuts skipped
])
def test_unjudged_cuts_never_change_the_winner(hand_infiller, tokenizer, middle, lps, pruned):
    """Cuts are judged best first and those scoring below a valid ended one are skipped: the winner is
    the one judging every cut would pick."""
    from seqdiff_code.candidates import Candidate, MiddleCheck, best_of, rank_score, score_canvas
    from seqdiff_code.infill import _Progress, _Row
    from seqdiff_code.syntax import MiddleJudge

    prefix, suffix = "def f():\n", "    return 1\n"
    ids = tokenizer.encode(middle) + [tokenizer.eos_id]
    lps = (lps * 4)[: len(ids)]
    judge = MiddleJudge(prefix, suffix)
    check = MiddleCheck(judge)
    p = _Progress(judge=judge, canvas=len(ids))
    for _ in range(2):  # a second canvas meets the floor the first one set
        hand_infiller._collect(p, _Row(0, [], [], len(ids), 0), check, ids, lps, [0] * len(ids))
    text, offsets = hand_infiller.middle_text(ids)
    ended, lp = score_canvas(ids, lps, tokenizer.eos_id, tokenizer.mask_id)
    everything = [Candidate(text=cut, errors=judge.errors(cut), ended=ended or k > 0 or cut.endswith("\n"),
                            score=rank_score(lp if k == 0 else lp[:used], ended and k == 0, 0.01), canvas=len(ids),
                            seed=0, index=k) for k, (cut, used) in enumerate(check.cuts(text, offsets))]
    assert best_of(p.candidates, True).text == best_of(everything, True).text
    assert (len(p.candidates) < 2 * len(everything)) == pruned


def test_budget_spent_before_any_code_still_answers_with_code(tokenizer):
    """The clock has run out before the first step (a busy machine): where a statement is needed the
    answer is not the blank line the empty canvas gives, but one candidate decoded to its end, flagged
    truncated, in a bounded number of model calls."""
    decoding = InfillDecoding(first_canvas=4, block_length=2, budget_grace=0.0)
    infiller = hand(tokenizer, {"<eos>": 6.0, "\n": 5.5, " ": 5.0, " pass": 4.0}, decoding=decoding)
    def spent():  # a fresh clock: 0 when the deadline is set, 100 s later at its first check
        reads = iter([0.0])
        return lambda: next(reads, 100.0)

    infiller.clock = spent()
    res = infiller.infill("def f(x):\n", "\n", max_tokens=32, candidates=4, time_budget_s=0.5)
    assert res.truncated and res.text == "    pass" and res.valid, res
    assert res.valid_candidates == 1 and 0 < res.nfe <= 4  # one canvas of first_canvas tokens, no re-masking
    infiller.clock = spent()
    plain = infiller.infill("x = ", "\n", max_tokens=8, candidates=1, time_budget_s=0.5)
    assert plain.truncated and plain.nfe == 0 and plain.text == ""  # mid-line: no code required, none forced


def test_line_start_gap_also_gets_one_candidate_without_a_lead(tokenizer):
    """An empty line (llama.vim's layout) is decoded from each guessed indentation and once without a
    lead, so the model may still begin with a newline or a comment; it comes last, after the guesses."""
    from seqdiff_code.infill import _Progress
    from seqdiff_code.syntax import MiddleJudge

    for free in (True, False):
        infiller = hand(tokenizer, decoding=InfillDecoding(free_candidate=free))
        r = InfillRequest("def f(x):\n    y = 1\n", "\nprint(f)\n", candidates=4)
        p = _Progress(MiddleJudge(r.prefix, r.suffix), 16, *infiller._leads(r), tries=1)
        plan = infiller._plan(r, p)
        shown = [(lead.text + lead.start if lead else None, canvas) for lead, canvas in plan]
        want = [("", 16), ("    ", 16), (None, 16), ("", 4)] if free else [("", 16), ("    ", 16), ("", 4), ("    ", 4)]
        assert shown == want


def test_gap_before_a_deeper_line_is_decoded_as_a_header(tokenizer):
    """A line followed by a deeper one must open a block: its leads carry the header's ":" after the
    canvas (the model writes only ``while n``), and the same leads without it (a bracket left open): the
    likeliest one right after its tailed twin, the others after the free candidate."""
    from seqdiff_code.infill import _Progress
    from seqdiff_code.syntax import MiddleJudge

    prefix, suffix = "def f(n):\n    n = g(n)\n", "        n -= 1\n    return n\n"
    start = len(tokenizer.encode(prefix + "   "))  # the lead "   " + " while": the canvas' first position
    infiller = hand(tokenizer, prefs={"<eos>": 5.0}, at={start: " while", start + 1: " n"})
    r = InfillRequest(prefix, suffix, candidates=4)
    p = _Progress(MiddleJudge(r.prefix, r.suffix), 16, *infiller._leads(r), tries=1)
    shown = [(lead.text + lead.start, lead.tail) if lead else None for lead, _ in infiller._plan(r, p)]
    assert shown == [("    ", ":\n"), ("    ", ""), ("", ":\n"), None]  # the likeliest depth both ways first
    res = infiller.infill(prefix, suffix, max_tokens=16, candidates=4)
    assert res.valid and res.text == "    while n:\n", res
    compile(prefix + res.text + suffix, "<t>", "exec")


def test_an_editors_line_end_is_decoded_inside_the_canvas(tokenizer):
    """llama.vim's suffix starts with the cursor line's newline: the model sees the gap as the training
    layout's line gaps (the newline in the canvas, the suffix after it) and writes ``pass\n``; the answer
    drops that newline, so the file is the one the editor will show."""
    prefix, suffix = "def f(x):\n    ", "\nprint(f(1))\n"
    start = len(tokenizer.encode(prefix))
    infiller = hand(tokenizer, prefs={"<eos>": 5.0}, at={start: "pass", start + 1: "\n"})
    seen = []
    infiller._canvas = lambda rows, canvas=infiller._canvas: seen.extend(rows) or canvas(rows)
    res = infiller.infill(prefix, suffix, max_tokens=16, candidates=2)
    assert res.valid and res.text == "pass", res
    assert all(tokenizer.decode(row.suffix_ids) == "print(f(1))\n" for row in seen)
    compile(prefix + res.text + suffix, "<t>", "exec")


def test_a_tailed_line_in_an_editors_empty_line_has_ended(tokenizer):
    """llama.vim's cursor on an empty line (the suffix starts with its newline): a header's tail ``:``
    ends the line as ``:\n`` does before a line start, so a canvas filled without an ``<eos>`` has ended
    there and no larger canvas is decoded (it was: 4 model calls against 167 on a held-out line)."""
    prefix, suffix = "def f(n):\n    n = g(n)\n", "\n        n -= 1\n    return n\n"
    start = len(tokenizer.encode(prefix + "   "))
    infiller = hand(tokenizer, prefs={"<eos>": 5.0}, at={start: " while", start + 1: " n"},
                    decoding=InfillDecoding(first_canvas=2, block_length=2))
    res = infiller.infill(prefix, suffix, max_tokens=16, candidates=4)
    assert res.valid and res.text == "    while n:" and res.canvas_length == 2, res
    compile(prefix + res.text + suffix, "<t>", "exec")


@pytest.mark.parametrize("prefix, lead, token, want", [
    ("def f(x):", "\n   ", " pass", "\n    pass"),  # llama.vim before Enter: the cursor after the header
    ("def f(x):\n    ", "", "pass", "pass"),  # after Vim's autoindent: the typed indentation is the lead
])
def test_editor_layouts_get_a_statement(tokenizer, prefix, lead, token, want):
    start = len(tokenizer.encode(prefix + lead))
    infiller = hand(tokenizer, prefs={"<eos>": 5.0, "\n": 4.9, " ": 4.8}, at={start: token})
    res = infiller.infill(prefix, "\n", max_tokens=16, candidates=2)
    assert res.valid and res.text == want, res


def test_budget_spent_on_a_finished_invalid_answer_is_not_decoded_again(tokenizer):
    """Finishing is for answers cut off mid-decode: a canvas decoded to its end, only invalid, is answered
    as it is when the budget ends (decoding again would cost another budget for the same kind of answer)."""
    decoding = InfillDecoding(first_canvas=2, block_length=2, budget_grace=0.0)
    infiller = hand(tokenizer, decoding=decoding, max_remask_rounds=0)  # "]" and no repair: never valid
    infiller.clock = StepClock(infiller.model)
    # the first canvas (2 tokens) is decoded in one call; the doubled one is cut before its first step
    res = infiller.infill("x = (1 + 2", "\nprint(x)\n", max_tokens=4, candidates=1, time_budget_s=1.5)
    assert res.truncated and not res.valid and res.text == "]]" and res.nfe == 1, res


def test_inside_a_call_the_first_try_takes_the_line_bare_and_closing_the_call(tokenizer):
    """A gap inside a bracket the prefix left open: no header tail (a line there opens no block); its first
    try is the first indentation bare and with the closer (another depth would change nothing there),
    unless the suffix closes the call itself: then the gap is one more argument, at either depth."""
    from seqdiff_code.infill import _Progress
    from seqdiff_code.syntax import MiddleJudge

    infiller = hand(tokenizer)

    def first_try(prefix: str, suffix: str):
        r = InfillRequest(prefix, suffix, candidates=4)
        p = _Progress(MiddleJudge(r.prefix, r.suffix), 16, *infiller._leads(r), tries=0)
        return [(lead.text + lead.start, lead.tail) if lead else None for lead, _ in infiller._plan(r, p)]

    prefix = "def f(self):\n    super().__init__(\n"
    assert first_try(prefix, "        b=2,\n") == [("        ", ""), ("        ", ")\n")]  # the window ends there
    assert all(")" not in tail for _, tail in first_try(prefix, "        b=2,\n    )\n"))


def test_the_first_try_commits_more_tokens_a_step_than_the_retries(tokenizer):
    """``first_tokens_per_step`` is the first round's quota; the rounds after it (a wider or longer retry
    when nothing valid ended) use ``tokens_per_step``."""
    infiller = hand(tokenizer, decoding=InfillDecoding(first_tokens_per_step=4, tokens_per_step=2),
                    max_remask_rounds=0)
    quotas, make = [], infiller._denoiser

    def spy(*args, **kwargs):
        denoise = make(*args, **kwargs)
        quotas.append(denoise.sampler.inner.k)
        return denoise

    infiller._denoiser = spy
    res = infiller.infill("x = (1 + 2", "\nprint(x)\n", max_tokens=4, candidates=4)  # "]" is never valid
    assert not res.valid and quotas[0] == 4 and len(quotas) > 1 and set(quotas[1:]) == {2}
