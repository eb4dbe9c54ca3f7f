"""GraphedDenoiser: decoding through it equals decoding with the plain model, token for token. Only CUDA
replays a captured graph (elsewhere it is the eager model, so a CPU run would compare eager with eager):
these tests run where CUDA is available."""

from __future__ import annotations

import pytest
import torch

from seqdiff.graphs import GraphedDenoiser
from seqdiff.samplers import AncestralSampler, BlockwiseSampler, ConfidenceSampler, Denoise, ThresholdSampler
from seqdiff.samplers import row_generators
from seqdiff.testing import ROWS, SPECIAL, batch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="graphs are captured on CUDA only")
RUNS = {
    "ancestral": lambda: Denoise(AncestralSampler(steps=6), banned_ids=SPECIAL),
    "confidence": lambda: Denoise(ConfidenceSampler(steps=None), banned_ids=SPECIAL),
    "block-dual-cache": lambda: Denoise(BlockwiseSampler(ThresholdSampler(0.5), 4), banned_ids=SPECIAL,
                                        cache="dual"),
}


@pytest.mark.parametrize("run", sorted(RUNS))
def test_graphed_decoding_equals_eager(run, model):
    device = "cuda"
    model = model.to(device)
    x, e = batch(ROWS)
    x, e = x.to(device), e.to(device)
    denoise = RUNS[run]()
    eager = denoise(model, x, e, row_generators([1, 2, 3], device))
    graphed = GraphedDenoiser(model)
    for _ in range(2):  # the second run replays the graph captured by the first
        again = denoise(graphed, x, e, row_generators([1, 2, 3], device))
        assert torch.equal(again.tokens, eager.tokens) and again.nfe == eager.nfe
    model.to("cpu")


def test_logits_are_safe_to_keep(model):
    model = model.to("cuda")
    x, _ = batch(ROWS)
    x = x.to("cuda")
    graphed = GraphedDenoiser(model)
    with torch.no_grad():
        first = graphed(x)
        graphed(x.flip(0))  # a replay overwrites the graph's output buffer: ``first`` must be a copy
        assert torch.equal(first, model(x))
    model.to("cpu")
