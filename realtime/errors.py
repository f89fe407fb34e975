"""One shape for every error a client reads, over REST and in `error` frames alike.

A refusal is an exception that carries its code, message and HTTP status (`JsonableError`, after
Zulip's): REST answers it as `{"error": {"code", "message"}}` with its status, a socket as an
`error` frame with the same code and message. `error_body` is the one place that shape is built.
"""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse
from rest_framework.exceptions import ValidationError

from realtime.protocol import ErrorCode


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """Return the JSON object of an error: {"error": {"code", "message", ...extra}}."""
    return {"error": {"code": str(code), "message": message, **extra}}


def json_error(code: str, message: str, http_status: int, **headers: str) -> JsonResponse:
    """Return a Django JSON answer holding an error (for answers made outside DRF)."""
    response = JsonResponse(error_body(code, message), status=http_status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


class JsonableError(Exception):
    """A refusal a client can read: its code, message and HTTP status travel with it.

    Subclasses fix what they always say; `field` names the input at fault (REST adds it as `fields`).
    """

    code: str = ErrorCode.INVALID
    status: int = 400
    message: str = "The input is not valid."
    retry_after: int | None = None  # seconds a client should wait before trying again (REST: Retry-After)

    def __init__(
        self, message: str | None = None, *, code: str | None = None, status: int | None = None, field: str | None = None
    ) -> None:
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.field = field
        super().__init__(self.described)

    @property
    def described(self) -> str:
        """Return the message, prefixed by the field at fault when there is one."""
        return f"{self.field}: {self.message}" if self.field else self.message


class NotFound(JsonableError):
    """Something the client named does not exist among what it may see (never revealed as forbidden)."""

    code = ErrorCode.NOT_FOUND
    status = 404
    message = "Not found."


class BackendUnavailable(JsonableError):
    """A backend the request needs (the database, Redis) is unavailable; nothing was stored."""

    code = ErrorCode.UNAVAILABLE
    status = 503
    message = "A backend service is unavailable; try again shortly."
    retry_after = 5


def json_refusal(exc: JsonableError) -> JsonResponse:
    """Return a Django JSON answer for a refusal (for answers made outside DRF)."""
    headers = {"Retry_After": str(exc.retry_after)} if exc.retry_after is not None else {}
    return json_error(exc.code, exc.described, exc.status, **headers)


class Conflict(JsonableError):
    """The request contradicts what is stored."""

    code = ErrorCode.CONFLICT
    status = 409


def first_problem(detail: Any) -> str:
    """Return the first problem of DRF error detail as one line: `field: message`."""
    if isinstance(detail, list) and detail:
        return first_problem(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        return f"{key}: {first_problem(value)}"
    return str(detail)


def as_error_data(exc: JsonableError | ValidationError) -> dict[str, str]:
    """Return what an `error` frame says of a refusal: its code and one-line message."""
    if isinstance(exc, JsonableError):
        return {"code": str(exc.code), "message": exc.described}
    return {"code": ErrorCode.INVALID.value, "message": first_problem(exc.detail)}
