"""Exported model folders: ``config.json`` + ``model.safetensors`` + tokenizer file(s) + ``README.md``.

That folder is what inference loads; Lightning ``.ckpt`` files are only for resuming training. Weights
are read with safetensors, so loading a model never unpickles anything. ``from_pretrained`` also loads
Hugging Face folders of the supported families (``seqdiff.families``), recognised by ``model_type``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from seqdiff.families.chat import ChatTemplate
from seqdiff.io import MAX_TOKENIZER_BYTES, atomic_write_text, read_json_object
from seqdiff.model import Denoiser, DenoiserConfig
from seqdiff.noise import NoiseConfig
from seqdiff.precision import resolve_dtype
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
    chat: ChatTemplate | None = None  # the folder's chat template (Hugging Face folders that have one)


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
    data = read_json_object(path, MAX_TOKENIZER_BYTES)
    if data is None:
        raise FileNotFoundError(f"{path} is missing: a model folder needs its tokenizer file")
    if data.get("type") == "char":
        try:
            return CharTokenizer.from_dict(data)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None
    if domain is None:
        raise ValueError(f"{path} is not a char tokenizer and config.json names no domain to load it")
    from seqdiff.plugins import load_domain

    return load_domain(domain).load_tokenizer(directory)


def load_weights(config: DenoiserConfig, files: list[Path], rename: Callable[[str], str | None] = lambda k: k,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> Denoiser:
    """Build the model on the meta device and fill it from safetensors ``files``, one tensor at a time
    converted straight to ``dtype`` on ``device``: peak memory is the model plus one tensor (an 8B model in
    bf16 loads in about 16 GB). ``rename`` maps a file's key to the Denoiser's (None: skip it)."""
    with torch.device("meta"):
        model = Denoiser(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    seen: set[str] = set()
    for path in files:
        try:
            handle = safe_open(str(path), framework="pt", device="cpu")
        except Exception as err:  # safetensors raises its own error types for truncated or foreign files
            raise ValueError(f"{path} is not a readable safetensors file ({err})") from None
        with handle:
            for key in handle.keys():
                try:
                    name = rename(key)
                except KeyError:
                    raise ValueError(f"{path} does not match the model: tensor {key!r} is not part of its "
                                     f"layout") from None
                if name is None:
                    continue
                if name not in expected:
                    raise ValueError(f"{path} does not match the config: unexpected tensor {key!r}")
                tensor = handle.get_tensor(key)
                if tuple(tensor.shape) != expected[name]:
                    raise ValueError(f"{path} does not match the config: {key!r} has shape {tuple(tensor.shape)}, "
                                     f"the config gives {expected[name]}")
                target = dtype if tensor.is_floating_point() else tensor.dtype
                model.load_state_dict({name: tensor.to(device=device, dtype=target)}, strict=False, assign=True)
                seen.add(name)
    missing = sorted(set(expected) - seen)
    if missing:
        raise ValueError(f"{files[0].parent} does not match the config: {len(missing)} tensors are missing "
                         f"({', '.join(missing[:4])}{', ...' if len(missing) > 4 else ''})")
    return model.eval()


def _read_config(directory: Path) -> dict:
    config_path = directory / CONFIG_FILE
    config = read_json_object(config_path)
    if config is None:
        raise FileNotFoundError(f"{config_path} is missing: {directory} is not a model folder")
    return config


def from_pretrained(path: str | Path, device: str | torch.device = "cpu",
                    dtype: torch.dtype | str = torch.float32) -> Pretrained:
    """Load a model folder: one written by ``save_pretrained``, or a Hugging Face folder of a supported
    family (LLaDA, Dream, ESM-2/DPLM). Errors say which file is wrong and why. ``dtype`` is a torch dtype
    or a ``--dtype`` choice; ``"auto"`` asks ``seqdiff.precision`` with the model's width."""
    directory = Path(path)
    if not directory.is_dir():
        raise FileNotFoundError(f"model folder {str(path)!r} does not exist (expected a folder with "
                                f"{CONFIG_FILE} and {WEIGHTS_FILE}, as written by `seqdiff train` or save_pretrained)")
    config = _read_config(directory)
    config_path = directory / CONFIG_FILE
    if config.get("format") != FORMAT:
        from seqdiff.families.hf import is_hf_folder, load_hf_folder

        if is_hf_folder(config):
            width = config.get("hidden_size")
            dtype = resolve_dtype(dtype, device, width if isinstance(width, int) else None)
            return load_hf_folder(directory, config, device=device, dtype=dtype)
        raise ValueError(f"{config_path} is not a seqdiff model config (format={config.get('format')!r}) nor a "
                         f"Hugging Face one (no model_type)")
    try:
        model_config = DenoiserConfig.from_dict(config["model"])
        noise = NoiseConfig(**config.get("noise", {}))
    except (KeyError, TypeError) as err:
        raise ValueError(f"{config_path} is malformed ({err!r}); re-export the model with save_pretrained") from None
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} is missing")
    dtype = resolve_dtype(dtype, device, model_config.d_model)
    model = load_weights(model_config, [weights], device=device, dtype=dtype)
    return Pretrained(model=model, tokenizer=load_tokenizer(directory, config.get("domain")),
                      domain=config.get("domain"), noise=noise, meta=config.get("meta", {}), path=directory)
