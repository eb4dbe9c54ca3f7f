"""seqdiff: masked (absorbing-state) diffusion language models for sequence design.

``seqdiff.from_pretrained(path)`` loads a seqdiff model folder or a Hugging Face folder of a supported
family; ``seqdiff.generate(pretrained, prompt, ...)`` decodes text with it. Both import torch on first use,
so ``import seqdiff`` (and the CLI's ``--version``) stays light."""

__version__ = "0.1.0"

_LAZY = {"from_pretrained": "seqdiff.checkpoint", "Pretrained": "seqdiff.checkpoint",
         "generate": "seqdiff.generation", "GenerateResult": "seqdiff.generation"}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'seqdiff' has no attribute {name!r}")
