"""Per-token log-probability estimates of a finished sequence under a masked-diffusion model.

A diffusion model has no exact sequence likelihood; what both estimators target is its ELBO under a
uniformly random decoding order (the any-order autoregressive bound): for each scored token i, the mean
over m = 0..n-1 of log p(x_i | a uniformly random set of m other completion tokens visible), summed over
the n completion tokens (the prompt, i.e. every non-completion position, is visible unless a prompt mask
says otherwise).

- ``mean_field`` (d1 / diffu-GRPO): one forward with the whole completion masked: the m = 0 term only.
  Biased unless the model ignores context, but one call and no variance from the completion mask.
- ``coupled`` (DiffuCoder's coupled-GRPO): a random subset A of the completion of size k ~ U{0..n} and its
  complement are masked in two passes, so every token is scored exactly once; weighting a token scored
  with m masked completion positions by (n+1)/(2m) makes the weighted sum unbiased for the ELBO.

Each returns ``TokenLogProbs``: the sequence estimate is ``(logp * weight).sum(-1)``. Pure functions of a
``logits_fn`` (the model, or a toy in tests) and the masks, which callers draw with a seeded generator, so
the policy, the old policy and the reference see the same masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import torch
from torch import Tensor

LogitsFn = Callable[[Tensor], Tensor]  # tokens [B, L] -> logits [B, L, V]
ESTIMATORS = ("mean_field", "coupled")
Estimator = Literal["mean_field", "coupled"]


@dataclass(frozen=True)
class TokenLogProbs:
    logp: Tensor  # [B, L] log-probability of each scored token (0 where not scored)
    weight: Tensor  # [B, L] the estimator's weight of each token (0 where not scored)

    def sequence(self) -> Tensor:
        return (self.logp * self.weight).sum(-1)


def score_masked(logits_fn: LogitsFn, tokens: Tensor, masked: Tensor, mask_id: int) -> Tensor:
    """log p(tokens[i] | tokens with ``masked`` replaced by the mask id) at each masked i, 0 elsewhere."""
    logits = logits_fn(torch.where(masked, torch.full_like(tokens, mask_id), tokens))
    picked = torch.log_softmax(logits.float(), dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    return torch.where(masked, picked, torch.zeros_like(picked))


def mean_field(logits_fn: LogitsFn, tokens: Tensor, completion: Tensor, mask_id: int,
               prompt_mask: Tensor | None = None) -> TokenLogProbs:
    """One forward: the completion fully masked, plus ``prompt_mask`` (d1's random prompt masking)."""
    masked = completion if prompt_mask is None else completion | (prompt_mask & ~completion)
    logp = score_masked(logits_fn, tokens, masked, mask_id)
    return TokenLogProbs(torch.where(completion, logp, torch.zeros_like(logp)), completion.float())


def coupled(logits_fn: LogitsFn, tokens: Tensor, completion: Tensor, mask_id: int, first: Tensor) -> TokenLogProbs:
    """Two passes in one batched forward: ``first`` (a subset of the completion) masked, then the rest of
    the completion masked; each token is scored in the pass that masks it, weighted (n+1)/(2m)."""
    first = first & completion
    second = completion & ~first
    both = score_masked(logits_fn, torch.cat([tokens, tokens]), torch.cat([first, second]), mask_id)
    logp = both[: len(tokens)] + both[len(tokens):]
    n = completion.sum(-1, keepdim=True).float()
    m = torch.where(first, first.sum(-1, keepdim=True), second.sum(-1, keepdim=True)).float()
    weight = torch.where(completion, (n + 1) / (2 * m.clamp_min(1)), torch.zeros_like(m))
    return TokenLogProbs(logp, weight)


def coupled_masks(completion: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """The first pass's mask: per row, k ~ U{0..n} of its n completion positions, uniformly at random."""
    n = completion.sum(-1)
    k = (torch.rand(n.shape, generator=generator, device=completion.device) * (n + 1)).floor().clamp(max=n)
    scores = torch.rand(completion.shape, generator=generator, device=completion.device)
    scores = scores.masked_fill(~completion, 2.0)  # non-completion positions sort last
    rank = scores.argsort(-1).argsort(-1)
    return completion & (rank < k.unsqueeze(-1))


def prompt_masks(prompt: Tensor, probability: float, generator: torch.Generator | None = None) -> Tensor:
    """d1's prompt masking: each ``prompt`` position masked independently with ``probability``."""
    if probability <= 0:
        return torch.zeros_like(prompt)
    return prompt & (torch.rand(prompt.shape, generator=generator, device=prompt.device) < probability)


def estimate(kind: Estimator, logits_fn: LogitsFn, tokens: Tensor, completion: Tensor, mask_id: int,
             masks: Tensor) -> TokenLogProbs:
    """Dispatch on the config's estimator; ``masks`` is the prompt mask (mean_field) or first pass (coupled)."""
    if kind == "mean_field":
        return mean_field(logits_fn, tokens, completion, mask_id, masks)
    if kind == "coupled":
        return coupled(logits_fn, tokens, completion, mask_id, masks)
    raise ValueError(f"estimator={kind!r}: choose one of {', '.join(ESTIMATORS)}")
