"""Shared REST plumbing: every error is a JSON object {"error": {"code", "message", "fields"?}}."""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from dedwen import strictjson

logger = logging.getLogger("dedwen.api")


class StrictJSONParser(JSONParser):
    """Parse request bodies as strict JSON (no NaN, bounded nesting, no lone surrogates): 400 otherwise."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", "utf-8")
        try:
            return strictjson.loads(stream.read().decode(encoding))
        except UnicodeDecodeError:
            raise exceptions.ParseError("The request body is not valid UTF-8.") from None
        except strictjson.StrictJSONError as exc:
            raise exceptions.ParseError(f"The request body is not strict JSON: {exc}.") from None


class ServiceUnavailable(exceptions.APIException):
    """A backend the request needs (database, Redis) is unavailable."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A backend service is unavailable; try again shortly."
    default_code = "unavailable"


class PayloadTooLarge(exceptions.APIException):
    """The request body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


def _message(detail) -> str:
    if isinstance(detail, list) and detail:
        return _message(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        return f"{key}: {_message(value)}"
    return str(detail)


def exception_handler(exc, context):
    """Shape DRF's errors as {"error": {...}}; a lost database is 503, an oversized body 413."""
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    if isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("database unavailable: %s", type(exc).__name__)
        exc = ServiceUnavailable()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    if isinstance(detail, dict) and {"detail", "code"} <= set(detail):
        # SimpleJWT's shape: {"detail": message, "code": code[, "messages": [...]]}.
        error = {"code": str(detail["code"]), "message": str(detail["detail"])}
    else:
        error = {"code": codes if isinstance(codes, str) else "invalid", "message": _message(detail)}
        if isinstance(detail, dict):
            error["fields"] = detail
    response.data = {"error": error}
    if isinstance(exc, ServiceUnavailable):
        response["Retry-After"] = "5"
    return response


def error_response(code: str, message: str, http_status: int, **headers: str) -> Response:
    """Return a JSON error answer in the project's shape."""
    response = Response({"error": {"code": code, "message": message}}, status=http_status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response
