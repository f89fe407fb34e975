"""HTTP middleware: every error answer is JSON, and a lost database is a 503."""

from __future__ import annotations

import codecs
import logging
from http import HTTPStatus

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

from realtime.errors import BackendUnavailable, json_error, json_refusal

logger = logging.getLogger("dedwen.http")


class ServiceUnavailableMiddleware:
    """Answer 503 with a JSON body when the database cannot be reached."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, (OperationalError, InterfaceError)):
            logger.warning("database unavailable for %s %s: %s", request.method, request.path, type(exception).__name__)
            return json_refusal(BackendUnavailable())
        return None


STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
    500: "server_error",
    503: "unavailable",
}


def status_error(http_status: int) -> JsonResponse:
    """Return the JSON error for a bare status (a Django page or an empty answer on an /api/ path)."""
    try:
        message = HTTPStatus(http_status).phrase
    except ValueError:
        message = "Error"
    return json_error(STATUS_CODES.get(http_status, "error"), f"{message}.", http_status)


class JSONErrorMiddleware:
    """Make every error answer on /api/ JSON, and refuse a body in a charset that is not a text encoding.

    It is the outermost middleware, so it sees what Django made of every failure below it: handler
    pages (404, 500), debug pages, and the empty 405 of a plain view. Django's refusals of a request
    (too many fields, a bad Host: handler400) are JSON on every path (realtime.rest.bad_request).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not _is_text_charset(request.content_params.get("charset")):
            # Django takes any codec Python knows as the request's encoding: `rot13` or `zlib` would
            # raise LookupError (a 500) wherever the body or the query string is decoded.
            return json_error("unsupported_charset", "The request's charset is not a text encoding.", 415)
        response = self.get_response(request)
        if response.status_code >= 400 and request.path_info.startswith("/api/") and not _is_json(response):
            json_response = status_error(response.status_code)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    json_response[header] = response[header]
            return json_response
        return response


def _is_text_charset(charset: str | None) -> bool:
    if charset is None:
        return True
    try:
        return codecs.lookup(charset)._is_text_encoding
    except LookupError:
        return True  # unknown: Django ignores it and reads the body as UTF-8


def _is_json(response) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip() == "application/json"
