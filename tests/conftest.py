"""Shared fixtures. The toy plugin folder is put on sys.path (and PYTHONPATH for subprocesses) so its
entry point is discovered like any installed third-party domain."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

TOY_PLUGIN = Path(__file__).parent / "toy_plugin"
sys.path.insert(0, str(TOY_PLUGIN))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TOY_PLUGIN), os.environ.get("PYTHONPATH")]))
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model():
    """The sampler suites' tiny denoiser over ``seqdiff.testing.TOK`` (logits spread for clear rankings)."""
    from seqdiff.testing import tiny_denoiser

    return tiny_denoiser(seed=0)


@pytest.fixture
def tiny_model():
    from seqdiff.model import Denoiser, DenoiserConfig

    torch.manual_seed(0)
    return Denoiser(DenoiserConfig(vocab_size=11, pad_id=0, mask_id=1, d_model=32, n_layers=2, n_heads=4)).eval()
