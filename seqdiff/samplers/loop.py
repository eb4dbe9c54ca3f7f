"""The one denoising loop: calls the model, counts model calls (NFE), owns the cache and the callbacks."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from seqdiff.model import Denoiser
from seqdiff.samplers.base import Noise, Sampler, StepContext

CACHE_MODES = ("none", "prefix", "dual")

LogitsHook = Callable[[int, Tensor, Tensor], Tensor]  # (step, x, logits) -> logits
Validator = Callable[[Tensor], Tensor]  # canvas [B, L] -> bool [B, L] positions to re-mask
StepCallback = Callable[[int, Tensor], None]  # (step, canvas) after each step


@dataclass
class DenoiseResult:
    tokens: Tensor  # [B, L]
    nfe: int  # model calls
    steps: int  # sampler steps
    tokens_per_step: list[int]  # positions committed at each step (whole batch)
    commit_step: Tensor  # [B, L]: step at which a position was last committed, -1 if never masked
    remask_rounds: int
    wall_s: float


@dataclass(frozen=True)
class CacheOptions:
    """KV caching (approximate, opt-in). ``refresh_every=1`` refreshes each step and is exact."""

    mode: str = "none"
    refresh_every: int | None = None  # also refresh every N steps inside a block

    def __post_init__(self) -> None:
        if self.mode not in CACHE_MODES:
            raise ValueError(f"unknown cache mode {self.mode!r}; choose one of {', '.join(CACHE_MODES)}")
        if self.refresh_every is not None and self.refresh_every < 1:
            raise ValueError(f"refresh_every={self.refresh_every} must be >= 1")

    @property
    def exact(self) -> bool:
        return self.mode == "none" or self.refresh_every == 1


@dataclass
class Denoise:
    """Configuration of a denoising run; ``__call__`` runs it."""

    sampler: Sampler
    banned_ids: Iterable[int] = ()
    logits_hook: LogitsHook | None = None
    validator: Validator | None = None
    max_remask_rounds: int = 0
    cache: CacheOptions = field(default_factory=CacheOptions)
    callback: StepCallback | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        if self.cache.mode != "none" and not hasattr(self.sampler, "window"):
            raise ValueError(f"cache={self.cache.mode!r} needs a blockwise sampler (one that decodes a window at "
                             f"a time); {type(self.sampler).__name__} decodes everywhere at once. Use "
                             f"BlockwiseSampler(inner=..., block_length=32) or cache='none'.")
        if self.max_remask_rounds and self.validator is None:
            raise ValueError("max_remask_rounds > 0 needs a validator")

    @torch.no_grad()
    def __call__(self, model: Denoiser, x: Tensor, editable: Tensor,
                 generator: Noise = None) -> DenoiseResult:
        cfg = model.config
        if x.shape != editable.shape:
            raise ValueError(f"canvas shape {tuple(x.shape)} and editable shape {tuple(editable.shape)} differ")
        start = time.perf_counter()
        x = x.clone()
        banned = torch.tensor(sorted({cfg.mask_id, *self.banned_ids}), device=x.device, dtype=torch.long)
        commit_step = torch.full_like(x, -1)
        state = _LoopState()
        rounds = 0
        bar = tqdm(total=int(((x == cfg.mask_id) & editable).sum()), disable=not self.progress,
                   desc="denoising", unit="tok", leave=False)
        while True:
            self._decode(model, x, editable, banned, generator, commit_step, state, bar)
            if self.validator is None or rounds >= self.max_remask_rounds:
                break
            bad = self.validator(x) & editable
            if not bad.any():
                break
            rounds += 1
            x[bad] = cfg.mask_id
            bar.total += int(bad.sum())
        bar.close()
        return DenoiseResult(tokens=x, nfe=state.nfe, steps=state.steps, tokens_per_step=state.per_step,
                             commit_step=commit_step, remask_rounds=rounds, wall_s=time.perf_counter() - start)

    def _decode(self, model, x, editable, banned, generator, commit_step, state, bar) -> None:
        mask_id = model.config.mask_id
        masked = (x == mask_id) & editable
        num_steps = self.sampler.planned_steps(int(masked.sum(-1).max()))
        kv = model.new_cache() if self.cache.mode != "none" else None
        logits, window, last_refresh = None, None, 0
        for i in range(num_steps * 4 + x.shape[1]):  # adaptive samplers may need more than planned
            masked = (x == mask_id) & editable
            if not masked.any():
                break
            step = min(i, num_steps - 1)
            ctx = StepContext(step=step, num_steps=num_steps, mask_id=mask_id, editable=editable,
                              generator=generator, serial=state.steps)
            new_window = self.sampler.window(x, editable) if kv is not None else None
            if logits is None or kv is not None:
                logits, last_refresh = self._forward(model, x, kv, new_window, window, i, last_refresh)
                window = new_window
                state.nfe += 1
            hooked = logits if self.logits_hook is None else self.logits_hook(i, x, logits)
            hooked = hooked.float().index_fill(-1, banned, float("-inf"))
            if kv is not None:  # the model returned the window only: pad back to full length
                full = torch.zeros(x.shape + hooked.shape[-1:], dtype=hooked.dtype, device=x.device)
                full[:, window[0]:window[1]] = hooked
                hooked = full
            x_new = self.sampler.step(hooked, x, ctx)
            changed = x_new != x
            committed = int(changed.sum())
            commit_step[changed] = state.steps
            state.steps += 1
            state.per_step.append(committed)
            bar.update(committed)
            x.copy_(x_new)
            if committed:
                logits = None  # the canvas changed: the next step needs a fresh model call
            if self.callback is not None:
                self.callback(state.steps - 1, x)

    def _forward(self, model, x, kv, new_window, window, i, last_refresh):
        if kv is None:
            return model(x), last_refresh
        every = self.cache.refresh_every
        refresh = (not kv.filled or new_window != window or (every is not None and i - last_refresh >= every))
        if self.cache.mode == "prefix":
            span = (new_window[0], x.shape[1])
            logits = model(x, cache=kv, window=span, refresh=refresh)
            logits = logits[:, : new_window[1] - new_window[0]]
        else:
            logits = model(x, cache=kv, window=new_window, refresh=refresh)
        return logits, (i if refresh else last_refresh)


@dataclass
class _LoopState:
    nfe: int = 0
    steps: int = 0
    per_step: list[int] = field(default_factory=list)
