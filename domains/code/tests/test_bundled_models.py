"""The bundled code model is a reward-tuned copy of the pretrained one: its provenance must stay true."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqdiff_code.domain import BUNDLED_MODEL

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.skipif(not (BUNDLED_MODEL / "config.json").is_file(), reason="bundled code model not installed")
def test_the_tuned_default_names_a_committed_reference_and_the_config_that_made_it():
    meta = json.loads((BUNDLED_MODEL / "config.json").read_text())["meta"]
    reference = ROOT / meta["reference"]
    assert meta["tuned_from"] == meta["reference"] and (reference / "config.json").is_file()
    assert (ROOT / meta["config"]).is_file()
    assert (reference / "tokenizer.json").read_bytes() == (BUNDLED_MODEL / "tokenizer.json").read_bytes()
    for folder in (BUNDLED_MODEL, reference):
        assert (folder / "model.safetensors").stat().st_size < 15 * 2**20  # small enough to commit
