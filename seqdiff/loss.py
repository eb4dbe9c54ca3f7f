"""MDLM-style ELBO loss for masked diffusion (SUBS parameterisation)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from seqdiff.noise import Schedule


@dataclass
class LossOutput:
    loss: Tensor  # ELBO-weighted CE summed over masked tokens / number of maskable tokens (nats/token bound)
    masked_fraction: Tensor
    num_tokens: Tensor  # maskable tokens in the batch


def mask_tokens(tokens: Tensor, maskable: Tensor, t: Tensor, schedule: Schedule, mask_id: int,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Forward process: each maskable token is masked with probability 1 - alpha(t) (t per row)."""
    p_mask = (1 - schedule.alpha(t))[:, None]
    noise = torch.rand(tokens.shape, generator=generator, device=tokens.device)
    is_masked = (noise < p_mask) & maskable
    return torch.where(is_masked, torch.full_like(tokens, mask_id), tokens), is_masked


def subs_logits(logits: Tensor, mask_id: int) -> Tensor:
    """SUBS: the model never predicts the mask token."""
    return logits.float().index_fill(-1, torch.tensor([mask_id], device=logits.device), float("-inf"))


def diffusion_loss(logits: Tensor, tokens: Tensor, is_masked: Tensor, maskable: Tensor, t: Tensor,
                   schedule: Schedule, mask_id: int) -> LossOutput:
    """Continuous-time NELBO: sum over masked positions of w(t) * CE, averaged per maskable token."""
    ce = F.cross_entropy(subs_logits(logits, mask_id).transpose(1, 2), tokens, reduction="none")
    weight = schedule.elbo_weight(t)[:, None]
    total = (ce * weight * is_masked).sum()
    count = maskable.sum().clamp(min=1)
    return LossOutput(loss=total / count, masked_fraction=is_masked.sum() / count, num_tokens=count)
