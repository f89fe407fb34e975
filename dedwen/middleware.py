"""Project-wide HTTP middleware."""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

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
            return unavailable_response()
        return None


def unavailable_response() -> JsonResponse:
    """Return the 503 answer for a request whose backend is down."""
    response = JsonResponse(
        {"error": {"code": "unavailable", "message": "A backend service is unavailable; try again shortly."}},
        status=503,
    )
    response["Retry-After"] = "5"
    return response

