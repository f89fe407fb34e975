"""Login throttling on django-axes: failures 1..limit answer 401, every attempt after them 429 with Retry-After."""

from __future__ import annotations

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

LOCKOUT_MESSAGE = "Too many failed logins. Try again later."


class FailureCountingHandler(AxesDatabaseHandler):
    """Count a failed login without locking out on it: the lockout starts with the next attempt."""

    # Axes answers the failure that reaches the limit with its lockout; the contract wants that failure
    # to be an ordinary 401. Axes' backend still refuses, before any password check, every attempt made
    # once the recorded failures reach the limit (with AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT off
    # it flags those itself, which is how they are told apart here).
    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs) -> None:
        """Record the failure; keep the request locked out only if axes' backend refused it."""
        refused_before = getattr(request, "axes_locked_out", False)
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is not None and not refused_before:
            request.axes_locked_out = False


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
