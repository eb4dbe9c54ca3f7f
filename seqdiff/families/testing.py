"""Tiny random Hugging Face folders in each family's own on-disk layout (LLaDA, Dream, ESM-2/DPLM), built from
transformers' Llama / Qwen2 / Esm models, which are returned as the reference implementations. For the test
suites of the core and the domains; needs ``transformers`` and ``tokenizers``."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from seqdiff.families import dream, llada
from seqdiff.families.keys import KeyMap

SPECIALS = ["<|pad|>", "<|mdm_mask|>", "<|endoftext|>", "<|unk|>", "<|im_start|>", "<|im_end|>"]
PAD, MASK, EOS = 0, 1, 2
EXTRA_ROWS = 4  # embedding rows beyond the tokenizer, as released checkpoints pad their vocabularies
CHAT = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
ESM_VOCAB = ["<cls>", "<pad>", "<eos>", "<unk>", *"LAGVSERTIDPKQNFYMHWCXBUZO.-", "<null_1>", "<mask>"]
# Llama's Hugging Face keys onto ours (the reference model's layout, to rename into LLaDA's)
LLAMA_KEYS = KeyMap(pairs=tuple(p for p in dream.KEYS.pairs if "self_attn.{x}" not in p[0])
                    + (("model.layers.{n}.self_attn.{x}_proj.weight", "layers.{n}.self_attn.{x}_proj.weight"),))


def text_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["def add(a, b):\n    return a + b\n", "hello world, the quick brown fox"] * 5, trainer)
    return tok


def spread(model: torch.nn.Module, seed: int) -> None:
    """Random weights large enough that logits are far from uniform (rankings not decided by rounding)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name.lower() and p.dim() == 1 and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.normal_(0, 0.3)


def write_text_tokenizer(folder: Path, tok) -> None:
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"chat_template": CHAT, "eos_token": "<|endoftext|>", "bos_token": None}))


def make_llada(folder: Path, n_kv_heads: int = 2):
    """A LLaDA folder from a random Llama: (folder, reference LlamaForCausalLM)."""
    import transformers

    tok = text_tokenizer()
    vocab = tok.get_vocab_size() + EXTRA_ROWS
    ref = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=n_kv_heads, attention_bias=False, mlp_bias=False, tie_word_embeddings=False,
        rope_theta=500000.0, rms_norm_eps=1e-5)).eval()
    spread(ref, 0)
    folder.mkdir(parents=True, exist_ok=True)
    state = {llada.KEYS.to_theirs(LLAMA_KEYS.to_ours(k)): v.contiguous() for k, v in ref.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({
        "model_type": "llada", "architectures": ["LLaDAModelLM"], "d_model": 32, "n_heads": 4,
        "n_kv_heads": n_kv_heads, "n_layers": 2, "mlp_hidden_size": 48, "mlp_ratio": 4, "rope_theta": 500000.0,
        "rms_norm_eps": 1e-5, "vocab_size": vocab, "embedding_size": vocab, "weight_tying": False,
        "include_bias": False, "include_qkv_bias": False, "block_type": "llama", "activation_type": "silu",
        "layer_norm_type": "rms", "max_sequence_length": 4096, "mask_token_id": MASK, "pad_token_id": PAD,
        "eos_token_id": EOS, "auto_map": {"AutoModel": "modeling_llada.LLaDAModelLM"}}))
    write_text_tokenizer(folder, tok)
    return folder, ref


def make_dream(folder: Path):
    """A Dream folder from a random Qwen2 (same keys, model_type "Dream"): (folder, reference)."""
    import transformers

    tok = text_tokenizer()
    vocab = tok.get_vocab_size() + EXTRA_ROWS
    ref = transformers.Qwen2ForCausalLM(transformers.Qwen2Config(
        vocab_size=vocab, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, tie_word_embeddings=False, rope_theta=1e6, rms_norm_eps=1e-6,
        pad_token_id=PAD, eos_token_id=EOS)).eval()
    spread(ref, 1)
    ref.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="Dream", architectures=["DreamModel"], mask_token_id=MASK)
    (folder / "config.json").write_text(json.dumps(config))
    write_text_tokenizer(folder, tok)
    return folder, ref


def make_esm(folder: Path, dplm: bool = False):
    """An EsmForMaskedLM folder (ESM-2 layout; with ``dplm_type`` it is a DPLM folder): (folder, reference)."""
    import transformers

    ref = transformers.EsmForMaskedLM(transformers.EsmConfig(
        vocab_size=33, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        position_embedding_type="rotary", token_dropout=True, mask_token_id=32, pad_token_id=1, eos_token_id=2,
        emb_layer_norm_before=False, layer_norm_eps=1e-5)).eval()
    spread(ref, 2)
    ref.save_pretrained(folder)
    (folder / "vocab.txt").write_text("\n".join(ESM_VOCAB) + "\n")
    if dplm:  # and, like the hub's ESM-2 folders, no eos_token_id: the eos comes from the special tokens
        config = json.loads((folder / "config.json").read_text())
        config["dplm_type"] = "dplm"
        del config["eos_token_id"]
        (folder / "config.json").write_text(json.dumps(config))
        (folder / "special_tokens_map.json").write_text(json.dumps({"eos_token": "<eos>", "mask_token": "<mask>"}))
    return folder, ref


BUILDERS = {"llada": make_llada, "dream": make_dream, "esm": make_esm, "dplm": lambda f: make_esm(f, dplm=True)}
