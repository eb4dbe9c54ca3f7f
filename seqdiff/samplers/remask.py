"""ReMDM-style refinement: late in sampling, re-mask the least confident committed tokens and redraw them.

``RemaskSampler(inner, refine_steps=R, fraction=f)`` runs ``inner`` for its planned steps T, then R
refinement steps (ReMDM's "loop" phase, DPLM's re-masking of low-score tokens). Whenever a step other than
the last leaves a row with no masked editable position, that row re-masks its ``ceil(f * editable)`` (at
most ``max_tokens``) editable tokens with the lowest probability under the current logits; a refinement step
redraws every masked position. A row that finishes before T is re-masked too: otherwise the loop would stop
for a row decoded alone and go on for the same row in a batch, and batching would change the row. The last
step re-masks nothing, so decoding ends with no mask and costs at most R extra model calls.

The clock is the loop's step counter, so an adaptive inner (threshold, factor) is refined only if it is
still running at its planned end; wrap fixed-step samplers (ancestral, confidence, blockwise of those).
No ``window``: KV caches are not supported with refinement.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from seqdiff.samplers.base import Sampler, SamplingOptions, StepContext, draw_tokens, masked_editable
from seqdiff.samplers.confidence import commit_top


@dataclass(frozen=True)
class RemaskSampler:
    inner: Sampler
    refine_steps: int = 8
    fraction: float = 0.05
    max_tokens: int | None = None
    sampling: SamplingOptions = field(default_factory=SamplingOptions)

    def __post_init__(self) -> None:
        if self.refine_steps < 0:
            raise ValueError(f"refine_steps={self.refine_steps} must be >= 0")
        if not 0 <= self.fraction <= 0.5:
            raise ValueError(f"fraction={self.fraction} must be in [0, 0.5]")
        if self.max_tokens is not None and self.max_tokens < 0:
            raise ValueError(f"max_tokens={self.max_tokens} must be >= 0")

    def planned_steps(self, num_masked: int) -> int:
        return self.inner.planned_steps(num_masked) + self.refine_steps

    def step(self, logits: Tensor, x: Tensor, ctx: StepContext) -> Tensor:
        if ctx.row_step is not None:
            raise ValueError("RemaskSampler follows the loop's clock and cannot run inside a wrapper with per-row "
                             "plans (BlockwiseSampler); wrap the other way: RemaskSampler(BlockwiseSampler(...))")
        inner_steps = max(1, ctx.num_steps - self.refine_steps)
        if ctx.step < inner_steps:
            x_new = self.inner.step(logits, x, replace(ctx, num_steps=inner_steps))
        else:  # refinement: redraw everything that is masked
            tokens, _ = draw_tokens(logits, self.sampling, ctx)
            x_new = torch.where(masked_editable(x, ctx), tokens, x)
        if self.refine_steps == 0 or self.fraction == 0 or ctx.step >= ctx.num_steps - 1:
            return x_new
        editable = ctx.editable & (x_new != ctx.mask_id)
        done = ~masked_editable(x_new, ctx).any(-1)
        n = editable.sum(-1)
        k = torch.ceil(n.double() * self.fraction).long()
        if self.max_tokens is not None:
            k = k.clamp_max(self.max_tokens)
        k = torch.where(done, k, torch.zeros_like(k))
        probs = logits.float().softmax(-1).gather(-1, x_new.unsqueeze(-1)).squeeze(-1)
        mask_tokens = torch.full_like(x_new, ctx.mask_id)
        return commit_top(x_new, mask_tokens, -probs.double(), editable, k)
