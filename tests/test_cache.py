"""KV caches: exact when refreshed every step, refreshed at block starts, windowed forwards match full ones."""

from __future__ import annotations

import pytest
import torch

from seqdiff.model import Denoiser
from seqdiff.samplers import BlockwiseSampler, CacheOptions, ConfidenceSampler, Denoise, ThresholdSampler, row_generators
from seqdiff.testing import INNERS, MASK, ROWS, SPECIAL, TOK, CallLog, batch, tiny_denoiser

@pytest.fixture(scope="module")
def model() -> Denoiser:
    return tiny_denoiser(seed=1)


def decode(sampler, model, cache, seeds=(1, 2, 3), rows=ROWS):
    x, e = batch(rows)
    return Denoise(sampler, banned_ids=SPECIAL, cache=cache)(model, x, e, row_generators(list(seeds)))


@pytest.mark.parametrize("mode", ["prefix", "dual"])
@pytest.mark.parametrize("inner", sorted(INNERS))
@pytest.mark.parametrize("block_length", [3, 5])
def test_refresh_every_step_is_exact(mode, inner, block_length, model):
    sampler = BlockwiseSampler(INNERS[inner](), block_length)
    plain = decode(sampler, model, CacheOptions())
    cached = decode(sampler, model, CacheOptions(mode=mode, refresh_every=1))
    assert CacheOptions(mode=mode, refresh_every=1).exact and not CacheOptions(mode=mode).exact
    assert torch.equal(plain.tokens, cached.tokens)
    assert plain.nfe == cached.nfe and plain.tokens_per_step == cached.tokens_per_step


@pytest.mark.parametrize("mode", ["prefix", "dual"])
def test_approximate_cache_refreshes_at_block_starts(mode, model):
    sampler = BlockwiseSampler(ConfidenceSampler(steps=8), 4)
    x = torch.full((2, 18), MASK)
    x[:, 0], x[:, -1] = 4, TOK.eos_id
    e = x == MASK
    rec = CallLog(model)
    out = Denoise(sampler, banned_ids=SPECIAL, cache=CacheOptions(mode=mode))(rec, x, e, row_generators([0, 1]))
    assert not (out.tokens == MASK).any() and out.nfe == len(rec.calls)
    windows = [w for w, _ in rec.calls]
    refreshes = [w for w, r in rec.calls if r]
    starts = [w for i, w in enumerate(windows) if i == 0 or w[0] != windows[i - 1][0]]
    assert len(refreshes) == len(starts) == 4  # 16 positions, blocks of 4
    for w, _ in rec.calls:
        assert w[0] in (1, 5, 9, 13)
        assert w[1] == (18 if mode == "prefix" else min(w[0] + 4, 18))


def test_refresh_every_n(model):
    sampler = BlockwiseSampler(ConfidenceSampler(steps=16), 8)  # 2 blocks, 8 steps each
    x = torch.full((1, 16), MASK)
    rec = CallLog(model)
    Denoise(sampler, banned_ids=SPECIAL, cache=CacheOptions("dual", refresh_every=3))(
        rec, x, torch.ones_like(x, dtype=torch.bool), row_generators([0]))
    flags = [r for _, r in rec.calls]
    assert flags == [True, False, False, True, False, False, True, False] * 2


def test_windowed_forward_matches_full_forward(model):
    x, _ = batch(ROWS)
    x[0, 5:9] = torch.tensor([4, 5, 6, 7])
    full = model(x)
    cache = model.new_cache()
    refreshed = model(x, cache=cache, window=(4, 11), refresh=True)
    assert torch.equal(refreshed, full[:, 4:11])
    for window in [(4, 11), (4, x.shape[1]), (0, 3)]:
        torch.testing.assert_close(model(x, cache=cache, window=window), full[:, window[0]:window[1]],
                                   atol=1e-4, rtol=1e-4)


def test_hook_sees_full_length_logits_with_a_cache(model):
    shapes = []

    def hook(step, x, logits):
        shapes.append(tuple(logits.shape[:2]) == tuple(x.shape))
        return logits

    x, e = batch(ROWS)
    Denoise(BlockwiseSampler(ThresholdSampler(0.5), 4), banned_ids=SPECIAL, logits_hook=hook,
            cache=CacheOptions("dual"))(model, x, e, row_generators([1, 2, 3]))
    assert shapes and all(shapes)


def test_cache_mode_by_name():
    d = Denoise(BlockwiseSampler(ThresholdSampler(), 4), cache="prefix")
    assert d.cache == CacheOptions("prefix")
