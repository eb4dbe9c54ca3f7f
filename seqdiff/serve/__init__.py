"""``seqdiff serve``: a small HTTP host for what the installed domains contribute (``Domain.serve``).

The core keeps the host only: ``app`` (app factory, lifespan, readiness, API key, error envelopes),
``body`` (size limits, JSON), ``batching`` (a generic request batcher), ``server`` (the uvicorn runner),
``command`` (the CLI). The protocols are the domains' routes: the code domain serves llama.cpp ``/infill``
and OpenAI ``/v1/completions`` for editors, the protein domain ``POST /v1/protein/designs``.

Needs the ``serve`` extra (starlette + uvicorn) except for ``contribution``, which domains import to
declare what they serve."""

from seqdiff.serve.contribution import ServeContribution, ServeOptions, positive_int
from seqdiff.serve.errors import HttpError

__all__ = ["HttpError", "ServeContribution", "ServeOptions", "positive_int"]
