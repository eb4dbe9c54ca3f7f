"""Code infilling: ``CodeInfiller`` (the one object the CLI, notebook and server call).

Canvas (the same layout as training, data.py)::

    prefix tokens (left-cut) | <mask> x canvas_length | suffix tokens (right-cut) | <pad> to batch length

Only the canvas is editable. Training puts the middle first and ``<eos>`` filler after it, never content
after a filler, so once a row commits an ``<eos>`` every canvas position after it is forced to ``<eos>``
(a layout rule the model was trained under, not an approximation of the cache or the sampler) and the
middle is the text before the first ``<eos>``.

Decoding (``decoding.InfillDecoding``): blockwise (``block_length`` 16) with the dual KV cache; each step
commits at least ``tokens_per_step`` tokens and every other one the model is ``threshold`` sure of
(``decoding.QuotaThresholdSampler``: the ``<eos>`` filler goes in one step); ``context_tokens`` of prefix
and suffix around the gap (a refresh costs O(context)). Several candidates of all requests in ONE batch
with per-row generators (a row's result does not depend on the batch). A gap at a line start is decoded
from each likely indentation (``indent.py``: the indentation joins the prefix and the first canvas token
must be content, so no candidate is empty or mis-indented by whitespace); other gaps by canvas length.
Length is open: the first canvas is short (``first_canvas`` tokens, a line is usually under 16); a request
none of whose candidates ends (at an ``<eos>``, or at a line end: every line-end cut of a canvas' text is
a candidate too) is decoded again with twice the canvas, up to ``max_tokens`` (a maximum, not the canvas
size). Validity is the language's own verdict (``syntax.MiddleJudge``: CPython for Python, tree-sitter
spans for re-masking); constrained mode lets the core loop re-mask the error tokens and decode again
(``Repair``: the offending token is banned at its position) while a request has no valid candidate.

Ranking (``score``): the mean commit-time log-probability of the content tokens and of the ``<eos>`` that
ends them (an LM's ``log p(text, end) / (n + 1)``, the normalisation code-LM reranking found best), plus
``length_bonus`` per content token so a confident one-word middle does not beat the line that belongs
there. Forced fillers carry no information and are left out.

Time budget: ``time_budget_s`` (an editor's ``t_max_predict_ms``) is checked through the loop's
``should_stop`` with the infiller's ``clock`` (``Deadline``: it ends decoding when the budget is spent;
``budget_grace`` > 0 lets it stretch while no request has a valid candidate, as llama.cpp applies it only
once a line is complete, off by default: the stretch made answers late and rarely valid); when it runs
out the best valid candidate so far is returned with ``truncated=True`` (a candidate still decoding
counts with the text it has committed so far). Where no candidate is valid and the answer would be
blank where code is needed or cut off mid-decode, the first try's candidates are decoded to the end of
their canvas (``_finish_blank``): never an empty or half-written answer because the clock ran out.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import torch

from seqdiff_code.candidates import (Candidate, LayoutHook, MiddleCheck, SyntaxValidator, best_of, content_length,
                                     rank_score, score_canvas, settled)
from seqdiff_code.decoding import Deadline, InfillDecoding, QuotaThresholdSampler, canvas_lengths, cut_context
from seqdiff_code.indent import Lead, body_after_header, first_token_allowed, gap_leads
from seqdiff_code.syntax import MiddleJudge, needs_code

MAX_TOKENS_LIMIT = 192
MAX_CANDIDATES = 32
DEFAULT_THREADS = 1  # measured: 2 threads on 2 busy cores are slower than 1 (README "Code infilling")


class InfillCancelled(Exception):
    """Raised by ``infill_many`` when its ``should_stop()`` returns True between steps (the loop stops)."""


@dataclass(frozen=True)
class InfillRequest:
    prefix: str
    suffix: str = ""
    max_tokens: int = 64  # the longest middle, not the canvas size
    candidates: int = 4
    seed: int = 0
    constrained: bool = True
    temperature: float = 0.0
    language: str = "python"
    time_budget_s: float | None = None  # an editor's t_max_predict_ms / 1000
    n_indent: int = 0  # llama.cpp: a later line indented less than this ends the middle

    def validate(self) -> None:
        if not isinstance(self.prefix, str) or not isinstance(self.suffix, str):
            raise ValueError("prefix and suffix must be str")
        if not self.prefix and not self.suffix:
            raise ValueError("prefix and suffix are both empty: give some code before or after the gap")
        if not 1 <= self.max_tokens <= MAX_TOKENS_LIMIT:
            raise ValueError(f"max_tokens={self.max_tokens} is out of range (1..{MAX_TOKENS_LIMIT})")
        if not 1 <= self.candidates <= MAX_CANDIDATES:
            raise ValueError(f"candidates={self.candidates} is out of range (1..{MAX_CANDIDATES})")
        if not (self.temperature >= 0 and math.isfinite(self.temperature)):
            raise ValueError(f"temperature={self.temperature} must be a finite number >= 0")
        if self.time_budget_s is not None and not (self.time_budget_s > 0 and math.isfinite(self.time_budget_s)):
            raise ValueError(f"time_budget_s={self.time_budget_s} must be a finite number > 0 (or None: no limit)")
        if self.n_indent < 0:
            raise ValueError(f"n_indent={self.n_indent} must be >= 0")


@dataclass
class InfillResult:
    text: str  # the middle
    valid: bool  # the language's parser accepts prefix + text + suffix, as far as the middle is concerned
    candidates: int  # canvases decoded (all canvas sizes tried)
    valid_candidates: int  # valid texts among the judged canvases and line cuts (those that cannot win go unjudged)
    remask_rounds: int
    nfe: int  # model calls for the batches this request was decoded in
    wall_s: float
    score: float  # ranking score of the winner (module docstring)
    canvas_length: int
    seed: int
    constrained: bool
    truncated: bool = False  # the time budget ran out: the best candidate so far
    errors: list[tuple[int, int, str]] = field(default_factory=list)  # winner's error spans (byte, in full text)
    # winner's canvas, for plots: token ids and the step each was committed at
    canvas_tokens: list[int] = field(default_factory=list, repr=False)
    commit_step: list[int] = field(default_factory=list, repr=False)

    def to_dict(self, trajectory: bool = False) -> dict:
        data = asdict(self)
        if not trajectory:
            data.pop("canvas_tokens")
            data.pop("commit_step")
        return data


@dataclass
class _Row:
    request: int
    prefix_ids: list[int]
    suffix_ids: list[int]
    canvas: int
    seed: int
    lead: str = ""  # indentation put before the canvas (indent.py); the middle starts with it
    tail: str = ""  # put after the canvas (a header's ":", indent.py); the middle ends with it
    start: str | None = None  # the first canvas token must begin with this, then content (None: any token)
    words: tuple[str, ...] = ()  # ... and then begin one of these keywords (indent.py)
    code: bool = False  # ... and not begin a comment (indent.py)
    more: bool = False  # ... and not end after it (``Lead.needs_more``)


@dataclass
class _Progress:
    """One request across its canvas sizes: every candidate so far and the model cost spent."""

    judge: MiddleJudge
    canvas: int
    leads: list[Lead] = field(default_factory=list)  # a line-start gap's indentations (indent.py); [] = none
    later: list[Lead] = field(default_factory=list)  # the tailed leads once more without it (``_plan``)
    candidates: list[Candidate] = field(default_factory=list)  # every canvas' text and its line cuts
    decoded: int = 0  # canvases decoded
    nfe: int = 0
    remask_rounds: int = 0
    done: bool = False
    tries: int = 0  # rounds decoded
    skip: int = 0  # leading candidates already decoded at this canvas size (the first try's)
    line_end: bool = False  # decoded with the suffix's first newline in the canvas (``_line_frame``)


class CodeInfiller:
    def __init__(self, pretrained, device: str | torch.device = "cpu", context_length: int = 256,
                 max_remask_rounds: int = 4, decoding: InfillDecoding = InfillDecoding(),
                 clock: Callable[[], float] = time.monotonic):
        self.pretrained = pretrained
        self.model = pretrained.model.eval()
        self.tokenizer = pretrained.tokenizer
        self.device = torch.device(device)
        self.context_length = context_length
        self.max_remask_rounds = max_remask_rounds
        self.decoding = decoding
        self.clock = clock  # time source for budgets; tests pass a fake
        tok = self.tokenizer
        self.banned = sorted(set(tok.special_ids) - {tok.eos_id})
        self._allowed_cache: dict[tuple, torch.Tensor] = {}  # first-token rule per lead start, words and code

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device: str | torch.device = "cpu",
                        dtype: str | torch.dtype = "auto", **kwargs) -> "CodeInfiller":
        """Load a model folder: a seqdiff code model or a Hugging Face text diffusion LM (LLaDA, Dream-Coder,
        DiffuCoder: the gap is masks between prefix and suffix, no FIM tokens needed); ``None`` = the bundled
        model (FileNotFoundError if it is not installed). ``dtype``: see ``seqdiff.precision`` (``auto``, as the
        CLI and the server: bfloat16 where it is native and faster, e.g. the bundled model on an AVX-512 BF16
        CPU)."""
        from seqdiff.checkpoint import from_pretrained

        if path is None:
            from seqdiff_code.domain import CodeDomain

            path = CodeDomain().default_model()
            if path is None:
                raise FileNotFoundError("the bundled code model is not installed "
                                        "(domains/code/seqdiff_code/models/code-small-tuned); pass a model folder")
        pretrained = from_pretrained(path, device=device, dtype=dtype)
        if pretrained.domain not in ("code", None):  # None: a text model (LLaDA, Dream-Coder, DiffuCoder, ...)
            raise ValueError(f"model folder {str(path)!r} is a {pretrained.domain!r} model, not a code model")
        return cls(pretrained, device=device, **kwargs)

    # --- public API ---------------------------------------------------------------------------
    def infill(self, prefix: str, suffix: str = "", max_tokens: int = 64, candidates: int = 4, seed: int = 0,
               constrained: bool = True, temperature: float = 0.0, language: str = "python",
               time_budget_s: float | None = None, n_indent: int = 0,
               should_stop: Callable[[], bool] | None = None) -> InfillResult:
        request = InfillRequest(prefix=prefix, suffix=suffix, max_tokens=max_tokens, candidates=candidates,
                                seed=seed, constrained=constrained, temperature=temperature, language=language,
                                time_budget_s=time_budget_s, n_indent=n_indent)
        return self.infill_many([request], should_stop=should_stop)[0]

    def infill_many(self, requests: Sequence[InfillRequest | dict],
                    should_stop: Callable[[], bool] | None = None) -> list[InfillResult]:
        """Decode several requests' candidates together (one batch per temperature); results in order.
        ``should_stop()`` is checked before every denoising step; when it returns True this raises
        ``InfillCancelled``. The earliest time budget of a batch applies to the whole batch. Bad requests
        raise ValueError before any decoding."""
        reqs = [r if isinstance(r, InfillRequest) else InfillRequest(**r) for r in requests]
        for i, r in enumerate(reqs):
            try:
                r.validate()
            except ValueError as err:
                raise ValueError(f"request {i}: {err}" if len(reqs) > 1 else str(err)) from None
        results: list[InfillResult | None] = [None] * len(reqs)
        groups: dict[float, list[int]] = {}
        for i, r in enumerate(reqs):
            groups.setdefault(r.temperature, []).append(i)
        for temperature, members in groups.items():
            for i, res in zip(members, self._infill_group([reqs[i] for i in members], temperature, should_stop)):
                results[i] = res
        return results  # type: ignore[return-value]

    # --- internals ----------------------------------------------------------------------------
    def _candidate_count(self, r: InfillRequest) -> int:
        if r.time_budget_s is None:
            return r.candidates
        return max(1, min(r.candidates, int(r.time_budget_s / self.decoding.seconds_per_candidate)))

    def _infill_group(self, reqs: list[InfillRequest], temperature: float,
                      should_stop: Callable[[], bool] | None) -> list[InfillResult]:
        start = time.perf_counter()
        budgets = [r.time_budget_s for r in reqs if r.time_budget_s is not None]
        deadline = Deadline(self.clock, min(budgets), self.decoding.budget_grace) if budgets else None
        first_canvas = self.decoding.first_canvas
        asked, reqs = reqs, [self._line_frame(r) for r in reqs]
        progress = [_Progress(MiddleJudge(a.prefix, a.suffix, a.language), min(r.max_tokens, first_canvas),
                              *self._leads(r), line_end=r is not a) for a, r in zip(asked, reqs)]
        truncated = False
        while not truncated:
            pending = [i for i, p in enumerate(progress) if not p.done]
            if not pending:
                break
            truncated = self._decode_round(reqs, progress, pending, temperature, should_stop, deadline)
            if deadline is not None:
                deadline.found_valid = all(any(not c.errors for c in p.candidates) for p in progress)
            for i in pending:
                self._next_round(reqs[i], progress[i], truncated)
        if truncated:
            self._finish_blank(reqs, progress, temperature, should_stop)
        wall = time.perf_counter() - start
        return [self._result(r, p, truncated, wall) for r, p in zip(reqs, progress)]

    def _line_frame(self, r: InfillRequest) -> InfillRequest:
        """The request as decoded: with ``line_frame``, a gap whose suffix starts with a newline (llama.vim's
        cursor on an empty line) gets that newline inside its canvas, as the training layout's line gaps
        have it; the model then writes ``line\n`` (or ``line<eos>``) and the answer drops the newline."""
        if self.decoding.line_frame and r.suffix.startswith("\n"):
            return replace(r, suffix=r.suffix[1:])
        return r

    def _next_round(self, r: InfillRequest, p: _Progress, truncated: bool) -> None:
        """After a round: done; the same canvas with the other candidates (after a first try that settled
        nothing, when one of its candidates ends or the canvas cannot grow); or a canvas twice as long."""
        p.tries += 1
        widen = p.tries == 1 and self._candidate_count(r) > self.decoding.first_candidates
        p.skip = 0
        if truncated or settled(p.candidates, r.constrained) or (p.canvas >= r.max_tokens and not widen):
            p.done = True
        elif widen and (p.canvas >= r.max_tokens or any(c.ended for c in p.candidates)):
            p.skip = self.decoding.first_candidates  # the same canvas: only the candidates not decoded yet
        else:
            p.canvas = min(r.max_tokens, 2 * p.canvas)

    def _finish_blank(self, reqs: list[InfillRequest], progress: list[_Progress], temperature: float,
                      should_stop: Callable[[], bool] | None) -> None:
        """The budget ran out and what a request would answer is blank where code is needed or cut off
        mid-decode (``return =`` with masks after it), with no valid candidate: an editor is better served
        a little late than with nothing or half a line, so its first try's candidates are decoded to the
        end in one batch, past the budget but bounded: ``finish_canvases`` canvas sizes from
        ``first_canvas`` up (default one), doubling while none is valid, each with at most
        ``finish_remask_rounds`` re-maskings (default none). A request whose answer was decoded to its end,
        only invalid, is answered as it is (``best_of`` prefers it to a cut-off one) unless finishing may
        repair (``finish_remask_rounds`` > 0) what the budget cut: without re-masking, decoding again would
        cost another budget for the same kind of answer."""

        def unfinished(i: int) -> bool:
            r, p = reqs[i], progress[i]
            if any(not c.errors for c in p.candidates):
                return False
            if not p.candidates:
                return p.judge.require_code
            best = best_of(p.candidates, r.constrained)
            repairable = self.decoding.finish_remask_rounds > 0 and any(not c.complete for c in p.candidates)
            cut_off = not best.complete or not best.text.strip() or repairable
            return cut_off and (p.judge.require_code or any(c.text.strip() for c in p.candidates))

        blank = [i for i in range(len(reqs)) if unfinished(i)]
        for i in blank:
            progress[i].canvas = min(reqs[i].max_tokens, self.decoding.first_canvas)
            progress[i].tries = progress[i].skip = 0
        for size in range(self.decoding.finish_canvases):
            if size:
                blank = [i for i in blank if not any(not c.errors for c in progress[i].candidates)
                         and progress[i].canvas < reqs[i].max_tokens]
                for i in blank:
                    progress[i].canvas = min(reqs[i].max_tokens, 2 * progress[i].canvas)
            if not blank:
                break
            self._decode_round(reqs, progress, blank, temperature, should_stop, None,
                               remask_rounds=self.decoding.finish_remask_rounds)

    def _result(self, r: InfillRequest, p: _Progress, truncated: bool, wall: float) -> InfillResult:
        win = best_of(p.candidates, r.constrained)
        return InfillResult(
            text=win.text, valid=not win.errors, candidates=p.decoded,
            valid_candidates=sum(not c.errors for c in p.candidates), remask_rounds=p.remask_rounds, nfe=p.nfe,
            wall_s=round(wall, 4), score=round(win.score, 4), canvas_length=win.canvas, seed=win.seed,
            constrained=r.constrained, truncated=truncated, errors=[(s.start, s.end, s.kind) for s in win.errors],
            canvas_tokens=win.tokens, commit_step=win.commit_step)

    def _leads(self, r: InfillRequest) -> tuple[list[Lead], list[Lead]]:
        """How a gap that needs a statement starts and ends, and the leads to try last (``indent.gap_leads``)."""
        if not (self.decoding.indent_leads and r.constrained
                and (needs_code(r.prefix, r.suffix) or body_after_header(r.prefix, r.suffix) is not None)):
            return [], []
        return gap_leads(self.tokenizer, r.prefix, r.suffix)

    def _plan(self, r: InfillRequest, p: _Progress) -> list[tuple[Lead | None, int]]:
        """The request's candidates at its current canvas size, best first: each indentation (the first
        one with and without its tail; then, with ``free_candidate``, no lead; then the other tailed leads
        without their tail) at the full canvas, then at shorter ones (``canvas_lengths``); the first try
        takes the first few. Measured on 30 held-out lines (1 s budget, 1 thread): median model calls 9
        against 11 with every untailed lead after the free candidate, the same validity."""
        count = self._candidate_count(r)
        first = (p.leads[0].text, p.leads[0].start) if p.leads else None
        twin = [lead for lead in p.later[:1] if (lead.text, lead.start) == first]
        leads: list[Lead | None] = list(p.leads[:1] + twin + p.leads[1:])  # the first indentation both ways
        if not leads or self.decoding.free_candidate:
            leads.append(None)  # no lead: the model places the line itself (a newline, a comment first)
        leads += p.later[len(twin):]
        lengths = canvas_lengths(p.canvas, math.ceil(count / len(leads)))
        plan = [(lead, c) for c in lengths for lead in leads][:count]
        return plan if p.tries else plan[: self.decoding.first_candidates]

    def _rows(self, reqs: list[InfillRequest], progress: list[_Progress], pending: list[int]) -> list[_Row]:
        rows = []
        for ri in pending:
            r, p = reqs[ri], progress[ri]
            plan = self._plan(r, p)
            budget = min(self.decoding.context_tokens, self.context_length - max(c for _, c in plan))
            for k, (lead, canvas) in enumerate(plan):
                if k < p.skip:
                    continue
                text, tail = (lead.text, lead.tail) if lead else ("", "")
                pre, suf = cut_context(self.tokenizer, r.prefix + text, tail + r.suffix, budget)
                rows.append(_Row(ri, pre, suf, canvas, r.seed + k, text, tail, lead.start if lead else None,
                                 lead.words if lead else (), bool(lead and lead.code),
                                 bool(lead and lead.needs_more)))
        return rows

    def _denoiser(self, canvas: int, temperature: float, validator, hook, stop, remask_rounds: int,
                  first_try: bool = False):
        from seqdiff.samplers import (BlockwiseSampler, CacheOptions, ConfidenceSampler, Denoise, SamplingOptions,
                                      ThresholdSampler)

        d, sampling = self.decoding, SamplingOptions(temperature=temperature)
        k = d.first_tokens_per_step if first_try and d.first_tokens_per_step is not None else d.tokens_per_step
        if k is None:
            inner = ThresholdSampler(threshold=d.threshold, sampling=sampling)
        elif d.commit_sure:
            inner = QuotaThresholdSampler(k=k, threshold=d.threshold, sampling=sampling)
        else:
            inner = ConfidenceSampler(steps=math.ceil(canvas / k), sampling=sampling)
        return Denoise(sampler=BlockwiseSampler(inner=inner, block_length=d.block_length), banned_ids=self.banned,
                       logits_hook=hook, validator=validator, should_stop=stop,
                       cache=CacheOptions(d.cache, across_rounds=d.cache_across_rounds),
                       max_remask_rounds=remask_rounds if validator else 0)

    def _canvas(self, rows: list[_Row]):
        """Batch tensors ``x`` and ``editable`` [B, L] and each row's canvas span."""
        tok = self.tokenizer
        length = max(len(r.prefix_ids) + r.canvas + len(r.suffix_ids) for r in rows)
        x = torch.full((len(rows), length), tok.pad_id, dtype=torch.long)
        editable = torch.zeros_like(x, dtype=torch.bool)
        spans = []
        for b, row in enumerate(rows):
            a = len(row.prefix_ids)
            ids = row.prefix_ids + [tok.mask_id] * row.canvas + row.suffix_ids
            x[b, : len(ids)] = torch.tensor(ids)
            editable[b, a: a + row.canvas] = True
            spans.append((a, a + row.canvas))
        return x.to(self.device), editable.to(self.device), spans

    def _first_token_rule(self, rows: list[_Row], spans) -> tuple[torch.Tensor | None, ...]:
        """[B] first canvas position of each row with a lead (-1: none), [B, V] the tokens allowed there and
        [B] the position after it where ``<eos>`` may not stand (-1: none; a header keyword's row)."""
        if all(row.start is None for row in rows):
            return None, None, None
        first = torch.tensor([a if row.start is not None else -1 for row, (a, _) in zip(rows, spans)])
        allowed = torch.stack([self._allowed(row.start or "", row.words, row.code) for row in rows])
        second = torch.tensor([a + 1 if row.more and e - a > 1 else -1 for row, (a, e) in zip(rows, spans)])
        return first.to(self.device), allowed.to(self.device), second.to(self.device)

    def _allowed(self, start: str, words: tuple[str, ...], code: bool) -> torch.Tensor:
        if (start, words, code) not in self._allowed_cache:
            self._allowed_cache[(start, words, code)] = first_token_allowed(self.tokenizer, start, words, code)
        return self._allowed_cache[(start, words, code)]

    def _decode_round(self, reqs, progress, pending, temperature, should_stop, deadline,
                      remask_rounds: int | None = None) -> bool:
        """Decode the pending requests' candidates at their current canvas size in one batch; adds the
        candidates to ``progress``. Returns True when the time budget cut the round short. Constrained rows
        are re-masked where the judge finds errors, at most ``remask_rounds`` times (None: the infiller's
        ``max_remask_rounds``)."""
        from seqdiff.samplers.base import row_generators

        tok = self.tokenizer
        rows = self._rows(reqs, progress, pending)
        x, editable, spans = self._canvas(rows)
        check = [MiddleCheck(progress[row.request].judge, reqs[row.request].n_indent, progress[row.request].line_end)
                 for row in rows]
        constrained = [reqs[row.request].constrained for row in rows]
        rounds = self.max_remask_rounds if remask_rounds is None else remask_rounds
        validator = (SyntaxValidator(self, rows, spans, check, constrained, deadline)
                     if rounds and any(constrained) else None)

        def stop() -> bool:
            return (should_stop is not None and should_stop()) or (deadline is not None and deadline.expired())

        hook = LayoutHook(editable, tok.eos_id, tok.mask_id, *self._first_token_rule(rows, spans))
        first_try = all(progress[i].tries == 0 for i in pending)
        denoise = self._denoiser(max(r.canvas for r in rows), temperature, validator, hook, stop, rounds, first_try)
        with torch.inference_mode():  # a little cheaper than the loop's no_grad; the outputs are only read
            out = denoise(self.model, x, editable, generator=row_generators([r.seed for r in rows], self.device))
        if out.stopped and not (deadline is not None and deadline.passed):
            raise InfillCancelled("infill cancelled")
        tokens, logprob, steps = out.tokens.cpu(), out.token_logprob.cpu(), out.commit_step.cpu()
        for b, row in enumerate(rows):
            a, e = spans[b]
            canvas = tokens[b, a:e].tolist()
            self._collect(progress[row.request], row, check[b], canvas, logprob[b, a:e].tolist(),
                          steps[b, a:e].tolist())
            if tok.mask_id in canvas and validator is not None and b in validator.repaired:
                # cut short while re-decoding: the finished (invalid) canvas before it is still an answer,
                # ranked below every scored one (its log-probabilities were not kept)
                old = validator.repaired[b]
                self._collect(progress[row.request], row, check[b], old, [-math.inf] * len(old), [-1] * len(old),
                              decoded=False)
        for ri in pending:
            progress[ri].nfe += out.nfe
            progress[ri].remask_rounds += out.remask_rounds if reqs[ri].constrained else 0
        return bool(out.stopped)

    def _collect(self, p: _Progress, row: _Row, check: MiddleCheck, canvas: list[int], logprob: list[float],
                 steps: list[int], decoded: bool = True) -> None:
        """One decoded canvas → candidates: its text and the cuts of it at line ends, scored, then judged
        best first. A cut scoring below a valid ended candidate already found is left out unjudged: it can
        never be the winner (``best_of`` takes the best valid ended one), so CPython is not asked."""
        tok = self.tokenizer
        ended, lp = score_canvas(canvas, logprob, tok.eos_id, tok.mask_id)
        complete = tok.mask_id not in canvas
        text, offsets = self.middle_text(canvas, row.lead, row.tail)
        p.decoded += decoded
        bonus, base = self.decoding.length_bonus, len(p.candidates)
        options = []
        for k, (cut, used) in enumerate(check.cuts(text, offsets)):
            whole = k == 0  # the canvas' own text; the others end at a line end inside it
            # a tail ends the line ("(", ":" before a cursor line's own newline, as "(\n" before a line start)
            options.append((rank_score(lp if whole else lp[:used], ended and whole, bonus), k, cut,
                            ended or not whole or cut.endswith("\n") or bool(row.tail)))
        floor = max((c.score for c in p.candidates if c.ended and not c.errors), default=-math.inf)
        for score, k, cut, cut_ended in sorted(options, key=lambda o: (-o[0], o[1])):
            if score < floor:
                continue
            errors = check.errors(cut)
            p.candidates.append(Candidate(text=check.answer(cut), errors=errors, ended=cut_ended, canvas=row.canvas,
                                          seed=row.seed, score=score, index=base + k, tokens=canvas,
                                          commit_step=steps, complete=k > 0 or complete))
            if cut_ended and not errors:
                floor = max(floor, score)

    def middle_text(self, canvas_ids: list[int], lead: str = "", tail: str = "") -> tuple[str, list[tuple[int, int]]]:
        """``lead`` + the text of a canvas up to its first ``<eos>`` or ``<mask>`` + ``tail``, and each canvas
        token's byte range in it (the tokens from there on get empty ranges at the content's end)."""
        tok = self.tokenizer
        n = content_length(canvas_ids, tok.eos_id, tok.mask_id)
        canvas_ids = canvas_ids[:n] + [tok.eos_id] * (len(canvas_ids) - n)
        table = tok.token_bytes
        offsets, pos = [], len(lead.encode("utf-8"))
        for i in canvas_ids:
            n = len(table[i])
            offsets.append((pos, pos + n))
            pos += n
        return lead + tok.decode(canvas_ids) + tail, offsets
