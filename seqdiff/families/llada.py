"""LLaDA folders (LLaDA-8B Base/Instruct, LLaDA-1.5): LLaMA-style blocks without a causal mask, under LLaDA's
own key names (``model.transformer.blocks.N.*``) and config field names (``d_model``, ``n_heads``, ...)."""

from __future__ import annotations

from seqdiff.families.keys import KeyMap
from seqdiff.model import DenoiserConfig

MODEL_TYPE = "llada"
DOMAIN = None
_BLOCK = "model.transformer.blocks.{n}."
KEYS = KeyMap(pairs=(
    ("model.transformer.wte.weight", "embed_tokens.weight"),
    (_BLOCK + "attn_norm.weight", "layers.{n}.self_attn_layer_norm.weight"),
    (_BLOCK + "{x}_proj.{p}", "layers.{n}.self_attn.{x}_proj.{p}"),
    (_BLOCK + "attn_out.{p}", "layers.{n}.self_attn.out_proj.{p}"),
    (_BLOCK + "ff_norm.weight", "layers.{n}.final_layer_norm.weight"),
    (_BLOCK + "ff_proj.{p}", "layers.{n}.fc1.{p}"),
    (_BLOCK + "up_proj.{p}", "layers.{n}.fc_up.{p}"),
    (_BLOCK + "ff_out.{p}", "layers.{n}.fc2.{p}"),
    ("model.transformer.ln_f.weight", "emb_layer_norm_after.weight"),
    ("model.transformer.ff_out.weight", "lm_head.weight"),
))

# config.json fields whose other values describe architectures this converter does not map
_REQUIRED = {"block_type": "llama", "activation_type": "silu", "layer_norm_type": "rms", "alibi": False,
             "rope": True, "scale_logits": False, "bias_for_layer_norm": False, "attention_layer_norm": False,
             "input_emb_norm": False}


def their_key(key: str) -> str:
    return key


def to_config(hf: dict, get) -> DenoiserConfig:
    for name, value in _REQUIRED.items():
        if name in hf and hf[name] not in (value, None):
            raise ValueError(f"config.json {name}={hf[name]!r} is not supported for LLaDA (expected {value!r})")
    d_model, n_heads = get("d_model"), get("n_heads")
    n_kv = 1 if hf.get("multi_query_attention") else (hf.get("n_kv_heads") or n_heads)
    ffn = hf.get("mlp_hidden_size") or get("mlp_ratio") * d_model
    bias = bool(hf.get("include_bias", False))
    pad, eos = get("pad_token_id"), hf.get("eos_token_id")
    return DenoiserConfig(
        vocab_size=hf.get("embedding_size") or get("vocab_size"), pad_id=pad, mask_id=get("mask_token_id"),
        d_model=d_model, n_layers=get("n_layers"), n_heads=n_heads, ffn_dim=ffn, token_dropout=False,
        layer_norm_eps=float(hf.get("rms_norm_eps", 1e-5)), rope_base=float(hf.get("rope_theta", 10000.0)),
        norm="rmsnorm", mlp="swiglu", n_kv_heads=n_kv, qkv_bias=bias or bool(hf.get("include_qkv_bias", False)),
        out_bias=bias, mlp_bias=bias, lm_head="linear", tie_embeddings=bool(hf.get("weight_tying", False)),
        hide_pad=pad != eos, max_positions=hf.get("max_sequence_length"))
