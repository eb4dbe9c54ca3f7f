import argparse
import json
from pathlib import Path

import pytest
import torch

from seqdiff.checkpoint import Pretrained, save_pretrained
from seqdiff.model import Denoiser, esm2_config
from seqdiff_protein.alphabet import protein_tokenizer

torch.set_num_threads(1)  # the test machine is shared; one thread is faster and steadier there

EXAMPLES = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "motif_examples.json"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = Denoiser(esm2_config(num_layers=2, embed_dim=32, attention_heads=4))
    return save_pretrained(Pretrained(model=model, tokenizer=protein_tokenizer(), domain="protein"),
                           tmp_path_factory.mktemp("gen") / "tiny-gen")


@pytest.fixture(scope="session")
def tiny_scorer_dir(tmp_path_factory) -> Path:
    torch.manual_seed(1)
    model = Denoiser(esm2_config(num_layers=1, embed_dim=32, attention_heads=4))
    return save_pretrained(Pretrained(model=model, tokenizer=protein_tokenizer(), domain="protein"),
                           tmp_path_factory.mktemp("sc") / "tiny-scorer")


def write_fair_esm_checkpoint(path: Path, layers=2, dim=32, heads=4, seed=0, with_regression=True) -> Path:
    """A small checkpoint in fair-esm's ESM-2 file format: {"model": prefixed state, "cfg": {"model": Namespace}}."""
    from esm.model.esm2 import ESM2

    torch.manual_seed(seed)
    model = ESM2(num_layers=layers, embed_dim=dim, attention_heads=heads, alphabet="ESM-1b", token_dropout=True)
    for p in model.parameters():  # fair-esm initialises many weights to constants: randomise for a real test
        torch.nn.init.normal_(p, std=0.2)
    state = {f"encoder.sentence_encoder.{k}": v for k, v in model.state_dict().items()
             if not k.startswith("contact_head.")}
    cfg = argparse.Namespace(encoder_layers=layers, encoder_embed_dim=dim, encoder_attention_heads=heads,
                             token_dropout=True, arch="ESM-2")
    torch.save({"model": state, "cfg": {"model": cfg}, "args": None}, path)
    if with_regression:
        torch.save({"model": {k: v for k, v in model.state_dict().items() if k.startswith("contact_head.")}},
                   path.with_name(path.stem + "-contact-regression.pt"))
    return path


@pytest.fixture(scope="session")
def fair_esm_checkpoint():
    """``write_fair_esm_checkpoint`` for tests that need fair-esm's file format."""
    return write_fair_esm_checkpoint


@pytest.fixture(scope="session")
def motif_examples() -> list[dict]:
    path = EXAMPLES.resolve()
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return json.loads(path.read_text())["problems"]
