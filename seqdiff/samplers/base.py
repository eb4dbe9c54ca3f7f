"""The sampler interface: a pure function of (logits, canvas) -> new canvas.

A sampler never calls the model; ``denoise`` (loop.py) does. That keeps every sampler testable with
hand-built logits. Positions a sampler may change are those that are masked *and* editable; everything
else must come back bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

CONFIDENCE_MEASURES = ("confidence", "margin", "entropy")


@dataclass(frozen=True)
class StepContext:
    step: int  # 0-based index of this step
    num_steps: int  # planned number of steps (an upper bound for adaptive samplers)
    mask_id: int
    editable: Tensor  # [B, L] bool
    generator: "RowGenerators | None" = None

    def uniform(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> Tensor:
        return uniform(shape, self.generator, self.editable.device, dtype)


RowGenerators = list[torch.Generator]


def uniform(shape: tuple[int, ...], generator: "RowGenerators | torch.Generator | None",
            device: torch.device, dtype: torch.dtype = torch.float32) -> Tensor:
    """U[0,1) noise. With one generator per row, a row's noise does not depend on the rest of the batch,
    so batching and sharding never change a row's result."""
    if isinstance(generator, list):
        if len(generator) != shape[0]:
            raise ValueError(f"{len(generator)} row generators for a batch of {shape[0]}")
        return torch.stack([torch.rand(shape[1:], generator=g, dtype=dtype, device=g.device)
                            for g in generator]).to(device)
    return torch.rand(shape, generator=generator, dtype=dtype, device=device)


def row_generators(seeds: list[int], device: torch.device | str = "cpu") -> RowGenerators:
    return [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]


@runtime_checkable
class Sampler(Protocol):
    """One denoising step. ``planned_steps`` tells the loop how many steps to run for a canvas."""

    def planned_steps(self, num_masked: int) -> int: ...

    def step(self, logits: Tensor, x: Tensor, ctx: StepContext) -> Tensor: ...


@dataclass(frozen=True)
class SamplingOptions:
    """How a token is drawn from logits. temperature 0 = argmax."""

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature={self.temperature} must be >= 0 (0 = greedy)")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k={self.top_k} must be >= 1")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p={self.top_p} must be in (0, 1]")


def filter_logits(logits: Tensor, options: SamplingOptions) -> Tensor:
    """Apply top-k and top-p (nucleus) filtering; returns float32 logits with -inf where filtered."""
    logits = logits.float()
    if options.top_k is not None and options.top_k < logits.shape[-1]:
        kth = torch.topk(logits, options.top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if options.top_p is not None and options.top_p < 1:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        drop_sorted = cumulative - sorted_logits.softmax(-1) >= options.top_p  # keep the first that crosses
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def draw_tokens(logits: Tensor, options: SamplingOptions, ctx: StepContext) -> tuple[Tensor, Tensor]:
    """Sample a token per position (Gumbel-max in float64) and return (tokens, probabilities [B, L, V]).

    The probabilities are those of the filtered distribution at temperature 1, which is what the
    confidence measures read."""
    filtered = filter_logits(logits, options)
    probs = filtered.softmax(-1)
    if options.temperature == 0:
        return filtered.argmax(-1), probs
    u = ctx.uniform(tuple(filtered.shape), torch.float64)
    gumbel = -torch.log(-torch.log(u.clamp_min(1e-300)))
    scores = filtered.double() / options.temperature + gumbel
    return scores.argmax(-1), probs


def confidence_of(probs: Tensor, tokens: Tensor, measure: str) -> Tensor:
    """Per-position confidence: probability of the drawn token, top-1 minus top-2 margin, or -entropy."""
    if measure == "confidence":
        return probs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    if measure == "margin":
        top2 = probs.topk(2, dim=-1).values
        return top2[..., 0] - top2[..., 1]
    if measure == "entropy":
        return (probs * probs.clamp_min(1e-30).log()).sum(-1)
    raise ValueError(f"unknown confidence measure {measure!r}; choose one of {', '.join(CONFIDENCE_MEASURES)}")


def masked_editable(x: Tensor, ctx: StepContext) -> Tensor:
    return (x == ctx.mask_id) & ctx.editable
