"""What a locked-out login gets: 429 with Retry-After (django-axes counts the failures)."""

from __future__ import annotations

from axes.helpers import get_cool_off
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

LOCKOUT_MESSAGE = "Too many failed logins. Try again later."


def retry_after_seconds(request: HttpRequest) -> int:
    """Return how long a locked-out client should wait, in whole seconds."""
    cool_off = get_cool_off(request)
    return int(cool_off.total_seconds()) if cool_off else 900


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """Answer a locked-out login: JSON for the API, the login page for the form."""
    if request.path.startswith("/api/"):
        response = JsonResponse({"error": {"code": "throttled", "message": LOCKOUT_MESSAGE}}, status=429)
    else:
        from accounts.forms import LoginForm

        form = LoginForm(request)
        response = render(request, "accounts/login.html", {"form": form, "throttled": LOCKOUT_MESSAGE}, status=429)
    response["Retry-After"] = str(retry_after_seconds(request))
    return response
