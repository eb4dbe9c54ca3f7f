"""Loading ESM-2 weights in every form users have them, under torch's ``weights_only=True`` default.

* a fair-esm name (``esm2_t6_8M_UR50D`` ...): read from the torch hub cache
  (``~/.cache/torch/hub/checkpoints/<name>.pt``); downloaded only when ``download=True``;
* a local fair-esm checkpoint (``*.pt``): ``{"model": state_dict, "cfg": {"model": Namespace(...)}}`` (ESM-2)
  or ``{"model": ..., "args": Namespace(...)}``; read with ``torch.load(weights_only=True)`` with
  ``argparse.Namespace`` allow-listed (fair-esm's own loader calls ``torch.load`` without ``weights_only``,
  which fails on PyTorch >= 2.6 for these files). The contact-regression file is not needed;
* a Hugging Face ``EsmForMaskedLM`` folder or cached id (scoring only), via transformers;
* a seqdiff model folder (``config.json`` + ``model.safetensors``), e.g. the bundled scorer.

``load_esm2`` returns fair-esm's ``ESM2`` module (for scoring); ``esm2_as_denoiser`` returns our
``Denoiser`` (for design: any ESM-2 is a zero-shot masked-diffusion model).
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

ESM2_NAME = re.compile(r"^esm2_t(\d+)_(\d+[MB])_UR50D$")
ESM_URL = "https://dl.fbaipublicfiles.com/fair-esm/models/{name}.pt"


class ESMLoadError(ValueError):
    """A model name or file that cannot be loaded; the message names it and says what would work."""


@dataclass
class ESM2Weights:
    """What we need from any ESM-2 source: its shape and a fair-esm-keyed state dict."""

    name: str
    num_layers: int
    embed_dim: int
    attention_heads: int
    token_dropout: bool
    state: dict  # fair-esm ESM2 keys (no encoder. prefixes)


def hub_checkpoint(name: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / f"{name}.pt"


def is_esm_name(value: str) -> bool:
    return bool(ESM2_NAME.match(value))


def _strip(state: dict) -> dict:
    pattern = re.compile(r"^(encoder\.sentence_encoder\.|encoder\.)")
    return {pattern.sub("", k): v for k, v in state.items()}


def read_fair_esm_checkpoint(path: str | Path, name: str | None = None) -> ESM2Weights:
    """Read a fair-esm ESM-2 ``.pt`` safely (``weights_only=True``, only ``argparse.Namespace`` allowed)."""
    path = Path(path)
    if not path.is_file():
        raise ESMLoadError(f"ESM checkpoint {str(path)!r} does not exist; give a fair-esm .pt file such as "
                           f"~/.cache/torch/hub/checkpoints/esm2_t6_8M_UR50D.pt")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ESMLoadError(f"cannot read ESM checkpoint {str(path)!r} with weights_only=True: {first}. "
                           f"give a fair-esm ESM-2 file, e.g. esm2_t6_8M_UR50D.pt") from None
    if not isinstance(data, dict) or "model" not in data or not isinstance(data["model"], dict):
        raise ESMLoadError(f"{str(path)!r} is not a fair-esm checkpoint (no 'model' state dict); e.g. "
                           f"esm2_t6_8M_UR50D.pt")
    cfg = None
    if isinstance(data.get("cfg"), dict) and data["cfg"].get("model") is not None:
        cfg = data["cfg"]["model"]
    elif data.get("args") is not None:
        cfg = data["args"]
    get = (lambda k, d=None: cfg.get(k, d)) if isinstance(cfg, dict) else (lambda k, d=None: getattr(cfg, k, d))
    state = _strip(data["model"])
    if "embed_tokens.weight" not in state or not any(k.startswith("layers.") for k in state):
        raise ESMLoadError(f"{str(path)!r} does not hold ESM-2 weights (no embed_tokens/layers); ESM-1 and other "
                           f"architectures are not supported; e.g. esm2_t6_8M_UR50D.pt")
    if "layers.0.self_attn.rot_emb.inv_freq" not in state and cfg is not None and get("arch") not in (None, "ESM-2"):
        raise ESMLoadError(f"{str(path)!r} is not an ESM-2 checkpoint (no rotary embeddings; arch="
                           f"{get('arch')!r}); e.g. esm2_t6_8M_UR50D.pt")
    num_layers = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("layers."))
    embed_dim = state["embed_tokens.weight"].shape[1]
    heads = get("encoder_attention_heads") if cfg is not None else None
    if heads is None:
        heads = _heads_from_name(name or path.stem) or max(1, embed_dim // 64)
    return ESM2Weights(name=name or path.stem, num_layers=int(get("encoder_layers", num_layers) or num_layers),
                       embed_dim=int(embed_dim), attention_heads=int(heads),
                       token_dropout=bool(get("token_dropout", True) if cfg is not None else True), state=state)


def _heads_from_name(name: str) -> int | None:
    known = {"esm2_t6_8M_UR50D": 20, "esm2_t12_35M_UR50D": 20, "esm2_t30_150M_UR50D": 20,
             "esm2_t33_650M_UR50D": 20, "esm2_t36_3B_UR50D": 40, "esm2_t48_15B_UR50D": 40}
    return known.get(name)


def read_hub(name: str, download: bool = False) -> ESM2Weights:
    path = hub_checkpoint(name)
    if not path.is_file():
        if not download:
            raise ESMLoadError(f"ESM model {name!r} is not in the torch hub cache ({path}); pass --esm-download to "
                               f"fetch it from dl.fbaipublicfiles.com, give a local .pt path, or use "
                               f"--esm-model bundled (the bundled ESM-2-architecture scorer) or none")
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(ESM_URL.format(name=name), str(path), progress=True)
    return read_fair_esm_checkpoint(path, name=name)


def weights_from_seqdiff_folder(path: str | Path, name: str | None = None) -> ESM2Weights:
    """A seqdiff model folder whose Denoiser has ESM-2's exact shape, as fair-esm ESM2 weights."""
    from seqdiff.checkpoint import from_pretrained
    from seqdiff.model import esm2_config, to_esm2_state_dict

    try:
        pre = from_pretrained(path)
    except (FileNotFoundError, ValueError, TypeError, KeyError, OSError) as err:
        raise ESMLoadError(str(err)) from None
    cfg = pre.model.config
    expected = esm2_config(cfg.n_layers, cfg.d_model, cfg.n_heads, token_dropout=cfg.token_dropout)
    shape = lambda c: (c.vocab_size, c.pad_id, c.mask_id, c.d_model, c.n_layers, c.n_heads, c.ffn,  # noqa: E731
                       c.layer_norm_eps, c.rope_base)
    if shape(cfg) != shape(expected):
        raise ESMLoadError(f"model folder {str(path)!r} does not have ESM-2's exact architecture ({cfg}); "
                           f"only ESM-2-shaped folders (vocabulary 33, ffn 4*d) can run as fair-esm ESM2, e.g. --esm-model bundled")
    state = to_esm2_state_dict({k: v.float() for k, v in pre.model.state_dict().items()})
    return ESM2Weights(name=name or Path(path).name, num_layers=cfg.n_layers, embed_dim=cfg.d_model,
                       attention_heads=cfg.n_heads, token_dropout=cfg.token_dropout, state=state)


def build_fair_esm(weights: ESM2Weights) -> torch.nn.Module:
    """fair-esm's ``ESM2`` with ``weights`` loaded (contact head and rotary buffers may be absent)."""
    import esm
    from esm.model.esm2 import ESM2

    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    model = ESM2(num_layers=weights.num_layers, embed_dim=weights.embed_dim,
                 attention_heads=weights.attention_heads, alphabet=alphabet, token_dropout=weights.token_dropout)
    missing, unexpected = model.load_state_dict(weights.state, strict=False)
    missing = [k for k in missing if not (k.startswith("contact_head.") or k.endswith("rot_emb.inv_freq"))]
    unexpected = [k for k in unexpected if not k.startswith("contact_head.")]
    if missing or unexpected:
        raise ESMLoadError(f"weights {weights.name!r} do not fit fair-esm ESM2(num_layers={weights.num_layers}, "
                           f"embed_dim={weights.embed_dim}): missing {missing[:3]}, unexpected {unexpected[:3]}")
    return model.eval()


def esm2_as_denoiser(weights: ESM2Weights):
    """Our ``Denoiser`` with ESM-2 weights (a zero-shot masked-diffusion model)."""
    from seqdiff.model import Denoiser, esm2_config, from_esm2_state_dict

    cfg = esm2_config(weights.num_layers, weights.embed_dim, weights.attention_heads,
                      token_dropout=weights.token_dropout)
    model = Denoiser(cfg)
    try:
        model.load_state_dict(from_esm2_state_dict(weights.state), strict=True)
    except RuntimeError as err:
        raise ESMLoadError(f"ESM-2 weights {weights.name!r} do not convert into a Denoiser: "
                           f"{str(err).splitlines()[0]}") from None
    return model.eval()


def _config_field(path: Path, key: str):
    """``key`` of the folder's config.json; None when the file is missing, not JSON or not an object."""
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return None
    return config.get(key) if isinstance(config, dict) else None


def is_seqdiff_folder(path: Path) -> bool:
    return _config_field(path, "format") == "seqdiff-model"


def is_hf_esm(path: Path) -> bool:
    return _config_field(path, "model_type") == "esm"


def read_esm2_weights(value: str, download: bool = False) -> ESM2Weights:
    """A fair-esm name or ``.pt`` path (or an ESM-2-shaped seqdiff folder) as ``ESM2Weights``."""
    path = Path(value).expanduser()
    if path.is_dir() and is_seqdiff_folder(path):
        return weights_from_seqdiff_folder(path)
    if value.endswith(".pt") or path.is_file():
        return read_fair_esm_checkpoint(path)
    if is_esm_name(value):
        return read_hub(value, download=download)
    raise ESMLoadError(f"cannot load ESM model {value!r}: give a fair-esm ESM-2 name (e.g. esm2_t6_8M_UR50D), a "
                       f"fair-esm .pt file, a Hugging Face EsmForMaskedLM folder or a seqdiff model folder")
