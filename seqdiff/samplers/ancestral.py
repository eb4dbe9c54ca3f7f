"""MDLM ancestral sampling: random-order unmasking paced by the noise schedule."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from seqdiff.noise import NoiseConfig, Schedule
from seqdiff.samplers.base import SamplingOptions, StepContext, draw_tokens, masked_editable


@dataclass(frozen=True)
class AncestralSampler:
    """From t = 1 - i/T to s = 1 - (i+1)/T, each masked position is revealed with probability
    (alpha(s) - alpha(t)) / (1 - alpha(t)); the last step reveals everything left.

    A step that reveals nothing leaves the canvas unchanged, so the loop reuses the previous logits
    (exact, since the model takes no time input): fewer model calls than steps."""

    steps: int = 64
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    sampling: SamplingOptions = field(default_factory=SamplingOptions)

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps={self.steps} must be >= 1")

    def planned_steps(self, num_masked: int) -> int:
        return self.steps

    def step(self, logits: Tensor, x: Tensor, ctx: StepContext) -> Tensor:
        masked = masked_editable(x, ctx)
        step, num = ctx.steps_of_rows()
        step, num = step.double(), num.double().clamp_min(1)
        t = (1 - step / num).clamp(0, 1)
        s = (1 - (step + 1) / num).clamp(0, 1)
        p_reveal = Schedule(self.noise).reveal_probability(t, s)
        p_reveal = torch.where(step + 1 >= num, torch.ones_like(p_reveal), p_reveal)  # last step: all
        u = ctx.uniform(tuple(x.shape), torch.float64)
        reveal = masked & (u < p_reveal[:, None])
        if not reveal.any():
            return x
        tokens, _ = draw_tokens(logits, self.sampling, ctx)
        return torch.where(reveal, tokens, x)
