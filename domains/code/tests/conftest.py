import pytest
import torch

from seqdiff.checkpoint import Pretrained, save_pretrained
from seqdiff.model import Denoiser, DenoiserConfig
from seqdiff_code.tokenizer import CodeTokenizer


@pytest.fixture(scope="session")
def tokenizer():
    return CodeTokenizer.bundled()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer):
    """A random-weights code model folder (2 layers, d=32): exercises the whole path, fast."""
    torch.manual_seed(0)
    model = Denoiser(DenoiserConfig(vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id,
                                    mask_id=tokenizer.mask_id, d_model=32, n_layers=2, n_heads=4,
                                    token_dropout=False))
    path = tmp_path_factory.mktemp("models") / "tiny-code"
    save_pretrained(Pretrained(model=model, tokenizer=tokenizer, domain="code", meta={"note": "random weights"}),
                    path)
    return path


@pytest.fixture(scope="session")
def tiny_infiller(tiny_model_dir):
    from seqdiff_code.infill import CodeInfiller

    return CodeInfiller.from_pretrained(tiny_model_dir, context_length=96, max_remask_rounds=2)
