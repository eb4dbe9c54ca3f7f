"""Load a Hugging Face folder of a supported family as a ``Pretrained``: config.json mapped onto the
Denoiser's config, safetensors (single file or sharded) streamed into the requested dtype and device, the
folder's own tokenizer and chat template. Nothing in the folder is executed and pickles are never read."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from seqdiff.checkpoint import Pretrained, load_weights
from seqdiff.families import FAMILIES, supported
from seqdiff.families.chat import load_chat_template
from seqdiff.io import MAX_TOKENIZER_BYTES, check_file_size, read_json_object
from seqdiff.noise import NoiseConfig
from seqdiff.tokenizer import HFTokenizer

INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"


class UnsupportedModelError(ValueError):
    """config.json names a model_type no family module maps."""


def is_hf_folder(config: dict) -> bool:
    return "model_type" in config and "format" not in config


def weight_files(directory: Path) -> list[Path]:
    """The folder's safetensors files: the shards named by the index, else model.safetensors."""
    index = directory / INDEX_FILE
    index_data = read_json_object(index)
    if index_data is not None:
        try:
            names = sorted(set(index_data["weight_map"].values()))
        except (KeyError, AttributeError, TypeError) as err:
            raise ValueError(f"{index} is malformed ({err!r}): it needs a 'weight_map' of tensor -> file") from None
        bad = [n for n in names if not isinstance(n, str) or Path(n).name != n or not n.endswith(".safetensors")]
        if bad:
            raise ValueError(f"{index} names shard files {bad!r}: shards must be .safetensors files in the folder")
        missing = [n for n in names if not (directory / n).is_file()]
        if missing:
            raise FileNotFoundError(f"{index} lists shards that are missing: {', '.join(missing)}")
        return [directory / n for n in names]
    if (directory / SINGLE_FILE).is_file():
        return [directory / SINGLE_FILE]
    pickles = sorted(p.name for p in directory.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
    note = f" ({', '.join(pickles)} are pickles, which seqdiff never reads)" if pickles else ""
    raise FileNotFoundError(f"{directory} has no {SINGLE_FILE} or {INDEX_FILE}{note}; save the model with "
                            f"safetensors (save_pretrained(..., safe_serialization=True))")


def _required(config_path: Path, hf: dict, model_type: str):
    def get(name: str):
        value = hf.get(name)
        if value is None:
            raise ValueError(f"{config_path} has no {name!r}, which a {model_type!r} model needs")
        return value
    return get


def _special_tokens(directory: Path) -> dict:
    """Special-token strings from tokenizer_config.json, else special_tokens_map.json."""
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        data = read_json_object(directory / name)
        if data is not None:
            found = {k: (v.get("content") if isinstance(v, dict) else v) for k, v in data.items()
                     if k.endswith("_token")}
            if found:
                return found
    return {}


def _special_ids(directory: Path, hf: dict, token_to_id: Callable[[str], int | None]) -> dict:
    """pad/mask/eos ids from config.json, else from the tokenizer's special tokens; an eos list in
    config.json gives its first entry (generation stops at any special token anyway)."""
    tokens = _special_tokens(directory)
    out = dict(hf)
    eos = hf.get("eos_token_id")
    out["eos_token_id"] = eos[0] if isinstance(eos, list) and eos else eos
    for name in ("pad", "mask", "eos"):
        if out.get(f"{name}_token_id") is None:
            token = tokens.get(f"{name}_token")
            out[f"{name}_token_id"] = token_to_id(token) if isinstance(token, str) else None
    return out


def _tokenizer(directory: Path, family, hf: dict):
    """(config.json with special ids resolved, tokenizer factory taking the model config)."""
    if family.MODEL_TYPE == "esm":
        vocab = family.read_vocab(directory)
        hf = _special_ids(directory, hf, lambda t: vocab.index(t) if t in vocab else None)
        return hf, lambda cfg: family.make_tokenizer(vocab, cfg, hf)
    path = directory / "tokenizer.json"
    check_file_size(path, MAX_TOKENIZER_BYTES)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: a {family.MODEL_TYPE!r} folder needs its tokenizer.json")
    from tokenizers import Tokenizer as RustTokenizer

    try:
        raw = RustTokenizer.from_file(str(path))
    except Exception as err:  # tokenizers raises its own exception type for unreadable files
        raise ValueError(f"{path} is not a readable tokenizers file ({err})") from None
    hf = _special_ids(directory, hf, raw.token_to_id)

    def make(cfg):
        if hf["eos_token_id"] is None:
            raise ValueError(f"{directory} names no eos token: set eos_token_id in config.json or eos_token in "
                             f"tokenizer_config.json")
        return HFTokenizer(raw, vocab_size=cfg.vocab_size, pad_id=cfg.pad_id, mask_id=cfg.mask_id,
                           eos_id=hf["eos_token_id"])
    return hf, make


def load_hf_folder(directory: Path, hf: dict, device: str | torch.device = "cpu",
                   dtype: torch.dtype = torch.float32) -> Pretrained:
    config_path = directory / "config.json"
    model_type = hf.get("model_type")
    family = FAMILIES.get(model_type)
    if family is None:
        raise UnsupportedModelError(f"{config_path}: model_type={model_type!r} is not supported; supported "
                                    f"model types: {supported()}")
    hf, make_tokenizer = _tokenizer(directory, family, hf)
    try:
        config = family.to_config(hf, _required(config_path, hf, model_type))
    except TypeError as err:
        raise ValueError(f"{config_path} has a field of the wrong type ({err})") from None
    files = weight_files(directory)
    tokenizer = make_tokenizer(config)

    def rename(key: str) -> str | None:
        name = family.KEYS.to_ours(family.their_key(key))
        return None if (name == "lm_head.weight" and config.tie_embeddings) else name

    model = load_weights(config, files, rename, device=device, dtype=dtype)
    meta = {"family": model_type, **({"dplm_type": hf["dplm_type"]} if "dplm_type" in hf else {})}
    return Pretrained(model=model, tokenizer=tokenizer, domain=family.DOMAIN, noise=NoiseConfig(), meta=meta,
                      path=directory, chat=load_chat_template(directory))
