"""Error responses: ``HttpError`` raised anywhere in a handler becomes a JSON error envelope chosen by the
request path (a contribution's ``error_bodies``, else the llama.cpp-style default below)."""

from __future__ import annotations

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 405: "invalid_request_error", 406: "invalid_request_error",
               413: "invalid_request_error", 500: "server_error", 501: "not_supported_error",
               503: "unavailable_error"}


class HttpError(Exception):
    """A refusal with its status; ``param`` names the offending request field when there is one."""

    def __init__(self, message: str, param: str | None = None, status: int = 400):
        super().__init__(message)
        self.message = message
        self.param = param
        self.status = status


def default_error_body(status: int, message: str, param: str | None = None) -> dict:
    """``{"error": {"code", "message", "type"}}``: llama.cpp's envelope, used where no contribution
    claims the path."""
    return {"error": {"code": status, "message": message, "type": ERROR_TYPES.get(status, "invalid_request_error")}}

