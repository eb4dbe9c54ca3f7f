"""``seqdiff serve``: an infill server speaking llama.cpp's ``/infill`` and OpenAI's ``/v1/completions``,
so editor plugins (llama.vim, llama.vscode, Continue, minuet, Tabby) work by changing a URL.

Needs the ``serve`` extra (starlette/fastapi + uvicorn). Modules: ``app`` (ASGI app factory), ``llama`` and
``openai`` (the two protocols), ``fim`` (FIM sentinels), ``batching`` (request batcher), ``backend`` (the
``InfillBackend`` protocol, a fake, and the code-domain adapter)."""

from seqdiff.serve.backend import (CodeInfillerBackend, Completion, EchoBackend, ExtraChunk, InfillBackend,
                                   InfillRequest, StopSignal)
from seqdiff.serve.common import ServeConfig


def create_app(backend, config=None):
    from seqdiff.serve.app import create_app as _create

    return _create(backend, config)


__all__ = ["CodeInfillerBackend", "Completion", "EchoBackend", "ExtraChunk", "InfillBackend", "InfillRequest",
           "ServeConfig", "StopSignal", "create_app"]
