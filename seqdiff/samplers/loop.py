"""The one denoising loop: calls the model, counts model calls (NFE), owns the cache, the bans, the
commit-time log-probabilities and cancellation, so no caller rebuilds them with hooks and callbacks."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from seqdiff.model import Denoiser, KVCache
from seqdiff.samplers.base import Noise, Sampler, StepContext, WindowedSampler

CACHE_MODES = ("none", "prefix", "dual")

LogitsHook = Callable[[int, Tensor, Tensor], Tensor]  # (step, x, logits) -> logits


@dataclass(frozen=True)
class Repair:
    """A validator's verdict on a finished canvas: positions to re-mask and decode again, and positions
    whose current token is banned there for the rest of the run (so a round never repeats a mistake)."""

    remask: Tensor  # [B, L] bool
    ban: Tensor | None = None  # [B, L] bool, a subset of ``remask`` in practice


Validator = Callable[[Tensor], "Tensor | Repair"]  # canvas [B, L] -> positions to re-mask, or a Repair


class DenoiseError(RuntimeError):
    """The loop ran out of steps with masked positions left (a sampler that does not finish its plan)."""


@dataclass
class DenoiseResult:
    tokens: Tensor  # [B, L]
    nfe: int  # model calls
    steps: int  # sampler steps
    tokens_per_step: list[int]  # positions committed at each step (whole batch)
    commit_step: Tensor  # [B, L]: step at which a position was last committed, -1 if never masked
    # [B, L] float32: log-probability of each committed token under the distribution the sampler was handed
    # at its commit step (after the hook and every ban, temperature 1, before top-k/top-p); 0 elsewhere
    token_logprob: Tensor
    remask_rounds: int
    wall_s: float
    stopped: bool = False  # ``should_stop`` ended the run early: masks may remain


@dataclass(frozen=True)
class CacheOptions:
    """KV caching (approximate, opt-in). ``refresh_every=1`` refreshes each step and is exact.

    ``across_rounds``: a re-masking round starts from the cache the previous round left instead of a full
    refresh, when its first window is the one that round ended in (a validator re-masks a few tokens of a
    finished block; the keys outside the window, computed with the wrong tokens in place, are as stale as
    a dual cache's within a block). A refresh is the costly call (the whole canvas, not the window)."""

    mode: str = "none"
    refresh_every: int | None = None  # also refresh every N steps inside a block
    across_rounds: bool = False

    def __post_init__(self) -> None:
        if self.mode not in CACHE_MODES:
            raise ValueError(f"unknown cache mode {self.mode!r}; choose one of {', '.join(CACHE_MODES)}")
        if self.refresh_every is not None and self.refresh_every < 1:
            raise ValueError(f"refresh_every={self.refresh_every} must be >= 1")

    @property
    def exact(self) -> bool:
        return self.mode == "none" or (self.refresh_every == 1 and not self.across_rounds)


@dataclass(frozen=True)
class Denoise:
    """Configuration of a denoising run; ``__call__`` runs it.

    ``reuse_logits``: when a step changes no token, the next step reuses the previous logits instead of
    calling the model again (exact: the denoiser takes no time input, so the same canvas gives the same
    logits). Turn it off only to check that claim. ``should_stop()`` is polled before every step; when it
    returns True the run ends at once and the result says ``stopped=True``."""

    sampler: Sampler
    banned_ids: Iterable[int] = ()
    logits_hook: LogitsHook | None = None
    validator: Validator | None = None
    max_remask_rounds: int = 0
    cache: CacheOptions = field(default_factory=CacheOptions)
    should_stop: Callable[[], bool] | None = None
    progress: bool = False
    reuse_logits: bool = True
    max_steps_factor: int = 4  # the loop stops after factor * planned + L steps (adaptive samplers overrun)

    def __post_init__(self) -> None:
        if isinstance(self.cache, str):
            object.__setattr__(self, "cache", CacheOptions(mode=self.cache))
        object.__setattr__(self, "banned_ids", tuple(int(i) for i in self.banned_ids))
        if self.cache.mode != "none" and not isinstance(self.sampler, WindowedSampler):
            raise ValueError(f"cache={self.cache.mode!r} needs a blockwise sampler (one that decodes a window at "
                             f"a time); {type(self.sampler).__name__} decodes everywhere at once. Use "
                             f"BlockwiseSampler(inner=..., block_length=32) or cache='none'.")
        if self.max_remask_rounds < 0:
            raise ValueError(f"max_remask_rounds={self.max_remask_rounds} must be >= 0")
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
        state = _LoopState(
            banned=torch.tensor(sorted({cfg.mask_id, *self.banned_ids}), device=x.device, dtype=torch.long),
            commit_step=torch.full_like(x, -1), logprob=torch.zeros(x.shape, dtype=torch.float32, device=x.device))
        rounds = 0
        bar = tqdm(total=int(((x == cfg.mask_id) & editable).sum()), disable=not self.progress,
                   desc="denoising", unit="tok", leave=False)
        while True:
            self._decode(model, x, editable, generator, state, bar)
            if state.stopped or self.validator is None or rounds >= self.max_remask_rounds:
                break
            verdict = self.validator(x)
            repair = verdict if isinstance(verdict, Repair) else Repair(remask=verdict)
            bad = repair.remask.to(x.device) & editable
            if not bad.any():
                break
            if repair.ban is not None:
                state.ban(repair.ban.to(x.device) & editable, x)
            rounds += 1
            x[bad] = cfg.mask_id
            state.logprob[bad] = 0.0
            bar.total += int(bad.sum())
        bar.close()
        return DenoiseResult(tokens=x, nfe=state.nfe, steps=state.steps, tokens_per_step=state.per_step,
                             commit_step=state.commit_step, token_logprob=state.logprob, remask_rounds=rounds,
                             wall_s=time.perf_counter() - start, stopped=state.stopped)

    def _decode(self, model, x, editable, generator, state: "_LoopState", bar) -> None:
        mask_id = model.config.mask_id
        masked = (x == mask_id) & editable
        num_steps = self.sampler.planned_steps(int(masked.sum(-1).max()))
        active = masked.any(-1)
        # Rows with nothing masked stay unchanged all round (a remask round re-masks a few rows): the model
        # runs on the others only. Exact, since a row's logits do not depend on the rest of the batch.
        rows = None if bool(active.all()) else active.nonzero().squeeze(1)
        kv, window = self._round_cache(model, state, rows)
        logits, last_refresh, full_buffer = None, 0, None
        limit = num_steps * self.max_steps_factor + x.shape[1]
        for i in range(limit + 1):
            masked = (x == mask_id) & editable
            if not masked.any():
                return
            if self.should_stop is not None and self.should_stop():
                state.stopped = True
                return
            if i == limit:
                raise DenoiseError(f"{type(self.sampler).__name__} left {int(masked.sum())} masked positions after "
                                   f"{limit} steps (planned {num_steps}); it does not finish its plan")
            ctx = StepContext(step=i, num_steps=num_steps, mask_id=mask_id, editable=editable,
                              generator=generator, serial=state.steps)
            if kv is not None:
                new_window = self.sampler.window(x, editable, mask_id)
                if window is not None and window[0] <= new_window[0] and new_window[1] <= window[1]:
                    new_window = window  # rows finished inside the cached window: keep it, no refresh
                if new_window != window:
                    logits = None  # a new block: the cache is refreshed and the logits cover a new span
            if logits is None:
                if kv is None:
                    logits = _rows_forward(model, x, rows)
                else:
                    logits, last_refresh = self._cached_forward(model, x, kv, new_window, window, i, last_refresh,
                                                                rows)
                    window = new_window
                    if self.cache.across_rounds and rows is None:  # a full batch's cache, for the next round
                        state.cache, state.window = kv, window
                state.nfe += 1
            full, span = logits, (0, x.shape[1])
            if kv is not None:  # the model returned the window only: place it in a full-length tensor
                if full_buffer is None:  # one per round: outside the window a windowed sampler reads nothing
                    full_buffer = logits.new_zeros(x.shape + logits.shape[-1:])
                full, span = full_buffer, window
                full[:, window[0]:window[1]] = logits
            hooked = full if self.logits_hook is None else self.logits_hook(i, x, full)
            # a windowed sampler reads its window only, and ``full``'s window is this step's own: free to fill in place
            hooked = state.apply_bans(hooked.float(), span, in_place=kv is not None and hooked is full)
            x_new = self.sampler.step(hooked, x, ctx)
            changed = x_new != x
            committed = int(changed.sum())
            if committed:
                state.commit_step[changed] = state.steps
                state.logprob[changed] = 0.0  # a refinement sampler may re-mask a committed token
                new = changed & (x_new != mask_id)
                picked = torch.log_softmax(hooked[new], dim=-1).gather(-1, x_new[new].unsqueeze(-1))
                state.logprob[new] = picked.squeeze(-1)
            state.steps += 1
            state.per_step.append(committed)
            bar.update(committed)
            x.copy_(x_new)
            if committed or not self.reuse_logits:
                logits = None  # the canvas changed: the next step needs a fresh model call

    def _round_cache(self, model, state: "_LoopState", rows: Tensor | None):
        """The cache and window a round starts from: empty (the first call refreshes), or with
        ``across_rounds`` the previous round's full-batch cache, cut to this round's rows."""
        if self.cache.mode == "none":
            return None, None
        if not self.cache.across_rounds or state.cache is None:
            return model.new_cache(), None
        if rows is None:
            return state.cache, state.window
        cut = KVCache(keys=[k[rows] for k in state.cache.keys], values=[v[rows] for v in state.cache.values])
        return cut, state.window

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
    since they hold no masked position. Float32 whatever the weights' dtype: hooks, softmax and log-probs
    stay robust with a bf16 model."""
    if rows is None:
        return model(x, **kwargs).float()
    sub = model(x[rows], **kwargs).float()
    out = sub.new_zeros((x.shape[0],) + tuple(sub.shape[1:]))
    out[rows] = sub
    return out


@dataclass
class _LoopState:
    """Everything one call of ``Denoise`` accumulates; made fresh per call, so runs never share state."""

    banned: Tensor  # ids banned everywhere (mask and the caller's ``banned_ids``)
    commit_step: Tensor
    logprob: Tensor
    nfe: int = 0
    steps: int = 0
    per_step: list[int] = field(default_factory=list)
    stopped: bool = False
    position_bans: Tensor | None = None  # [n, 3] (row, position, token), grown by each repair
    cache: KVCache | None = None  # ``CacheOptions.across_rounds``: the last full-batch round's cache ...
    window: tuple[int, int] | None = None  # ... and the window it last held

    def ban(self, where: Tensor, x: Tensor) -> None:
        rows, cols = where.nonzero(as_tuple=True)
        new = torch.stack([rows, cols, x[rows, cols]], dim=1)
        self.position_bans = new if self.position_bans is None else torch.cat([self.position_bans, new])

    def apply_bans(self, logits: Tensor, span: tuple[int, int], in_place: bool = False) -> Tensor:
        """Bans on positions [start, end) (the whole canvas, or a windowed sampler's window). Out of place
        unless ``in_place``: the loop may reuse the model's logits at the next step."""
        start, end = span
        if (start, end) == (0, logits.shape[1]):
            logits = logits.index_fill(-1, self.banned, float("-inf"))
        else:
            logits = logits if in_place else logits.clone()
            logits[:, start:end] = logits[:, start:end].index_fill(-1, self.banned, float("-inf"))
        if self.position_bans is not None:
            r, c, t = self.position_bans.unbind(1)
            inside = (c >= start) & (c < end)
            logits[r[inside], c[inside], t[inside]] = float("-inf")
        return logits


__all__ = ["CACHE_MODES", "CacheOptions", "Denoise", "DenoiseError", "DenoiseResult", "Repair", "Validator"]
