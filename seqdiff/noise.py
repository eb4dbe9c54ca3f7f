"""The absorbing-state (masking) process.

Time convention, used everywhere in seqdiff: t ∈ [0, 1]; t = 0 is clean data, t = 1 is fully masked;
alpha(t) is the probability that a token is still clean at time t (alpha(0) = 1, alpha(1) ≈ 0).
A token masked at time t stays masked at every later time (absorbing). The MDLM continuous-time ELBO
weights the cross-entropy of each masked token by w(t) = -alpha'(t) / (1 - alpha(t)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

SCHEDULES = ("linear", "loglinear", "cosine")


@dataclass(frozen=True)
class NoiseConfig:
    schedule: str = "linear"
    eps: float = 1e-3  # loglinear: alpha(1) = eps; all schedules: t is drawn from [eps, 1]

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown noise schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if not 0 < self.eps < 0.5:
            raise ValueError(f"noise eps={self.eps} must be in (0, 0.5)")


class Schedule:
    """alpha(t), its ELBO weight, and how many masked tokens to reveal between two times."""

    def __init__(self, config: NoiseConfig = NoiseConfig()):
        self.config = config

    def alpha(self, t: Tensor) -> Tensor:
        name, eps = self.config.schedule, self.config.eps
        if name == "linear":  # LLaDA: p_mask = t
            return 1 - t
        if name == "loglinear":  # MDLM: sigma(t) = -log(1 - (1 - eps) t)
            return 1 - (1 - eps) * t
        return torch.cos(0.5 * math.pi * t)

    def alpha_derivative(self, t: Tensor) -> Tensor:
        name, eps = self.config.schedule, self.config.eps
        if name == "linear":
            return -torch.ones_like(t)
        if name == "loglinear":
            return -(1 - eps) * torch.ones_like(t)
        return -0.5 * math.pi * torch.sin(0.5 * math.pi * t)

    def elbo_weight(self, t: Tensor) -> Tensor:
        """w(t) = -alpha'(t) / (1 - alpha(t)); 1/t for the linear schedule (LLaDA's CE / p_mask)."""
        return -self.alpha_derivative(t) / (1 - self.alpha(t))

    def sample_times(self, batch: int, generator: torch.Generator | None = None,
                     device: torch.device | str = "cpu") -> Tensor:
        """Low-discrepancy (antithetic stratified) times in [eps, 1]: one shared offset, evenly spaced."""
        u = torch.rand((), generator=generator, device=device)
        t = (u + torch.arange(batch, device=device) / batch) % 1.0
        return self.config.eps + (1 - self.config.eps) * t

    def reveal_probability(self, t: Tensor, s: Tensor) -> Tensor:
        """P(a token masked at time t is clean at the earlier time s < t) = (alpha(s)-alpha(t))/(1-alpha(t))."""
        return ((self.alpha(s) - self.alpha(t)) / (1 - self.alpha(t))).clamp(0, 1)
