"""Fast-dLLM parallel decoding: commit every masked position the model is sure enough about.

Both rules rank a row's masked editable positions by confidence and commit a prefix of that ranking,
never less than one position per row that still has masks (so decoding always progresses):

- threshold: every position with confidence >= ``threshold`` (Fast-dLLM, tau = 0.9);
- factor: rank r (1-based) is accepted iff c_(r) >= 1 - factor / (r + 1) (Fast-dLLM's factor rule).

They are adaptive: ``planned_steps`` is only an upper bound (one token per step).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from seqdiff.samplers.base import (
    CONFIDENCE_MEASURES, SamplingOptions, StepContext, confidence_of, draw_tokens, masked_editable)
from seqdiff.samplers.confidence import commit_top


def _check_measure(measure: str) -> None:
    if measure not in CONFIDENCE_MEASURES:
        raise ValueError(f"unknown confidence measure {measure!r}; choose one of {', '.join(CONFIDENCE_MEASURES)}")


def _ranked_confidence(logits: Tensor, x: Tensor, ctx: StepContext, measure: str, sampling: SamplingOptions):
    """(candidates [B, L], tokens [B, L], score [B, L], sorted scores [B, L] descending; -inf off candidates)."""
    candidates = masked_editable(x, ctx)
    tokens, probs = draw_tokens(logits, sampling, ctx)
    score = confidence_of(probs, tokens, measure).double().masked_fill(~candidates, float("-inf"))
    return candidates, tokens, score, score.sort(dim=-1, descending=True).values


def _at_least_one(count: Tensor, candidates: Tensor) -> Tensor:
    return torch.maximum(count, (candidates.sum(-1) > 0).long())


@dataclass(frozen=True)
class ThresholdSampler:
    """Commit every masked editable position with confidence >= ``threshold`` (at least one per row)."""

    threshold: float = 0.9
    measure: str = "confidence"
    sampling: SamplingOptions = field(default_factory=lambda: SamplingOptions(temperature=0.0))

    def __post_init__(self) -> None:
        _check_measure(self.measure)
        if self.measure != "entropy" and not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold={self.threshold} must be in [0, 1] for measure {self.measure!r}")

    def planned_steps(self, num_masked: int) -> int:
        return max(1, num_masked)

    def step(self, logits: Tensor, x: Tensor, ctx: StepContext) -> Tensor:
        candidates, tokens, score, ranked = _ranked_confidence(logits, x, ctx, self.measure, self.sampling)
        count = _at_least_one((ranked >= self.threshold).sum(-1), candidates)
        return commit_top(x, tokens, score, candidates, count)


@dataclass(frozen=True)
class FactorSampler:
    """Fast-dLLM's factor rule: accept rank r (1-based) iff c_(r) >= 1 - factor / (r + 1); rank 1 always.

    Confidences are sorted descending and the bound rises with r, so the accepted ranks form a prefix."""

    factor: float = 1.0
    measure: str = "confidence"
    sampling: SamplingOptions = field(default_factory=lambda: SamplingOptions(temperature=0.0))

    def __post_init__(self) -> None:
        _check_measure(self.measure)
        if self.factor <= 0:
            raise ValueError(f"factor={self.factor} must be > 0")

    def planned_steps(self, num_masked: int) -> int:
        return max(1, num_masked)

    def step(self, logits: Tensor, x: Tensor, ctx: StepContext) -> Tensor:
        candidates, tokens, score, ranked = _ranked_confidence(logits, x, ctx, self.measure, self.sampling)
        rank = torch.arange(1, x.shape[1] + 1, device=x.device, dtype=torch.float64)
        ok = ranked >= 1 - self.factor / (rank + 1)
        count = _at_least_one(ok.long().cumprod(-1).sum(-1), candidates)
        return commit_top(x, tokens, score, candidates, count)
