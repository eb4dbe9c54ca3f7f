"""Per-token log-probability estimates of a finished sequence under a masked-diffusion model.

A diffusion model has no exact sequence likelihood. Both estimators sum, over the n completion tokens,
log p(x_i | a context) where part of the completion is masked (the prompt, i.e. every non-completion
position, stays visible unless a prompt mask says otherwise); they differ in which contexts they read:

- ``mean_field`` (d1 / diffu-GRPO): one forward with the whole completion masked, so every token is read
  with no completion context. One model call, no randomness from the completion mask.
- ``coupled`` (DiffuCoder's coupled-GRPO): a random subset A of the completion (size k ~ U{0..n}) is masked
  in one pass and its complement in a second (batched into one forward of twice the rows), so every token
  is scored exactly once, with the other pass's tokens visible. Its expectation is, per token, the mean
  of log p over contexts with v other completion tokens visible, v drawn with P(v) = 2(n-v)/(n(n+1)); it
  equals the exact log-likelihood for a model that ignores context, and against two independent masks
  with the same marginals (the same expectation, the same cost) the coupling removes the variance that
  comes from how many tokens each pass happens to score.

Both agree with each other, and with any such context average, to within the model's sensitivity to
context: if a logit moves by at most d when context changes, each log-probability moves by at most 2d.

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
    the completion masked; each token is scored in the pass that masks it, once, weight 1."""
    first = first & completion
    second = completion & ~first
    both = score_masked(logits_fn, torch.cat([tokens, tokens]), torch.cat([first, second]), mask_id)
    return TokenLogProbs(both[: len(tokens)] + both[len(tokens):], completion.float())


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
