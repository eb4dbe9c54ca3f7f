"""LLaDA-style fixed-quota decoding: commit the k most confident masked positions per step."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from seqdiff.samplers.base import (
    CONFIDENCE_MEASURES, SamplingOptions, StepContext, confidence_of, draw_tokens, masked_editable)

REMASKING = ("low_confidence", "random")


def quota(num_masked: Tensor, steps_left: int) -> Tensor:
    """Tokens to commit this step so that the rest spreads evenly over the remaining steps (>= 1 if any)."""
    return torch.div(num_masked + steps_left - 1, steps_left, rounding_mode="floor")


def commit_top(x: Tensor, tokens: Tensor, score: Tensor, candidates: Tensor, k: Tensor) -> Tensor:
    """Commit, per row, the k[row] candidate positions with the highest score."""
    score = score.masked_fill(~candidates, float("-inf"))
    order = score.argsort(dim=-1, descending=True, stable=True)
    ranks = torch.empty_like(order).scatter_(-1, order, torch.arange(x.shape[1], device=x.device).expand_as(order))
    chosen = (ranks < k[:, None]) & candidates
    return torch.where(chosen, tokens, x)


@dataclass(frozen=True)
class ConfidenceSampler:
    """``steps`` steps over the masked positions; each step commits ceil(masked / steps_left) of them,
    the most confident (``remasking="low_confidence"``: the rest stay masked) or a random subset
    (``remasking="random"``). ``steps`` = number of masked positions gives one token per step."""

    steps: int | None = None  # None: one token per step
    remasking: str = "low_confidence"
    measure: str = "confidence"
    sampling: SamplingOptions = field(default_factory=lambda: SamplingOptions(temperature=0.0))

    def __post_init__(self) -> None:
        if self.remasking not in REMASKING:
            raise ValueError(f"unknown remasking {self.remasking!r}; choose one of {', '.join(REMASKING)}")
        if self.measure not in CONFIDENCE_MEASURES:
            raise ValueError(f"unknown confidence measure {self.measure!r}; "
                             f"choose one of {', '.join(CONFIDENCE_MEASURES)}")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps={self.steps} must be >= 1")

    def planned_steps(self, num_masked: int) -> int:
        return max(1, num_masked if self.steps is None else min(self.steps, num_masked))

    def step(self, logits: Tensor, x: Tensor, ctx: StepContext) -> Tensor:
        candidates = masked_editable(x, ctx)
        tokens, probs = draw_tokens(logits, self.sampling, ctx)
        if self.remasking == "random":
            score = ctx.uniform(tuple(x.shape))
        else:
            score = confidence_of(probs, tokens, self.measure)
        k = quota(candidates.sum(-1), ctx.steps_left())
        return commit_top(x, tokens, score, candidates, k)
