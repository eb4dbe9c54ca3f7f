"""seqdiff: masked (absorbing-state) diffusion language models for sequence design."""

__version__ = "0.1.0"
