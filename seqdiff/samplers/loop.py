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
    """Configuration of a denoising run; ``__call__`` runs it.

    ``reuse_logits``: when a step changes no token, the next step reuses the previous logits instead of
    calling the model again (exact: the denoiser takes no time input, so the same canvas gives the same
    logits). Turn it off only to check that claim."""

    sampler: Sampler
    banned_ids: Iterable[int] = ()
    logits_hook: LogitsHook | None = None
    validator: Validator | None = None
    max_remask_rounds: int = 0
    cache: CacheOptions = field(default_factory=CacheOptions)
    callback: StepCallback | None = None
    progress: bool = False
    reuse_logits: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.cache, str):
            self.cache = CacheOptions(mode=self.cache)
        if self.cache.mode != "none" and not callable(getattr(self.sampler, "window", None)):
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
        editable = editable.to(device=x.device, dtype=torch.bool)
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
        active = masked.any(-1)
        # Rows with nothing masked stay unchanged all round (a remask round re-masks a few rows): the model
        # runs on the others only. Exact, since a row's logits do not depend on the rest of the batch.
        rows = None if bool(active.all()) else active.nonzero().squeeze(1)
        kv = model.new_cache() if self.cache.mode != "none" else None
        logits, window, last_refresh = None, None, 0
        for i in range(num_steps * 4 + x.shape[1]):  # adaptive samplers may need more than planned
            masked = (x == mask_id) & editable
            if not masked.any():
                break
            ctx = StepContext(step=i, num_steps=num_steps, mask_id=mask_id, editable=editable,
                              generator=generator, serial=state.steps)
            if kv is not None:
                new_window = self.sampler.window(x, editable, mask_id)
                if new_window != window:
                    logits = None  # a new block: the cache is refreshed and the logits cover a new span
            if logits is None:
                if kv is None:
                    logits = _rows_forward(model, x, rows)
                else:
                    logits, last_refresh = self._cached_forward(model, x, kv, new_window, window, i, last_refresh,
                                                                rows)
                    window = new_window
                state.nfe += 1
            full = logits
            if kv is not None:  # the model returned the window only: place it in a full-length tensor
                full = logits.new_zeros(x.shape + logits.shape[-1:])
                full[:, window[0]:window[1]] = logits
            hooked = full if self.logits_hook is None else self.logits_hook(i, x, full)
            hooked = hooked.float().index_fill(-1, banned, float("-inf"))
            x_new = self.sampler.step(hooked, x, ctx)
            changed = x_new != x
            committed = int(changed.sum())
            commit_step[changed] = state.steps
            state.steps += 1
            state.per_step.append(committed)
            bar.update(committed)
            x.copy_(x_new)
            if committed or not self.reuse_logits:
                logits = None  # the canvas changed: the next step needs a fresh model call
            if self.callback is not None:
                self.callback(state.steps - 1, x)

    def _cached_forward(self, model, x, kv, new_window, window, i, last_refresh, rows):
        """Prefix cache: recompute [start, L); dual cache: recompute [start, end) only. A full refresh runs
        when the cache is empty, the window moved (a new block) or ``refresh_every`` steps have passed."""
        every = self.cache.refresh_every
        refresh = (not kv.filled or new_window != window or (every is not None and i - last_refresh >= every))
        start, end = new_window
        if self.cache.mode == "prefix":
            logits = _rows_forward(model, x, rows, cache=kv, window=(start, x.shape[1]), refresh=refresh)
            logits = logits[:, : end - start]
        else:
            logits = _rows_forward(model, x, rows, cache=kv, window=new_window, refresh=refresh)
        return logits, (i if refresh else last_refresh)


def _rows_forward(model, x: Tensor, rows: Tensor | None, **kwargs) -> Tensor:
    """The model on ``x[rows]`` (all rows when None); rows left out get zero logits, which no sampler reads
    since they hold no masked position."""
    if rows is None:
        return model(x, **kwargs)
    sub = model(x[rows], **kwargs)
    out = sub.new_zeros((x.shape[0],) + tuple(sub.shape[1:]))
    out[rows] = sub
    return out


@dataclass
class _LoopState:
    nfe: int = 0
    steps: int = 0
    per_step: list[int] = field(default_factory=list)
