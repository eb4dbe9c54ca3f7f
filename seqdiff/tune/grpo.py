"""Group-relative policy optimisation: advantages within each prompt's group of rollouts, the clipped
ratio objective per token, and a KL penalty to a frozen reference (the k3 estimator, >= 0, 0 when equal)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class GRPOLoss:
    loss: Tensor  # scalar to minimise
    kl: Tensor  # scalar: weighted mean per-token KL estimate to the reference
    clip_fraction: Tensor  # scalar: share of scored tokens whose ratio was clipped


def group_advantages(rewards: Tensor, group_size: int, eps: float = 1e-4) -> Tensor:
    """(r - group mean) / (group std + eps) for consecutive groups of ``group_size`` rollouts; a group
    whose rewards are all equal gets advantage 0 (it teaches nothing)."""
    if rewards.ndim != 1 or rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    groups = rewards.view(-1, group_size)
    centred = groups - groups.mean(-1, keepdim=True)
    std = groups.std(-1, keepdim=True, unbiased=False) if group_size > 1 else torch.zeros_like(centred)
    return (centred / (std + eps)).view(-1)


def zero_spread_share(rewards: Tensor, group_size: int) -> float:
    """The share of groups whose rewards are all equal: their advantages are 0, so they teach nothing (a
    run where most groups do learns little whatever its learning rate)."""
    groups = rewards.view(-1, group_size)
    return int((groups == groups[:, :1]).all(-1).sum()) / len(groups)


def kl_k3(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """Per-token estimate of KL(policy || reference) from sampled tokens: exp(d) - d - 1, d = ref - policy."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1


def grpo_loss(logp: Tensor, old_logp: Tensor, ref_logp: Tensor, advantages: Tensor, weight: Tensor,
              clip_eps: float = 0.2, kl_coef: float = 0.0) -> GRPOLoss:
    """Per token i of row b with ratio r = exp(logp - old_logp) and advantage A_b:
    ``-min(r A, clip(r, 1-eps, 1+eps) A) + kl_coef * k3``, weighted by the estimator's ``weight``, summed
    over the row and divided by the row's scored-token count, then averaged over rows."""
    scored = (weight > 0).float()
    count = scored.sum(-1).clamp_min(1)
    ratio = torch.exp(logp - old_logp)
    adv = advantages.unsqueeze(-1)
    surrogate = torch.minimum(ratio * adv, ratio.clamp(1 - clip_eps, 1 + clip_eps) * adv)
    kl = kl_k3(logp, ref_logp)
    per_row = ((-surrogate + kl_coef * kl) * weight).sum(-1) / count
    clipped = ((ratio - 1).abs() > clip_eps).float() * scored
    return GRPOLoss(loss=per_row.mean(), kl=((kl * weight).sum(-1) / count).mean(),
                    clip_fraction=clipped.sum() / scored.sum().clamp_min(1))
