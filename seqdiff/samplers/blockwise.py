"""Semi-autoregressive (blockwise) decoding around any inner sampler (LLaDA ``block_length``).

Blocks are counted per row from that row's first editable position: block j of a row covers
[first + j * block_length, first + (j + 1) * block_length). A row's *current* block is the first of its
blocks that still holds a masked editable position; the inner sampler sees only that block as editable.
Rows with different prompt lengths or editable masks in one batch each follow their own blocks.

The step budget is split across blocks (LLaDA: steps per block = steps // num_blocks), per row: a row
with ``n`` editable positions has ``ceil(n / block_length)`` blocks and ``inner.planned_steps(n) //
num_blocks`` steps per block, and its block j must be finished by step (j + 1) * steps_per_block. So a
row's plan depends only on the row, which keeps batched decoding batch-invariant.

The inner sampler runs on each row's current block gathered into a [B, block_length] canvas, so its cost
does not grow with the canvas and a row's noise depends on its own block only. ``window(x, editable,
mask_id)`` is the union span of the rows' current blocks; the loop uses it for the KV caches (prefix:
recompute [start, L); dual: recompute [start, end)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from seqdiff.samplers.base import Sampler, StepContext
from seqdiff.samplers.remask import RemaskSampler


@dataclass(frozen=True)
class _Blocks:
    block: Tensor  # [B, L] block index of each position (-1 before the row's first editable position)
    current: Tensor  # [B] current block per row (num_blocks where the row has nothing masked)
    num_blocks: Tensor  # [B] blocks per row (>= 1)
    in_current: Tensor  # [B, L] position lies in its row's current block
    start: Tensor  # [B] first position of the current block
    has_mask: Tensor  # [B]


@dataclass(frozen=True)
class BlockwiseSampler:
    inner: Sampler
    block_length: int = 32

    def __post_init__(self) -> None:
        if self.block_length < 1:
            raise ValueError(f"block_length={self.block_length} must be >= 1")
        if not isinstance(self.inner, Sampler):
            raise TypeError(f"inner={self.inner!r} is not a Sampler (needs planned_steps and step)")
        if isinstance(self.inner, RemaskSampler):
            raise TypeError("RemaskSampler follows the loop's clock, not a block's plan: use "
                            "RemaskSampler(BlockwiseSampler(...)) instead of BlockwiseSampler(RemaskSampler(...))")

    def _num_blocks(self, n: int) -> int:
        return max(1, math.ceil(n / self.block_length))

    def _steps_per_block(self, n: int) -> int:
        return max(1, self.inner.planned_steps(n) // self._num_blocks(n))

    def planned_steps(self, num_masked: int) -> int:
        return self._steps_per_block(num_masked) * self._num_blocks(num_masked)

    def blocks(self, x: Tensor, editable: Tensor, mask_id: int) -> _Blocks:
        b, length = x.shape
        pos = torch.arange(length, device=x.device)
        any_edit = editable.any(-1)
        first = torch.where(any_edit, editable.int().argmax(-1), torch.zeros_like(any_edit, dtype=torch.long))
        last = torch.where(any_edit, length - 1 - editable.flip(-1).int().argmax(-1), first)
        rel = pos[None, :] - first[:, None]
        block = torch.where(rel >= 0, torch.div(rel, self.block_length, rounding_mode="floor"), -1)
        num_blocks = (torch.div(last - first, self.block_length, rounding_mode="floor") + 1).clamp_min(1)
        masked = (x == mask_id) & editable
        big = torch.full_like(block, length + 1)
        current = torch.where(masked, block, big).min(-1).values
        has_mask = masked.any(-1)
        current = torch.where(has_mask, current, num_blocks)
        in_current = block == current[:, None]
        return _Blocks(block, current, num_blocks, in_current, first + current * self.block_length, has_mask)

    def window(self, x: Tensor, editable: Tensor, mask_id: int) -> tuple[int, int]:
        """Union span [start, end) of the current blocks of the rows that still have masks."""
        blk = self.blocks(x, editable, mask_id)
        if not bool(blk.has_mask.any()):
            return 0, x.shape[1]
        starts = blk.start[blk.has_mask]
        start = int(starts.min())
        end = min(int(starts.max()) + self.block_length, x.shape[1])
        return start, end

    def step(self, logits: Tensor, x: Tensor, ctx: StepContext) -> Tensor:
        blk = self.blocks(x, ctx.editable, ctx.mask_id)
        # Each row's own budget: inner.planned_steps(editable count) split over its blocks.
        n_edit = ctx.editable.sum(-1).tolist()
        per_block = torch.tensor([max(1, self.inner.planned_steps(int(n)) // int(nb))
                                  for n, nb in zip(n_edit, blk.num_blocks.tolist())], device=x.device)
        deadline = (blk.current + 1) * per_block  # block j must be done by global step (j + 1) * k
        left = (deadline - ctx.step).clamp(1, None)
        left = torch.minimum(left, per_block)
        # The inner sampler sees each row's current block only, gathered into [B, block_length]: its work does
        # not grow with the canvas, and a row's noise is drawn for its own block, never the batch's span.
        pos = blk.start[:, None] + torch.arange(self.block_length, device=x.device)
        inside = pos < x.shape[1]
        pos = pos.clamp_max(x.shape[1] - 1)
        editable = (ctx.editable & blk.in_current).gather(1, pos) & inside
        x_block = x.gather(1, pos)
        logits_block = logits.gather(1, pos.unsqueeze(-1).expand(-1, -1, logits.shape[-1]))
        inner_ctx = replace(ctx, editable=editable, row_step=per_block - left, row_num_steps=per_block)
        new_block = self.inner.step(logits_block, x_block, inner_ctx)
        out = x.clone()
        rows, cols = editable.nonzero(as_tuple=True)
        out[rows, pos[rows, cols]] = new_block[rows, cols]
        return out
