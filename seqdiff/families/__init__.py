"""Pretrained families in their own on-disk layouts, one module per layout: ``esm`` (ESM-2, DPLM), ``llada``
(LLaDA) and ``dream`` (Dream, Dream-Coder, DiffuCoder, DreamOn). Each maps its config.json onto
``DenoiserConfig`` and its state-dict keys onto the Denoiser's; ``hf.load_hf_folder`` does the loading."""

from seqdiff.families import dream, esm, llada

FAMILIES = {module.MODEL_TYPE: module for module in (esm, llada, dream)}
DESCRIPTIONS = {"esm": "ESM-2 and DPLM (EsmForMaskedLM layout)", "llada": "LLaDA-8B, LLaDA-1.5",
                "Dream": "Dream-7B, Dream-Coder-7B, DiffuCoder-7B, DreamOn"}


def supported() -> str:
    """The supported ``model_type`` values with what they cover, for error messages."""
    return "; ".join(f"{name!r} ({DESCRIPTIONS[name]})" for name in FAMILIES)
