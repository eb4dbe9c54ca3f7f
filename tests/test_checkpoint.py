import json

import pytest
import torch

from seqdiff.checkpoint import Pretrained, from_pretrained, save_pretrained
from seqdiff.tokenizer import CharTokenizer


@pytest.fixture
def pretrained(tiny_model):
    tokenizer = CharTokenizer.from_alphabet("abcdefg")
    return Pretrained(model=tiny_model, tokenizer=tokenizer, domain=None, meta={"steps": 3})


def test_round_trip_is_bit_exact(pretrained, tmp_path):
    save_pretrained(pretrained, tmp_path / "m")
    loaded = from_pretrained(tmp_path / "m")
    for (k, a), (_, b) in zip(pretrained.model.state_dict().items(), loaded.model.state_dict().items()):
        assert torch.equal(a, b), k
    assert loaded.tokenizer == pretrained.tokenizer
    assert loaded.meta == {"steps": 3}
    tokens = torch.tensor([[4, 5, 1, 6]])
    with torch.no_grad():
        assert torch.equal(pretrained.model(tokens), loaded.model(tokens))
    assert {p.name for p in (tmp_path / "m").iterdir()} == {"config.json", "model.safetensors", "tokenizer.json",
                                                          "README.md"}


def test_bfloat16_export_is_half_size(pretrained, tmp_path):
    save_pretrained(pretrained, tmp_path / "f32")
    save_pretrained(pretrained, tmp_path / "bf16", dtype=torch.bfloat16)
    small, big = (tmp_path / "bf16/model.safetensors").stat().st_size, (tmp_path / "f32/model.safetensors").stat().st_size
    assert small < 0.6 * big
    loaded = from_pretrained(tmp_path / "bf16")
    expected = pretrained.model.embed_tokens.weight.to(torch.bfloat16).float()
    assert torch.equal(loaded.model.embed_tokens.weight, expected)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        from_pretrained(tmp_path / "nowhere")


def test_corrupt_weights_are_rejected_without_unpickling(pretrained, tmp_path):
    save_pretrained(pretrained, tmp_path / "m")
    (tmp_path / "m/model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="safetensors"):
        from_pretrained(tmp_path / "m")


def test_mismatched_config_is_reported(pretrained, tmp_path):
    save_pretrained(pretrained, tmp_path / "m")
    config = json.loads((tmp_path / "m/config.json").read_text())
    config["model"]["n_layers"] = 3
    (tmp_path / "m/config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="does not match"):
        from_pretrained(tmp_path / "m")
