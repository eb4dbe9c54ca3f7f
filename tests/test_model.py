import pytest
import torch

from seqdiff.model import Denoiser, DenoiserConfig, esm2_config, from_esm2_state_dict, to_esm2_state_dict


def _random_esm2():
    from esm.model.esm2 import ESM2

    torch.manual_seed(0)
    ref = ESM2(num_layers=2, embed_dim=64, attention_heads=4, alphabet="ESM-1b", token_dropout=True).eval()
    for p in ref.parameters():
        p.data.normal_(0, 0.2)
    return ref


def _esm_batch(alphabet):
    torch.manual_seed(1)
    tokens = torch.randint(4, 24, (3, 24))
    tokens[:, 0], tokens[:, -1] = alphabet.cls_idx, alphabet.eos_idx
    tokens[0, 5:12] = alphabet.mask_idx
    tokens[1, 16:] = alphabet.padding_idx
    tokens[1, 15] = alphabet.eos_idx
    return tokens


def test_esm2_state_dict_gives_fair_esm_logits():
    ref = _random_esm2()
    ours = Denoiser(esm2_config(2, 64, 4)).eval()
    ours.load_state_dict(from_esm2_state_dict(ref.state_dict()), strict=True)
    tokens = _esm_batch(ref.alphabet)
    with torch.no_grad():
        expected, got = ref(tokens)["logits"], ours(tokens)
    real = tokens != ref.alphabet.padding_idx
    assert (expected - got)[real].abs().max() <= 1e-5


def test_esm2_conversion_round_trips():
    ref = _random_esm2()
    ours = Denoiser(esm2_config(2, 64, 4))
    ours.load_state_dict(from_esm2_state_dict(ref.state_dict()))
    back = to_esm2_state_dict(ours.state_dict())
    missing, unexpected = ref.load_state_dict(back, strict=False)
    assert not unexpected and all(k.startswith("contact_head") or "rot_emb" in k for k in missing)


def test_padding_does_not_change_real_positions(tiny_model):
    tokens = torch.tensor([[2, 3, 1, 4, 5]])
    padded = torch.tensor([[2, 3, 1, 4, 5, 0, 0]])
    with torch.no_grad():
        a, b = tiny_model(tokens), tiny_model(padded)[:, :5]
    assert torch.allclose(a, b, atol=1e-5)


def test_cached_window_after_refresh_equals_full_pass(tiny_model):
    tokens = torch.randint(2, 11, (2, 12))
    cache = tiny_model.new_cache()
    with torch.no_grad():
        full = tiny_model(tokens, cache=cache, refresh=True)
        window = tiny_model(tokens, cache=cache, window=(3, 8))
    assert torch.allclose(full[:, 3:8], window, atol=1e-5)  # same keys/values; only matmul shapes differ


def test_window_needs_a_filled_cache(tiny_model):
    tokens = torch.randint(2, 11, (1, 6))
    with pytest.raises(ValueError, match="needs a KVCache"):
        tiny_model(tokens, window=(0, 2))
    with pytest.raises(ValueError, match="empty"):
        tiny_model(tokens, cache=tiny_model.new_cache(), window=(0, 2))


@pytest.mark.parametrize("kwargs, message", [
    ({"d_model": 30, "n_heads": 4}, "divisible"),
    ({"d_model": 24, "n_heads": 8}, "even"),
    ({"pad_id": 11}, "outside the vocabulary"),
])
def test_bad_config_is_rejected(kwargs, message):
    base = {"vocab_size": 11, "pad_id": 0, "mask_id": 1, "d_model": 32, "n_heads": 4}
    with pytest.raises(ValueError, match=message):
        DenoiserConfig(**{**base, **kwargs})


def test_unknown_config_key_is_named():
    with pytest.raises(ValueError, match="n_layer"):
        DenoiserConfig.from_dict({"vocab_size": 11, "pad_id": 0, "mask_id": 1, "n_layer": 2})


@pytest.mark.parametrize("kwargs, message", [
    ({"n_kv_heads": 3}, "n_kv_heads"),
    ({"n_layers": 0}, "positive"),
    ({"ffn_dim": -4}, "positive"),
    ({"norm": "batchnorm"}, "layernorm, rmsnorm"),
    ({"mlp": "relu"}, "gelu, swiglu"),
    ({"lm_head": "linear", "tie_embeddings": True, "norm": "rmsnorm"}, None),
    ({"tie_embeddings": False}, "tie_embeddings"),
    ({"vocab_size": 20_000_000, "d_model": 16_384, "pad_id": 0}, "parameters"),
])
def test_family_fields_are_validated_before_allocating(kwargs, message):
    base = {"vocab_size": 11, "pad_id": 0, "mask_id": 1, "d_model": 32, "n_heads": 4}
    if message is None:
        DenoiserConfig(**{**base, **kwargs})
        return
    with pytest.raises(ValueError, match=message):
        DenoiserConfig(**{**base, **kwargs})


@pytest.mark.parametrize("family", [
    {},
    {"norm": "rmsnorm", "mlp": "swiglu", "n_kv_heads": 2, "qkv_bias": False, "out_bias": False, "mlp_bias": False,
     "lm_head": "linear", "tie_embeddings": False, "token_dropout": False, "hide_pad": False},
    {"norm": "rmsnorm", "mlp": "swiglu", "n_kv_heads": 1, "out_bias": False, "mlp_bias": False,
     "lm_head": "linear", "tie_embeddings": True, "token_dropout": False, "logits_shift": True},
])
def test_parameter_estimate_is_exact_and_cached_windows_match(family):
    torch.manual_seed(0)
    cfg = DenoiserConfig(vocab_size=11, pad_id=0, mask_id=1, d_model=32, n_layers=2, n_heads=4, **family)
    model = Denoiser(cfg).eval()
    assert model.num_parameters() == cfg.estimated_parameters()
    tokens = torch.randint(2, 11, (2, 12))
    cache = model.new_cache()
    with torch.no_grad():
        full = model(tokens, cache=cache, refresh=True)
        for window in [(0, 4), (3, 8), (8, 12)]:
            torch.testing.assert_close(model(tokens, cache=cache, window=window), full[:, window[0]:window[1]],
                                       atol=1e-5, rtol=1e-5)


def test_logits_shift_scores_token_i_with_the_output_at_i_minus_1():
    torch.manual_seed(0)
    base = dict(vocab_size=11, pad_id=0, mask_id=1, d_model=32, n_layers=1, n_heads=4, token_dropout=False)
    plain = Denoiser(DenoiserConfig(**base)).eval()
    shifted = Denoiser(DenoiserConfig(**base, logits_shift=True)).eval()
    shifted.load_state_dict(plain.state_dict())
    tokens = torch.randint(2, 11, (1, 7))
    with torch.no_grad():
        a, b = plain(tokens), shifted(tokens)
    assert torch.equal(b[:, 1:], a[:, :-1]) and torch.equal(b[:, 0], a[:, 0])


def test_max_positions_is_enforced():
    model = Denoiser(DenoiserConfig(vocab_size=11, pad_id=0, mask_id=1, d_model=32, n_heads=4, n_layers=1,
                                    max_positions=8))
    with pytest.raises(ValueError, match="max_positions=8"):
        model(torch.randint(2, 11, (1, 9)))
