"""Dream-family folders (Dream-7B, Dream-Coder-7B, DiffuCoder-7B, DreamOn): the Qwen2.5 layout (grouped-query
attention, q/k/v bias) with ``model_type`` "Dream". Their logits are shifted one position (token i is scored
by the output at i-1); the Denoiser applies that (``logits_shift``) so ``logits[:, i]`` scores token i."""

from __future__ import annotations

from seqdiff.families.keys import KeyMap
from seqdiff.model import DenoiserConfig

MODEL_TYPE = "Dream"
DOMAIN = None
_LAYER = "model.layers.{n}."
KEYS = KeyMap(
    pairs=(
        ("model.embed_tokens.weight", "embed_tokens.weight"),
        (_LAYER + "input_layernorm.weight", "layers.{n}.self_attn_layer_norm.weight"),
        (_LAYER + "self_attn.{x}_proj.{p}", "layers.{n}.self_attn.{x}_proj.{p}"),
        (_LAYER + "self_attn.o_proj.weight", "layers.{n}.self_attn.out_proj.weight"),
        (_LAYER + "post_attention_layernorm.weight", "layers.{n}.final_layer_norm.weight"),
        (_LAYER + "mlp.gate_proj.weight", "layers.{n}.fc1.weight"),
        (_LAYER + "mlp.up_proj.weight", "layers.{n}.fc_up.weight"),
        (_LAYER + "mlp.down_proj.weight", "layers.{n}.fc2.weight"),
        ("model.norm.weight", "emb_layer_norm_after.weight"),
        ("lm_head.weight", "lm_head.weight"),
    ),
    ignore=(r"rotary_emb\.inv_freq$",),
)


def their_key(key: str) -> str:
    return key


def rope_theta(hf: dict) -> float:
    """rope_theta, from the top level (older configs) or ``rope_parameters`` (transformers 5); only plain
    rotary positions are mapped."""
    params = hf.get("rope_parameters") or {}
    scaling = hf.get("rope_scaling")
    kind = params.get("rope_type", "default")
    if scaling not in (None, {}) or kind != "default":
        raise ValueError(f"rope scaling ({scaling or kind!r}) is not supported; only default rotary positions")
    return float(hf.get("rope_theta") or params.get("rope_theta") or 10000.0)


def to_config(hf: dict, get) -> DenoiserConfig:
    if hf.get("hidden_act", "silu") != "silu":
        raise ValueError(f"hidden_act={hf.get('hidden_act')!r} is not supported for Dream (expected 'silu')")
    if hf.get("use_sliding_window"):
        raise ValueError("use_sliding_window=true is not supported: the denoiser attends to the whole canvas")
    d_model, n_heads = get("hidden_size"), get("num_attention_heads")
    if hf.get("head_dim") not in (None, d_model // n_heads):
        raise ValueError(f"head_dim={hf['head_dim']} differs from hidden_size / num_attention_heads")
    tied = bool(hf.get("tie_word_embeddings", False))
    eos = hf.get("eos_token_id")
    pad = hf.get("pad_token_id")
    pad = eos if pad is None else pad
    if pad is None:
        raise ValueError("config.json has neither pad_token_id nor eos_token_id")
    return DenoiserConfig(
        vocab_size=get("vocab_size"), pad_id=pad, mask_id=get("mask_token_id"), d_model=d_model,
        n_layers=get("num_hidden_layers"), n_heads=n_heads, ffn_dim=get("intermediate_size"),
        token_dropout=False, layer_norm_eps=float(hf.get("rms_norm_eps", 1e-6)), rope_base=rope_theta(hf),
        norm="rmsnorm", mlp="swiglu", n_kv_heads=hf.get("num_key_value_heads") or n_heads, qkv_bias=True,
        out_bias=False, mlp_bias=False, lm_head="linear", tie_embeddings=tied, logits_shift=True,
        hide_pad=pad != eos, max_positions=hf.get("max_position_embeddings"))
