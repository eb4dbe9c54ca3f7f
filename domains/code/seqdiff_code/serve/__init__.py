"""The code domain's editor protocols for ``seqdiff serve``: llama.cpp ``/infill`` + ``/completion``
(llama.vim, llama.vscode) and OpenAI ``/v1/completions`` (Continue, minuet, Tabby), so editor plugins work
by changing a URL. Modules: ``llama`` and ``openai`` (the protocols), ``fim`` (FIM sentinels), ``common``
(limits and field checks), ``backend`` (the ``InfillBackend`` protocol, a fake, the ``CodeInfiller``
adapter), ``routes`` (the handlers and the ``ServeContribution``)."""

from seqdiff_code.serve.backend import (CodeInfillerBackend, Completion, EchoBackend, ExtraChunk, InfillBackend,
                                        InfillRequest, StopSignal)
from seqdiff_code.serve.common import ServeConfig


def create_app(backend, config: ServeConfig | None = None, host=None):
    """A host app serving only the code routes over ``backend`` (or a zero-argument factory);
    ``host``: a ``seqdiff.serve.app.HostConfig``."""
    from seqdiff.serve.app import create_app as create_host
    from seqdiff_code.serve.routes import contribution

    return create_host([contribution(backend, config)], host)


__all__ = ["CodeInfillerBackend", "Completion", "EchoBackend", "ExtraChunk", "InfillBackend", "InfillRequest",
           "ServeConfig", "StopSignal", "create_app"]
