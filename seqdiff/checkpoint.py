"""Exported model folders: ``config.json`` + ``model.safetensors`` + tokenizer file(s) + ``README.md``.

That folder is what inference loads; Lightning ``.ckpt`` files are only for resuming training. Weights
are read with safetensors, so loading a model never unpickles anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from seqdiff.io import atomic_write_bytes, atomic_write_text
from seqdiff.model import Denoiser, DenoiserConfig
from seqdiff.noise import NoiseConfig
from seqdiff.tokenizer import TOKENIZER_FILE, CharTokenizer, Tokenizer

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
FORMAT = "seqdiff-model"


@dataclass
class Pretrained:
    """A loaded model folder."""

    model: Denoiser
    tokenizer: Tokenizer
    domain: str | None
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    meta: dict = field(default_factory=dict)  # training facts for the model card (steps, data, metrics)
    path: Path | None = None


def save_pretrained(pretrained: Pretrained, directory: str | Path, dtype: torch.dtype | None = None,
                    card: str | None = None) -> Path:
    """Write the folder; ``dtype`` (e.g. ``torch.bfloat16``) shrinks the stored weights."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", dtype=dtype or v.dtype).contiguous()
             for k, v in pretrained.model.state_dict().items()}
    tmp = directory / f".{WEIGHTS_FILE}.tmp"
    save_file(state, str(tmp), metadata={"format": "pt"})
    tmp.replace(directory / WEIGHTS_FILE)
    pretrained.tokenizer.save(directory)
    config = {"format": FORMAT, "version": 1, "domain": pretrained.domain,
              "model": pretrained.model.config.to_dict(),
              "noise": {"schedule": pretrained.noise.schedule, "eps": pretrained.noise.eps},
              "meta": pretrained.meta}
    atomic_write_text(directory / CONFIG_FILE, json.dumps(config, indent=1, sort_keys=True))
    atomic_write_text(directory / CARD_FILE, card or model_card(pretrained))
    return directory


def model_card(pretrained: Pretrained) -> str:
    cfg = pretrained.model.config
    lines = [f"# seqdiff model ({pretrained.domain or 'no domain'})", "",
             f"Masked-diffusion denoiser: {cfg.n_layers} layers, d_model {cfg.d_model}, {cfg.n_heads} heads, "
             f"{pretrained.model.num_parameters():,} parameters, vocabulary {cfg.vocab_size}.", ""]
    for key, value in sorted(pretrained.meta.items()):
        lines.append(f"- **{key}**: {value}")
    return "\n".join(lines) + "\n"


def load_tokenizer(directory: Path, domain: str | None) -> Tokenizer:
    path = directory / TOKENIZER_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: a model folder needs its tokenizer file")
    data = json.loads(path.read_text())
    if data.get("type") == "char":
        return CharTokenizer.from_dict(data)
    if domain is None:
        raise ValueError(f"{path} is not a char tokenizer and config.json names no domain to load it")
    from seqdiff.plugins import load_domain

    return load_domain(domain).load_tokenizer(directory)


def from_pretrained(path: str | Path, device: str | torch.device = "cpu",
                    dtype: torch.dtype = torch.float32) -> Pretrained:
    """Load a model folder written by ``save_pretrained``; errors say which file is wrong and why."""
    directory = Path(path)
    if not directory.is_dir():
        raise FileNotFoundError(f"model folder {str(path)!r} does not exist (expected a folder with "
                                f"{CONFIG_FILE} and {WEIGHTS_FILE}, as written by `seqdiff train` or save_pretrained)")
    config_path = directory / CONFIG_FILE
    try:
        config = json.loads(config_path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{config_path} is missing: {directory} is not a seqdiff model folder") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{config_path} is not valid JSON ({err})") from None
    if config.get("format") != FORMAT:
        raise ValueError(f"{config_path} is not a seqdiff model config (format={config.get('format')!r})")
    try:
        model_config = DenoiserConfig.from_dict(config["model"])
        noise = NoiseConfig(**config.get("noise", {}))
    except (KeyError, TypeError) as err:
        raise ValueError(f"{config_path} is malformed ({err!r}); re-export the model with save_pretrained") from None
    model = Denoiser(model_config)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} is missing")
    try:
        state = load_file(str(weights))
    except Exception as err:  # safetensors raises its own error types for truncated or foreign files
        raise ValueError(f"{weights} is not a readable safetensors file ({err})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{weights} does not match {config_path}: {str(err).splitlines()[0]}") from None
    model.to(device=device, dtype=dtype).eval()
    return Pretrained(model=model, tokenizer=load_tokenizer(directory, config.get("domain")),
                      domain=config.get("domain"), noise=noise, meta=config.get("meta", {}), path=directory)
