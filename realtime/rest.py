"""Shared REST plumbing: every error is a JSON object {"error": {"code", "message", "fields"?}}."""

from __future__ import annotations

import logging

from django.core.exceptions import (
    DisallowedHost,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, JsonResponse
from django.utils.http import parse_header_parameters
from rest_framework import exceptions
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from realtime import strictjson
from realtime.errors import (
    BackendUnavailable,
    JsonableError,
    error_body,
    first_problem,
    json_error,
)

logger = logging.getLogger("dedwen.api")


UTF8_NAMES = {"utf-8", "utf8"}


class StrictJSONParser(JSONParser):
    """Parse UTF-8 request bodies as strict JSON (no NaN, bounded nesting, no lone surrogates): 400 otherwise."""

    def parse(self, stream, media_type=None, parser_context=None):
        # JSON is UTF-8 (RFC 8259 §8.1): any other charset, known or bogus ("rot13"), is 415.
        charset = parse_header_parameters(media_type or "")[1].get("charset")
        if charset is not None and charset.lower() not in UTF8_NAMES:
            raise exceptions.UnsupportedMediaType(media_type, detail="JSON request bodies must be UTF-8.")
        try:
            return strictjson.loads(stream.read().decode("utf-8"))
        except UnicodeDecodeError:
            raise exceptions.ParseError("The request body is not valid UTF-8.") from None
        except strictjson.StrictJSONError as exc:
            raise exceptions.ParseError(f"The request body is not strict JSON: {exc}.") from None


class RefusedRequest(exceptions.APIException):
    """A request Django refuses (too many fields or files, a body over DATA_UPLOAD_MAX_MEMORY_SIZE, a bad Host)."""

    default_detail = "The request is malformed."
    default_code = "bad_request"

    def __init__(self, exc: SuspiciousOperation) -> None:
        self.status_code, code, message = client_error(exc)
        super().__init__(detail=message, code=code)


# Django's refusals of a request (SuspiciousOperation and its kin), most specific first.
CLIENT_ERRORS: list[tuple[type[Exception], int, str, str]] = [
    (RequestDataTooBig, 413, "too_large", "The request body is too large."),
    (TooManyFieldsSent, 400, "too_many_fields", "The request has too many query or form fields."),
    (TooManyFilesSent, 400, "too_many_files", "The request has too many files."),
    (DisallowedHost, 400, "bad_host", "The Host header is not one this server answers to."),
    (SuspiciousOperation, 400, "bad_request", "The request is malformed."),
]


def client_error(exc: Exception) -> tuple[int, str, str]:
    """Return the status, code and message of a request Django refused."""
    for kind, http_status, code, message in CLIENT_ERRORS:
        if isinstance(exc, kind):
            return http_status, code, message
    return 400, "bad_request", "The request is malformed."


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Answer a request Django refused (handler400) with JSON, on every path."""
    http_status, code, message = client_error(exception) if exception is not None else (400, "bad_request", "The request is malformed.")
    return json_error(code, message, http_status)


def exception_handler(exc, context):
    """Shape every error as {"error": {...}}: JsonableError with its status, DRF's own, a lost database 503."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("database unavailable: %s", type(exc).__name__)
        exc = BackendUnavailable()
    if isinstance(exc, JsonableError):
        fields = {"fields": {exc.field: [exc.message]}} if exc.field else {}
        response = Response(error_body(exc.code, exc.described, **fields), status=exc.status)
        if exc.retry_after is not None:
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, SuspiciousOperation):  # raised inside DRF: request.data, query_params, negotiation
        exc = RefusedRequest(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    if isinstance(detail, dict) and {"detail", "code"} <= set(detail):
        # SimpleJWT's shape: {"detail": message, "code": code[, "messages": [...]]}.
        response.data = error_body(str(detail["code"]), str(detail["detail"]))
    else:
        fields = {"fields": detail} if isinstance(detail, dict) else {}
        response.data = error_body(codes if isinstance(codes, str) else "invalid", first_problem(detail), **fields)
    return response


def error_response(code: str, message: str, http_status: int, **headers: str) -> Response:
    """Return a JSON error answer in the project's shape."""
    response = Response(error_body(code, message), status=http_status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response
