"""Syntax-constrained code infilling: ``CodeInfiller`` (the one object the CLI, notebook and server call).

Canvas (the same layout as training, data.py)::

    prefix tokens (left-cut) | <mask> x canvas_length | suffix tokens (right-cut) | <pad> to batch length

Only the canvas is editable. The model fills it with code followed by ``<eos>`` filler; every ``<eos>``
is dropped from the text. Several candidates (canvas lengths ``max_tokens``, ... down to about
``max_tokens / 4``, and seeds ``seed + i``) are decoded in ONE batch with per-row generators (a row's
result does not depend on the batch). Constrained mode passes a validator to the core loop: after each
decode it parses ``prefix + middle + suffix`` (full texts, not the cut context) with tree-sitter, maps
ERROR/MISSING byte spans to canvas tokens, and the loop re-masks them (plus one neighbour on each side)
and decodes again, only the re-masked rows of requests that have no valid candidate yet, up to
``max_remask_rounds``; a token rejected at a position is banned there for the
rest of the call, so a remask round never re-commits the same mistake. The winner is the best
syntax-valid candidate by model score (mean log-probability of the canvas tokens when they were
committed); if none is valid, the best by score. Unconstrained mode: same candidates, no validator, the
best by score.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch

from seqdiff.samplers.loop import Repair
from seqdiff_code.syntax import error_tokens, infill_errors

MAX_TOKENS_LIMIT = 192
MAX_CANDIDATES = 32


class InfillCancelled(Exception):
    """Raised by ``infill_many`` when its ``should_stop()`` returns True between steps (the loop stops)."""


@dataclass(frozen=True)
class InfillRequest:
    prefix: str
    suffix: str = ""
    max_tokens: int = 64
    candidates: int = 4
    seed: int = 0
    constrained: bool = True
    temperature: float = 0.0
    language: str = "python"

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


@dataclass
class InfillResult:
    text: str  # the middle
    valid: bool  # prefix + text + suffix has no (relevant) tree-sitter errors
    candidates: int  # candidates decoded
    valid_candidates: int
    remask_rounds: int
    nfe: int  # model calls for the whole batch this request was decoded in
    wall_s: float
    score: float  # mean log-probability of the winner's canvas tokens
    canvas_length: int
    seed: int
    constrained: bool
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


def canvas_lengths(max_tokens: int, candidates: int) -> list[int]:
    """max_tokens first, then evenly down to ~max_tokens/4 (repeats allowed: they differ by seed)."""
    if candidates == 1:
        return [max_tokens]
    low = max(1, round(max_tokens / 4))
    return [max(1, round(max_tokens - (max_tokens - low) * i / (candidates - 1))) for i in range(candidates)]


def cut_context(tokenizer, prefix: str, suffix: str, budget: int) -> tuple[list[int], list[int]]:
    """Prefix (left-cut) and suffix (right-cut) token ids within ``budget`` tokens: half each, and what one
    side leaves unused goes to the other."""
    budget = max(0, budget)
    pre = tokenizer.encode(prefix[-budget * 8:]) if prefix else []
    suf = tokenizer.encode(suffix[: budget * 8]) if suffix else []
    n_pre = min(len(pre), budget // 2)
    n_suf = min(len(suf), budget - n_pre)
    n_pre = min(len(pre), budget - n_suf)
    return pre[len(pre) - n_pre:], suf[:n_suf]


@dataclass
class _Row:
    request: int
    prefix_ids: list[int]
    suffix_ids: list[int]
    canvas: int
    seed: int


class CodeInfiller:
    def __init__(self, pretrained, device: str | torch.device = "cpu", context_length: int = 256,
                 steps: int | None = None, max_remask_rounds: int = 4):
        self.pretrained = pretrained
        self.model = pretrained.model.eval()
        self.tokenizer = pretrained.tokenizer
        self.device = torch.device(device)
        self.context_length = context_length
        self.steps = steps  # None: ceil(canvas / 2) steps (two tokens per step)
        self.max_remask_rounds = max_remask_rounds
        tok = self.tokenizer
        self.banned = sorted(set(tok.special_ids) - {tok.eos_id})

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device: str | torch.device = "cpu",
                        **kwargs) -> "CodeInfiller":
        """Load a model folder; ``None`` = the bundled model (FileNotFoundError if it is not installed)."""
        from seqdiff.checkpoint import from_pretrained

        if path is None:
            from seqdiff_code.domain import CodeDomain

            path = CodeDomain().default_model()
            if path is None:
                raise FileNotFoundError("the bundled code model is not installed "
                                        "(domains/code/seqdiff_code/models/code-small); pass a model folder")
        pretrained = from_pretrained(path, device=device)
        if pretrained.domain != "code":
            raise ValueError(f"model folder {str(path)!r} is a {pretrained.domain!r} model, not a code model")
        return cls(pretrained, device=device, **kwargs)

    # --- public API ---------------------------------------------------------------------------
    def infill(self, prefix: str, suffix: str = "", max_tokens: int = 64, candidates: int = 4, seed: int = 0,
               constrained: bool = True, temperature: float = 0.0, language: str = "python",
               should_stop: Callable[[], bool] | None = None) -> InfillResult:
        request = InfillRequest(prefix=prefix, suffix=suffix, max_tokens=max_tokens, candidates=candidates,
                                seed=seed, constrained=constrained, temperature=temperature, language=language)
        return self.infill_many([request], should_stop=should_stop)[0]

    def infill_many(self, requests: Sequence[InfillRequest | dict],
                    should_stop: Callable[[], bool] | None = None) -> list[InfillResult]:
        """Decode several requests' candidates together (one batch per temperature); results in order.
        ``should_stop()`` is checked after every denoising step; when it returns True this raises
        ``InfillCancelled``. Bad requests raise ValueError before any decoding."""
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
            for i, res in zip(members, self._decode_group([reqs[i] for i in members], temperature, should_stop)):
                results[i] = res
        return results  # type: ignore[return-value]

    # --- internals ----------------------------------------------------------------------------
    def _rows(self, reqs: list[InfillRequest]) -> list[_Row]:
        rows = []
        for ri, r in enumerate(reqs):
            lengths = canvas_lengths(r.max_tokens, r.candidates)
            pre, suf = cut_context(self.tokenizer, r.prefix, r.suffix, self.context_length - max(lengths))
            rows += [_Row(ri, pre, suf, c, r.seed + k) for k, c in enumerate(lengths)]
        return rows

    def _decode_group(self, reqs: list[InfillRequest], temperature: float,
                      should_stop: Callable[[], bool] | None) -> list[InfillResult]:
        from seqdiff.samplers import ConfidenceSampler, Denoise, SamplingOptions
        from seqdiff.samplers.base import row_generators

        start = time.perf_counter()
        tok = self.tokenizer
        rows = self._rows(reqs)
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
        x, editable = x.to(self.device), editable.to(self.device)
        max_canvas = max(r.canvas for r in rows)
        steps = self.steps or max(1, math.ceil(max_canvas / 2))
        sampler = ConfidenceSampler(steps=steps, sampling=SamplingOptions(temperature=temperature))
        constrained_rows = [reqs[r.request].constrained for r in rows]
        validator = _SyntaxValidator(self, reqs, rows, spans, constrained_rows) if any(constrained_rows) else None
        denoise = Denoise(sampler=sampler, banned_ids=self.banned, validator=validator,
                          max_remask_rounds=self.max_remask_rounds if validator else 0, should_stop=should_stop)
        out = denoise(self.model, x, editable, generator=row_generators([r.seed for r in rows], self.device))
        if out.stopped:
            raise InfillCancelled("infill cancelled")
        wall = time.perf_counter() - start
        tokens = out.tokens.cpu()
        counts = editable.sum(-1).clamp(min=1).cpu()
        scores = (out.token_logprob.cpu() * editable.cpu()).sum(-1).div(counts).tolist()
        results = []
        for ri, r in enumerate(reqs):
            members = [b for b, row in enumerate(rows) if row.request == ri]
            cands = []
            for b in members:
                text, errors = self._check(r, tokens[b, spans[b][0]: spans[b][1]].tolist())
                cands.append((b, text, errors))
            valid = [c for c in cands if not c[2]]
            pool = valid if (r.constrained and valid) else cands
            b, text, errors = max(pool, key=lambda c: (scores[c[0]], -c[0]))
            a, e = spans[b]
            results.append(InfillResult(
                text=text, valid=not errors, candidates=len(members), valid_candidates=len(valid),
                remask_rounds=out.remask_rounds if r.constrained else 0, nfe=out.nfe, wall_s=round(wall, 4),
                score=round(float(scores[b]), 4), canvas_length=rows[b].canvas, seed=rows[b].seed,
                constrained=r.constrained, errors=[(s.start, s.end, s.kind) for s in errors],
                canvas_tokens=tokens[b, a:e].tolist(), commit_step=out.commit_step[b, a:e].cpu().tolist()))
        return results

    def middle_text(self, canvas_ids: list[int]) -> tuple[str, list[tuple[int, int]]]:
        """Text of a canvas (fillers and other specials dropped) and each canvas token's byte range in it."""
        table = self.tokenizer.token_bytes
        offsets, pos = [], 0
        for i in canvas_ids:
            n = len(table[i])
            offsets.append((pos, pos + n))
            pos += n
        return self.tokenizer.decode(canvas_ids), offsets

    def _check(self, r: InfillRequest, canvas_ids: list[int]):
        text, _ = self.middle_text(canvas_ids)
        return text, infill_errors(r.prefix, text, r.suffix, r.language)


class _SyntaxValidator:
    """The core loop's validator: canvas [B, L] → positions to re-mask (error tokens and neighbours).

    Only requests with no syntax-valid candidate yet are repaired: the winner is the best valid candidate,
    so once one exists another round would cost model calls without changing whether the result is valid."""

    def __init__(self, infiller, reqs, rows, spans, constrained_rows):
        self.infiller, self.reqs, self.rows, self.spans = infiller, reqs, rows, spans
        self.constrained_rows = constrained_rows

    def __call__(self, x) -> Repair:
        bad = torch.zeros_like(x, dtype=torch.bool)
        ban = torch.zeros_like(x, dtype=torch.bool)
        mask_id = self.infiller.tokenizer.mask_id
        found: dict[int, tuple[list[int], str, list]] = {}
        for b, row in enumerate(self.rows):
            if not self.constrained_rows[b]:
                continue
            a, e = self.spans[b]
            ids = x[b, a:e].tolist()
            if mask_id not in ids:
                found[b] = (ids, *self.infiller._check(self.reqs[row.request], ids))
        solved = {self.rows[b].request for b, (_, _, errors) in found.items() if not errors}
        for b, (ids, text, errors) in found.items():
            r = self.reqs[self.rows[b].request]
            if not errors or self.rows[b].request in solved:
                continue
            a = self.spans[b][0]
            _, offsets = self.infiller.middle_text(ids)
            base = len(r.prefix.encode("utf-8"))
            offsets = [(base + s, base + t) for s, t in offsets]
            direct, context = error_tokens(errors, offsets, base, base + len(text.encode("utf-8")))
            for i in direct:
                ban[b, a + i] = True  # the token that caused the error is never committed there again
            for i in direct | context:
                bad[b, a + i] = True
        return Repair(remask=bad, ban=ban)
