"""Finding and loading the generator behind ``--model``: a seqdiff model folder (default: the bundled one),
or a fair-esm ESM-2 name / ``.pt`` checkpoint converted into a Denoiser."""

from __future__ import annotations

from pathlib import Path

from seqdiff_protein.alphabet import ESM_TOKENS
from seqdiff_protein.design_config import DesignInputError


def load_generator(path: str | Path | None, device: str = "cpu", download: bool = False,
                   dtype: str = "float32"):
    """(Denoiser, noise config, name, path-or-None) for ``--model``: a seqdiff folder (default: bundled), or a
    fair-esm ESM-2 name / ``.pt`` checkpoint converted into a Denoiser; weights in ``dtype`` (a ``--dtype``
    choice or a torch dtype, see ``seqdiff.precision``)."""
    from seqdiff.checkpoint import from_pretrained
    from seqdiff.noise import NoiseConfig
    from seqdiff.precision import resolve_dtype

    from seqdiff_protein.domain import BUNDLED_MODEL
    from seqdiff_protein.esm_io import (
        ESMLoadError, esm2_as_denoiser, is_hf_esm, is_seqdiff_folder, read_esm2_weights)

    if path is None:
        if not (BUNDLED_MODEL / "config.json").is_file():
            raise DesignInputError(f"the bundled protein model is not installed ({BUNDLED_MODEL}); pass --model with a "
                                   f"seqdiff model folder (seqdiff train ...) or an ESM-2 name such as esm2_t6_8M_UR50D")
        path = BUNDLED_MODEL
    value = str(path)
    p = Path(value).expanduser()
    if p.is_dir():
        if not (is_seqdiff_folder(p) or is_hf_esm(p)):  # Hugging Face ESM-2 / DPLM folders load in the core
            raise DesignInputError(f"--model {value!r} is not a seqdiff model folder (config.json with format "
                                   f"'seqdiff-model'); e.g. --model runs/protein-small/model or --model esm2_t6_8M_UR50D")
        try:
            pre = from_pretrained(p, device=device, dtype=dtype)
        except (FileNotFoundError, ValueError, TypeError, KeyError, OSError) as err:
            raise DesignInputError(f"bad checkpoint --model {value!r}: {err}; e.g. --model runs/protein-small/model, "
                                   f"or leave --model out for the bundled model") from None
        if tuple(getattr(pre.tokenizer, "tokens", ())) != ESM_TOKENS:
            raise DesignInputError(f"--model {value!r} is not a protein model (its tokenizer is not the ESM alphabet)")
        name = "bundled-" + p.name if p.resolve() == BUNDLED_MODEL.resolve() else p.name
        return pre.model, pre.noise, name, p
    try:
        weights = read_esm2_weights(value, download=download)
        model = esm2_as_denoiser(weights)
        model = model.to(device, resolve_dtype(dtype, device, model.config.d_model))
    except ESMLoadError as err:
        raise DesignInputError(f"bad checkpoint --model {value!r}: {err}; e.g. --model esm2_t6_8M_UR50D "
                               f"(cached) or leave --model out for the bundled model") from None
    return model, NoiseConfig(), f"esm2:{weights.name}", (p if p.is_file() else None)
