"""Distillation targets and losses: pure functions of logits, probabilities and masks.

Progressive (SDTT-style). From a state at time t, the teacher's two ancestral steps t -> t - 1/k -> t - 2/k
reveal a masked position either in the first step (probability ``p1``, token from the teacher's
distribution ``q1`` at the state) or in the second (probability ``(1 - p1) p2``, token from ``q2`` at the
intermediate state). The student's one step of 2/k reveals it with the same total probability, so its
token distribution should be the mixture of ``q1`` and ``q2`` in those proportions. With ``q2`` taken from
one sampled intermediate state in which the position is still masked, that mixture is an unbiased
estimate of the teacher's two-step token distribution there.

Certainty (dParallel-style). Cross-entropy toward the teacher's final greedy tokens at its own
intermediate states (trajectory consistency), plus the mean entropy of the student's distribution over the
positions where it already predicts the teacher's token (certainty), which pushes them past a decoding
threshold. The entropy is averaged over those positions only, not over all masked ones: early in a
trajectory few are correct, and averaging over all would shrink the term exactly where parallel commits
are won."""

from __future__ import annotations

import torch
from torch import Tensor


def two_step_weights(p1: Tensor, p2: Tensor) -> tuple[Tensor, Tensor]:
    """(w1, w2): the shares of first- and second-step reveals among all reveals in the two steps."""
    first, second = p1, (1 - p1) * p2
    total = (first + second).clamp_min(1e-12)
    return first / total, second / total


def two_step_target(q1: Tensor, q2: Tensor, p1: Tensor, p2: Tensor) -> Tensor:
    """The teacher's two-step token distribution [B, L, V] from its distributions at the state (``q1``) and
    at the intermediate state (``q2``); ``p1``, ``p2`` [B] are the steps' reveal probabilities."""
    w1, w2 = two_step_weights(p1, p2)
    return w1[:, None, None] * q1 + w2[:, None, None] * q2


def masked_kl(target: Tensor, student_logits: Tensor, where: Tensor) -> Tensor:
    """Mean over ``where`` positions of KL(target || softmax(student_logits)); banned ids carry -inf logits
    and zero target mass, and contribute nothing."""
    log_q = torch.log_softmax(student_logits.float(), -1)
    log_p = target.clamp_min(1e-30).log()
    finite_log_q = log_q.masked_fill(~torch.isfinite(log_q), 0.0)  # banned ids: zero target mass
    per_position = (target * (log_p - finite_log_q)).sum(-1)
    return (per_position * where).sum() / where.sum().clamp_min(1)


def certainty_loss(student_logits: Tensor, answer: Tensor, where: Tensor, weight: float) -> tuple[Tensor, Tensor]:
    """(loss, cross-entropy): mean cross-entropy toward ``answer`` over ``where`` positions plus ``weight``
    times the mean entropy over those of them whose argmax already equals ``answer`` (zero where none do)."""
    log_q = torch.log_softmax(student_logits.float(), -1)
    ce = -log_q.gather(-1, answer.unsqueeze(-1)).squeeze(-1)
    ce = ce.masked_fill(~where, 0.0)  # a kept prompt or pad token may be a banned id: inf * 0 would be NaN
    finite_log_q = log_q.masked_fill(~torch.isfinite(log_q), 0.0)  # banned ids: 0 * log 0 = 0, no NaN gradient
    entropy = -(log_q.exp() * finite_log_q).sum(-1)
    correct = where & (log_q.argmax(-1) == answer)
    mean_ce = ce.sum() / where.sum().clamp_min(1)
    mean_entropy = (entropy * correct).sum() / correct.sum().clamp_min(1)
    return mean_ce + weight * mean_entropy, mean_ce


def confident_share(logits: Tensor, where: Tensor, threshold: float = 0.9) -> Tensor:
    """The share of ``where`` positions whose top probability exceeds ``threshold``: what threshold decoding
    may commit at once (logged during certainty forcing; it is the figure the loss is meant to raise)."""
    top = logits.float().softmax(-1).amax(-1)
    return ((top > threshold) & where).sum() / where.sum().clamp_min(1)
