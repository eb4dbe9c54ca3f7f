"""Samplers: small swappable objects behind one ``step(logits, x, ctx)`` interface, and the one loop."""

from seqdiff.samplers.ancestral import AncestralSampler
from seqdiff.samplers.base import Sampler, SamplingOptions, StepContext
from seqdiff.samplers.confidence import ConfidenceSampler
from seqdiff.samplers.loop import CacheOptions, Denoise, DenoiseResult

__all__ = ["AncestralSampler", "CacheOptions", "ConfidenceSampler", "Denoise", "DenoiseResult", "Sampler",
           "SamplingOptions", "StepContext"]
