"""The pieces of ``CodeInfiller`` that judge and rank candidates: the ``<eos>`` layout hook, the core
loop's validator, commit-time scoring, llama.cpp's ``n_indent`` cut and the choice of the winner."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from seqdiff.samplers.eos_filler import EosFiller
from seqdiff.samplers.loop import Repair
from seqdiff_code.syntax import ErrorSpan, MiddleJudge, error_tokens


@dataclass
class Candidate:
    text: str
    errors: list[ErrorSpan]
    score: float
    ended: bool  # the canvas holds an <eos>: the middle ended inside it
    canvas: int
    seed: int
    index: int  # order of decoding (ties go to the earlier)
    complete: bool = True  # no mask in its text's tokens (a canvas the budget cut mid-decode is not)
    tokens: list[int] = field(default_factory=list, repr=False)
    commit_step: list[int] = field(default_factory=list, repr=False)


def best_of(candidates: list[Candidate], constrained: bool) -> Candidate:
    """The best by score from the first non-empty pool. Constrained: valid candidates that end (at an
    ``<eos>`` or a line end), valid ones, then those that write something where code is needed (never an
    empty answer while another exists), decoded to their end first (never half a line while a whole one
    exists), then all. Unconstrained: ended ones, then all. A canvas filled
    without an ``<eos>`` was cut off wherever its size ran out, so an ended candidate is preferred."""
    if constrained:
        written = [c for c in candidates if not any(e.kind == "EMPTY" for e in c.errors)]
        pools = ([c for c in candidates if c.ended and not c.errors], [c for c in candidates if not c.errors],
                 [c for c in written if c.complete], written)
    else:
        pools = ([c for c in candidates if c.ended],)
    pool = next((p for p in pools if p), candidates)
    return max(pool, key=lambda c: (c.score, -c.index))


def settled(candidates: list[Candidate], constrained: bool) -> bool:
    """No larger canvas is needed: some candidate ends (and, constrained, is valid)."""
    return any(c.ended and (not constrained or not c.errors) for c in candidates)


def content_length(canvas: list[int], eos_id: int, mask_id: int) -> int:
    """Tokens before the first ``<eos>`` or ``<mask>`` (a candidate cut short by the budget has masks)."""
    for i, t in enumerate(canvas):
        if t == eos_id or t == mask_id:
            return i
    return len(canvas)


def score_canvas(canvas: list[int], logprob: list[float], eos_id: int, mask_id: int) -> tuple[bool, list[float]]:
    """(ended, log-probabilities that count): the content tokens' and, when the content ends with an
    ``<eos>``, that token's (the model's belief that the middle ends there); forced fillers are left out."""
    n = content_length(canvas, eos_id, mask_id)
    ended = n < len(canvas) and canvas[n] == eos_id
    return ended, logprob[: n + 1] if ended else logprob[:n]


def rank_score(logprob: list[float], ended: bool, length_bonus: float) -> float:
    """Mean of the counted log-probabilities plus ``length_bonus`` per content token."""
    if not logprob:
        return float("-inf")
    return sum(logprob) / len(logprob) + length_bonus * (len(logprob) - int(ended))


def cut_n_indent(text: str, n_indent: int) -> str:
    """llama.cpp's ``n_indent``: the first later line indented less than ``n_indent`` ends the middle, its
    indentation kept (llama.cpp's cut, an empty line included)."""
    if n_indent <= 0:
        return text
    nl = text.find("\n")
    while nl >= 0:
        pos = nl + 1
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos < len(text) and pos - (nl + 1) < n_indent:
            return text[:pos]
        nl = text.find("\n", nl + 1)
    return text


def line_cuts(text: str, offsets: list[tuple[int, int]], keep_newline: bool) -> list[tuple[str, int]]:
    """(text, tokens it uses) for the whole text and for each cut at a line end: a middle may end at any
    line end, and a short canvas filled without an ``<eos>`` usually holds the line that belongs there
    followed by the start of another. ``keep_newline``: the gap is followed by a line start (the cut keeps
    its newline) rather than by the rest of the cursor's line (it drops it)."""
    data = text.encode("utf-8")
    cuts, at = [], data.find(b"\n")
    while at >= 0:
        end = at + 1 if keep_newline else at
        used = sum(1 for s, _ in offsets if s < max(end, at + 1))
        cut = data[:end].decode("utf-8", errors="ignore")
        if cut.strip() and cut != text:
            cuts.append((cut, used))
        at = data.find(b"\n", at + 1)
    return [(text, sum(1 for s, e in offsets if e > s))] + cuts


@dataclass(frozen=True)
class MiddleCheck:
    """A request's candidate texts from one canvas (line cuts, the ``n_indent`` cut) and their judge.
    ``line_end``: the canvas was decoded with the suffix's first newline inside it (``InfillDecoding.
    line_frame``), so a text's own final newline is that one: the answer drops it."""

    judge: MiddleJudge
    n_indent: int = 0
    line_end: bool = False

    @property
    def keep_newline(self) -> bool:
        suffix = self.judge.suffix
        return self.line_end or (bool(suffix) and not suffix.startswith(("\n", "\r\n")))

    def answer(self, cut: str) -> str:
        """The middle a cut stands for, in the request's own frame."""
        return cut[:-1] if self.line_end and cut.endswith("\n") else cut

    def errors(self, cut: str) -> list:
        return self.judge.errors(self.answer(cut))

    def cuts(self, text: str, offsets: list[tuple[int, int]]) -> list[tuple[str, int]]:
        """(text, tokens used) for the text and its line cuts (``line_cuts``), each after the ``n_indent``
        cut, duplicates once; judge them with ``self.judge.errors`` (memoised)."""
        seen, out = set(), []
        for cut, used in line_cuts(text, offsets, self.keep_newline):
            cut = cut_n_indent(cut, self.n_indent)
            if cut not in seen:
                seen.add(cut)
                out.append((cut, used))
        return out


class LayoutHook:
    """Logits hook for the training layout and the first-token rule (indent.py). A masked canvas position
    after a committed ``<eos>`` can only become ``<eos>`` (content, then filler); a row's ``first``
    position (-1: none), while masked, only a token ``allowed[row]`` marks; a row's ``second`` position
    (-1: none), while masked, no ``<eos>`` (a header's keyword needs what follows it: ``while n:``, never
    ``while:``). Finite penalties, so a ban can never leave a row without a finite logit. Edits ``logits``
    in place: the loop hands it a tensor of its own at every step, or one it reuses only when the canvas
    did not change (the same edits again)."""

    def __init__(self, editable: torch.Tensor, eos_id: int, mask_id: int, first: torch.Tensor | None = None,
                 allowed: torch.Tensor | None = None, second: torch.Tensor | None = None):
        self.filler = EosFiller(editable, eos_id, mask_id)
        self.mask_id, self.eos_id = mask_id, eos_id
        self.first, self.allowed, self.second = first, allowed, second  # [B] long, [B, V] bool, [B] long

    def __call__(self, step: int, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        logits = self.filler(step, x, logits)
        if self.first is not None:
            rows = (self.first >= 0).nonzero().squeeze(1)
            cols = self.first[rows]
            open_ = x[rows, cols] == self.mask_id
            rows, cols = rows[open_], cols[open_]
            if len(rows):
                logits[rows, cols] = logits[rows, cols].masked_fill(~self.allowed[rows], -1e4)
        if self.second is not None:
            rows = (self.second >= 0).nonzero().squeeze(1)
            cols = self.second[rows]
            open_ = x[rows, cols] == self.mask_id
            logits[rows[open_], cols[open_], self.eos_id] = -1e4
        return logits


class SyntaxValidator:
    """The core loop's validator: canvas [B, L] → ``Repair`` (error tokens and neighbours re-masked, the
    error tokens banned there). Only requests with no valid candidate yet are repaired (the winner is the
    best valid one, so another round would cost model calls without changing validity). ``<eos>`` is
    banned only at a canvas' first position (an empty middle where code is needed) and where the content
    ended inside an error (``while`` then ``<eos>`` before a header's ``:``: it must not end there again);
    further on an ``<eos>`` ban would fight the layout hook."""

    def __init__(self, infiller, rows, spans, check, constrained, deadline=None):  # rows: infill._Row
        self.infiller, self.rows, self.spans = infiller, rows, spans
        self.check, self.constrained = check, constrained  # per row: a MiddleCheck
        self.deadline = deadline  # told when every request has a valid candidate
        self.repaired: dict[int, list[int]] = {}  # row -> its last finished canvas before a re-mask

    def __call__(self, x: torch.Tensor) -> Repair:
        bad = torch.zeros_like(x, dtype=torch.bool)
        ban = torch.zeros_like(x, dtype=torch.bool)
        tok = self.infiller.tokenizer
        found = {}
        for b in range(len(self.rows)):
            a, e = self.spans[b]
            ids = x[b, a:e].tolist()
            if self.constrained[b] and tok.mask_id not in ids:
                text, offsets = self.infiller.middle_text(ids, self.rows[b].lead, self.rows[b].tail)
                check = self.check[b]
                cuts = check.cuts(text, offsets)
                if any(not check.errors(cut) for cut, _ in cuts):  # stops at the first valid one
                    found[b] = (ids, text, [])
                else:
                    found[b] = (ids, check.answer(cuts[0][0]), check.errors(cuts[0][0]))
        solved = {self.rows[b].request for b, (_, _, errors) in found.items() if not errors}
        if self.deadline is not None and solved >= {row.request for row in self.rows}:
            self.deadline.found_valid = True
        for b, (ids, text, errors) in found.items():
            if not errors or self.rows[b].request in solved:
                continue
            a = self.spans[b][0]
            self.repaired[b] = ids
            direct, context = self._positions(ids, text, errors, b)
            end = content_length(ids, tok.eos_id, tok.mask_id)  # an error reaching here: it ended too soon
            for i in direct:
                if ids[i] != tok.eos_id or i == 0 or i == end:
                    ban[b, a + i] = True
            for i in direct | context:
                bad[b, a + i] = True
        return Repair(remask=bad, ban=ban)

    def _positions(self, ids, text, errors, b) -> tuple[set[int], set[int]]:
        if any(e.kind == "EMPTY" for e in errors):
            return {0}, set(range(len(ids)))  # write something: decode the whole canvas again
        row = self.rows[b]
        _, offsets = self.infiller.middle_text(ids, row.lead, row.tail)
        base = self.check[b].judge.start_byte
        offsets = [(base + s, base + t) for s, t in offsets]
        # CPython's error alone where it names one: tree-sitter's ERROR span is often the whole line
        # (``assert isinstance(x, str):``), and every token in it would be banned
        pointed = [e for e in errors if e.kind.startswith("CPython: ")]
        return error_tokens(pointed or errors, offsets, base, base + len(text.encode("utf-8")))
