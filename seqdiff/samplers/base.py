"""The sampler interface: a pure function of (logits, canvas) -> new canvas.

A sampler never calls the model; ``denoise`` (loop.py) does. That keeps every sampler testable with
hand-built logits. Positions a sampler may change are those that are masked *and* editable; everything
else must come back bit-identical.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Iterator, Protocol, runtime_checkable

import torch
from torch import Tensor

CONFIDENCE_MEASURES = ("confidence", "margin", "entropy")


class RowSeeds:
    """One seed per row. Each draw uses a fresh generator seeded from (row seed, loop step, draw number),
    so a row's noise depends on nothing else in the batch: batching, padding (rows are right-padded, and
    the leading elements of a draw do not depend on its length) and sharding never change a row.

    Stateless: the loop numbers the steps (``serial``) and the draws within a step (``draw``)."""

    def __init__(self, seeds: list[int], device: torch.device | str = "cpu"):
        self.seeds, self.device = tuple(int(s) for s in seeds), torch.device(device)

    def __len__(self) -> int:
        return len(self.seeds)

    def uniform(self, shape: tuple[int, ...], serial: int, draw: int, dtype: torch.dtype) -> Tensor:
        if len(self.seeds) != shape[0]:
            raise ValueError(f"{len(self.seeds)} row seeds for a batch of {shape[0]}")
        rows = []
        for seed in self.seeds:
            g = torch.Generator(device=self.device).manual_seed(
                (seed * 1_000_003 + serial * 7_919 + draw * 104_729) % (2**63))
            rows.append(torch.rand(shape[1:], generator=g, dtype=dtype, device=self.device))
        return torch.stack(rows)


def row_generators(seeds: list[int], device: torch.device | str = "cpu") -> RowSeeds:
    return RowSeeds(seeds, device)


Noise = RowSeeds | torch.Generator | None


@dataclass(frozen=True)
class StepContext:
    step: int  # 0-based index of this step (may pass num_steps - 1 when a plan overruns: treat as the last)
    num_steps: int  # planned number of steps (an upper bound for adaptive samplers)
    mask_id: int
    editable: Tensor  # [B, L] bool
    generator: Noise = None
    serial: int = 0  # steps taken by the loop so far (unique across remask rounds)
    # Per-row overrides of (step, num_steps), set by wrappers such as BlockwiseSampler whose rows are at
    # different points of their own plans. Samplers read ``steps_of_rows()``, never these directly.
    row_step: Tensor | None = None  # [B] long
    row_num_steps: Tensor | None = None  # [B] long
    # Numbers the draws within this step (RowSeeds noise); the loop makes one counter per step and
    # wrappers' ``replace(ctx, ...)`` copies share it, so two draws in one step never repeat.
    draws: Iterator[int] = field(default_factory=itertools.count, compare=False)

    def steps_of_rows(self) -> tuple[Tensor, Tensor]:
        """(step [B], num_steps [B]) as long tensors: the per-row overrides, else the scalars broadcast."""
        b, device = self.editable.shape[0], self.editable.device
        step = self.row_step if self.row_step is not None else torch.full((b,), self.step, device=device)
        num = self.row_num_steps if self.row_num_steps is not None else torch.full((b,), self.num_steps,
                                                                                   device=device)
        return step.long(), num.long()

    def steps_left(self) -> Tensor:
        """[B] steps left in each row's plan including this one (>= 1)."""
        step, num = self.steps_of_rows()
        return (num - step).clamp_min(1)

    def uniform(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> Tensor:
        """U[0,1) noise of ``shape`` (leading dim = batch); all sampler randomness goes through here."""
        device = self.editable.device
        if isinstance(self.generator, RowSeeds):
            return self.generator.uniform(shape, self.serial, next(self.draws), dtype).to(device)
        return torch.rand(shape, generator=self.generator, dtype=dtype, device=device)


@runtime_checkable
class Sampler(Protocol):
    """One denoising step. ``planned_steps`` tells the loop how many steps to run for a canvas."""

    def planned_steps(self, num_masked: int) -> int: ...

    def step(self, logits: Tensor, x: Tensor, ctx: StepContext) -> Tensor: ...


@runtime_checkable
class WindowedSampler(Sampler, Protocol):
    """A sampler that decodes one window of the canvas at a time (blockwise). The KV caches need it:
    ``window`` is the span [start, end) the next step may change. A wrapper either forwards ``window``
    from its inner sampler or is not a ``WindowedSampler`` (and the loop refuses a cache with it)."""

    def window(self, x: Tensor, editable: Tensor, mask_id: int) -> tuple[int, int]: ...


@dataclass(frozen=True)
class SamplingOptions:
    """How a token is drawn from logits. temperature 0 = argmax."""

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise ValueError(f"temperature={self.temperature} must be a finite number >= 0 (0 = greedy)")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k={self.top_k} must be >= 1")
        if self.top_p is not None and not 0 < self.top_p <= 1:  # also refuses nan
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
