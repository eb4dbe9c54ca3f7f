"""Hugging Face ``EsmForMaskedLM`` folders: ESM-2 and DPLM (the same layout plus ``dplm_type`` in config.json).

Tokenizer: ESM's ``vocab.txt`` (one token per line), read as a character tokenizer, so a folder with the
standard ESM alphabet is exactly the protein domain's tokenizer."""

from __future__ import annotations

from pathlib import Path

from seqdiff.families.keys import KeyMap
from seqdiff.io import MAX_TOKENIZER_BYTES, check_file_size
from seqdiff.model import DenoiserConfig
from seqdiff.tokenizer import CharTokenizer

MODEL_TYPE = "esm"
DOMAIN = "protein"
_LAYER = "esm.encoder.layer.{n}."
KEYS = KeyMap(
    pairs=(
        ("esm.embeddings.word_embeddings.weight", "embed_tokens.weight"),
        (_LAYER + "attention.self.query.{p}", "layers.{n}.self_attn.q_proj.{p}"),
        (_LAYER + "attention.self.key.{p}", "layers.{n}.self_attn.k_proj.{p}"),
        (_LAYER + "attention.self.value.{p}", "layers.{n}.self_attn.v_proj.{p}"),
        (_LAYER + "attention.output.dense.{p}", "layers.{n}.self_attn.out_proj.{p}"),
        (_LAYER + "attention.LayerNorm.{p}", "layers.{n}.self_attn_layer_norm.{p}"),
        (_LAYER + "intermediate.dense.{p}", "layers.{n}.fc1.{p}"),
        (_LAYER + "output.dense.{p}", "layers.{n}.fc2.{p}"),
        (_LAYER + "LayerNorm.{p}", "layers.{n}.final_layer_norm.{p}"),
        ("esm.encoder.emb_layer_norm_after.{p}", "emb_layer_norm_after.{p}"),
        ("lm_head.dense.{p}", "lm_head.dense.{p}"),
        ("lm_head.layer_norm.{p}", "lm_head.layer_norm.{p}"),
        ("lm_head.bias", "lm_head.bias"),
    ),
    ignore=(r"rotary_embeddings\.inv_freq$", r"^esm\.contact_head\.", r"^lm_head\.decoder\.weight$",
            r"^esm\.embeddings\.position_ids$"),
)


def their_key(key: str) -> str:
    """Older Hugging Face files name LayerNorm parameters gamma/beta; read them as weight/bias."""
    if key.endswith(".gamma"):
        return key[: -len("gamma")] + "weight"
    if key.endswith(".beta"):
        return key[: -len("beta")] + "bias"
    return key


def to_config(hf: dict, get) -> DenoiserConfig:
    """``get(name)`` reads a required config.json field (raising a clear error when it is missing)."""
    if hf.get("position_embedding_type", "absolute") != "rotary":
        raise ValueError(f"position_embedding_type={hf.get('position_embedding_type')!r}: only rotary ESM "
                         f"models (ESM-2, DPLM) are supported, not ESM-1b-style absolute positions")
    if hf.get("emb_layer_norm_before"):
        raise ValueError("emb_layer_norm_before=true (ESM-1b) is not supported; ESM-2 and DPLM have it false")
    if hf.get("hidden_act", "gelu") != "gelu":
        raise ValueError(f"hidden_act={hf.get('hidden_act')!r}: ESM folders must use gelu")
    if hf.get("tie_word_embeddings", True) is False:
        raise ValueError("tie_word_embeddings=false: ESM's head projects onto the token embeddings")
    return DenoiserConfig(
        vocab_size=get("vocab_size"), pad_id=get("pad_token_id"), mask_id=get("mask_token_id"),
        d_model=get("hidden_size"), n_layers=get("num_hidden_layers"), n_heads=get("num_attention_heads"),
        ffn_dim=get("intermediate_size"), token_dropout=bool(hf.get("token_dropout", False)),
        layer_norm_eps=float(hf.get("layer_norm_eps", 1e-12)),
        rope_base=float(hf.get("rope_theta", 10000.0)))


def read_vocab(directory: Path) -> tuple[str, ...]:
    path = directory / "vocab.txt"
    check_file_size(path, MAX_TOKENIZER_BYTES)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: an ESM folder needs its vocab.txt (one token per line)")
    return tuple(line.strip() for line in path.read_text().splitlines() if line.strip())


def make_tokenizer(tokens: tuple[str, ...], config: DenoiserConfig, hf: dict) -> CharTokenizer:
    """``hf`` carries pad/mask/eos ids resolved from config.json or the folder's special tokens."""
    if len(tokens) > config.vocab_size:
        raise ValueError(f"vocab.txt has {len(tokens)} tokens but config.json says vocab_size={config.vocab_size}")
    ids = {name: hf.get(f"{name}_token_id") for name in ("pad", "mask", "eos")}
    for name, value in ids.items():
        if not isinstance(value, int) or not 0 <= value < len(tokens):
            raise ValueError(f"the {name} token id {value!r} (config.json {name}_token_id, or {name}_token in "
                             f"tokenizer_config.json) is not an index into vocab.txt ({len(tokens)} tokens)")
    specials = tuple(t for t in tokens if t.startswith("<") and t.endswith(">"))
    unk = "<unk>" if "<unk>" in tokens else None
    return CharTokenizer(tokens=tokens, pad=tokens[ids["pad"]], mask=tokens[ids["mask"]], eos=tokens[ids["eos"]],
                         unk=unk, specials=specials)
