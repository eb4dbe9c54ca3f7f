"""Driving the existing samplers one step at a time (no ``Denoise`` loop): the states a student is trained
at and the teacher's view of them. Every draw goes through one ``torch.Generator``, so a training step's
states depend only on its seed."""

from __future__ import annotations

import torch
from torch import Tensor

from seqdiff.noise import NoiseConfig, Schedule
from seqdiff.samplers import AncestralSampler, ConfidenceSampler, SamplingOptions
from seqdiff.samplers.base import StepContext

from seqdiff.distill.losses import two_step_target


def ban(logits: Tensor, banned: Tensor) -> Tensor:
    """float32 logits with -inf at ids never emitted (the mask and the domain's banned ids)."""
    return logits.float().index_fill(-1, banned, float("-inf"))


def _context(step: int, steps: int, mask_id: int, editable: Tensor, generator: torch.Generator) -> StepContext:
    return StepContext(step=step, num_steps=steps, mask_id=mask_id, editable=editable, generator=generator)


def reveal_probability(step: int, steps: int, noise: NoiseConfig, batch: int) -> Tensor:
    """[B] P(a masked position is revealed at ``step`` of an ``steps``-step ancestral plan), as the
    ancestral sampler computes it (its last step reveals everything)."""
    if step + 1 >= steps:
        return torch.ones(batch, dtype=torch.float64)
    t, s = torch.tensor(1 - step / steps, dtype=torch.float64), torch.tensor(1 - (step + 1) / steps, dtype=torch.float64)
    return Schedule(noise).reveal_probability(t, s).expand(batch)


@torch.no_grad()
def ancestral_state(model, x: Tensor, editable: Tensor, steps: int, upto: int, banned: Tensor, noise: NoiseConfig,
                    temperature: float, generator: torch.Generator) -> Tensor:
    """The canvas after the first ``upto`` steps of ``model``'s own ``steps``-step ancestral sampling."""
    sampler = AncestralSampler(steps=steps, noise=noise, sampling=SamplingOptions(temperature=temperature))
    mask_id = model.config.mask_id
    for i in range(upto):
        x = sampler.step(ban(model(x), banned), x, _context(i, steps, mask_id, editable, generator))
    return x


@torch.no_grad()
def teacher_two_steps(teacher, x: Tensor, editable: Tensor, teacher_steps: int, student_step: int, banned: Tensor,
                      noise: NoiseConfig, temperature: float, generator: torch.Generator,
                      intermediates: int = 1) -> tuple[Tensor, Tensor]:
    """(target [B, L, V], where [B, L]): the teacher's two-step token distribution for the student's step
    ``student_step`` of ``teacher_steps / 2``, and where it is estimated (still masked after the first step in
    at least one of the ``intermediates`` sampled intermediate states, whose second-step distributions are
    averaged there: more of them, less noise in the target)."""
    first = 2 * student_step
    sampler = AncestralSampler(steps=teacher_steps, noise=noise, sampling=SamplingOptions(temperature=temperature))
    mask_id = teacher.config.mask_id
    logits1 = ban(teacher(x), banned)
    q2_sum, count = torch.zeros_like(logits1), torch.zeros(x.shape, device=x.device)
    for _ in range(intermediates):
        mid = sampler.step(logits1, x, _context(first, teacher_steps, mask_id, editable, generator))
        still = ((mid == mask_id) & editable).float()
        q2_sum += (ban(teacher(mid), banned) / temperature).softmax(-1) * still[..., None]
        count += still
    p1 = reveal_probability(first, teacher_steps, noise, x.shape[0]).to(x.device)
    p2 = reveal_probability(first + 1, teacher_steps, noise, x.shape[0]).to(x.device)
    q2 = q2_sum / count.clamp_min(1)[..., None]
    target = two_step_target((logits1 / temperature).softmax(-1), q2, p1.float(), p2.float())
    return target, count > 0


@torch.no_grad()
def greedy_trajectory(teacher, x: Tensor, editable: Tensor, steps: int, at: int, banned: Tensor,
                      generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """(state before step ``at``, final canvas) of the teacher's greedy confidence-ordered decoding in ``steps``
    steps (LLaDA's low-confidence remasking)."""
    sampler = ConfidenceSampler(steps=steps, sampling=SamplingOptions(temperature=0.0))
    mask_id = teacher.config.mask_id
    state = None
    for i in range(steps):
        if i == at:
            state = x
        if not ((x == mask_id) & editable).any():
            break
        x = sampler.step(ban(teacher(x), banned), x, _context(i, steps, mask_id, editable, generator))
    return (x if state is None else state), x  # finished before ``at``: nothing left to train on
