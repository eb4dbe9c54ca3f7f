"""Samplers: small swappable objects behind one ``step(logits, x, ctx)`` interface, and the one loop."""

from seqdiff.samplers.ancestral import AncestralSampler
from seqdiff.samplers.base import Sampler, SamplingOptions, StepContext, WindowedSampler, row_generators
from seqdiff.samplers.blockwise import BlockwiseSampler
from seqdiff.samplers.confidence import ConfidenceSampler
from seqdiff.samplers.loop import CacheOptions, Denoise, DenoiseError, DenoiseResult, Repair
from seqdiff.samplers.parallel import FactorSampler, ThresholdSampler
from seqdiff.samplers.remask import RemaskSampler

__all__ = ["AncestralSampler", "BlockwiseSampler", "CacheOptions", "ConfidenceSampler", "Denoise", "DenoiseError",
           "DenoiseResult", "FactorSampler", "RemaskSampler", "Repair", "Sampler", "SamplingOptions", "StepContext",
           "ThresholdSampler", "WindowedSampler", "row_generators"]
