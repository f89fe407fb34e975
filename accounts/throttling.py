"""Login throttling on django-axes: per (username, IP) pair and per IP, 401 up to the limit, 429 with Retry-After after it.

Axes counts each of AXES_LOCKOUT_PARAMETERS separately but compares every count with one limit
(AXES_FAILURE_LIMIT). The per-IP budget across usernames is higher (DEDWEN_LOGIN_IP_FAILURE_LIMIT), so
the handler scales the per-IP count onto the pair's limit: the IP is over its budget exactly when its
scaled count reaches AXES_FAILURE_LIMIT.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off
from django.conf import settings
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from realtime.errors import json_error

LOCKOUT_MESSAGE = "Too many failed logins. Try again later."
PER_IP = "ip_address"  # the one entry of AXES_LOCKOUT_PARAMETERS that has the higher, per-IP budget


def _limit_of(parameter) -> int:
    return settings.DEDWEN_LOGIN_IP_FAILURE_LIMIT if parameter == PER_IP else settings.AXES_FAILURE_LIMIT


class FailureCountingHandler(AxesDatabaseHandler):
    """Count failed logins per pair and per IP; lock out from the attempt after a limit is reached."""

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

    def get_failures(self, request, credentials: dict | None = None) -> int:
        """Return the largest count, each scaled onto AXES_FAILURE_LIMIT by its own limit."""
        # get_user_attempts answers one queryset per AXES_LOCKOUT_PARAMETERS entry, in that order
        # (django-axes 8.x, pinned in pyproject.toml).
        limit = settings.AXES_FAILURE_LIMIT
        return max(
            (_failures(attempts) * limit // _limit_of(parameter))
            for parameter, attempts in zip(settings.AXES_LOCKOUT_PARAMETERS, self.get_user_attempts(request, credentials))
        )

    def lockout_ends_at(self, request, credentials: dict | None) -> datetime | None:
        """Return when the last of the exceeded limits stops being exceeded, or None when none is."""
        cool_off = get_cool_off(request)
        ends = [
            _end_of_lockout(attempts, limit=_limit_of(parameter), cool_off=cool_off)
            for parameter, attempts in zip(settings.AXES_LOCKOUT_PARAMETERS, self.get_user_attempts(request, credentials))
        ]
        return max((end for end in ends if end is not None), default=None)


def _failures(attempts: QuerySet) -> int:
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


def _end_of_lockout(attempts: QuerySet, *, limit: int, cool_off: timedelta) -> datetime | None:
    """Return when the counted failures drop below `limit`: the row that tips the sum over it expires."""
    # A row (one username, IP and user agent) counts in full while its last failure is inside the window.
    total = 0
    for failures, attempt_time in attempts.order_by("-attempt_time").values_list("failures_since_start", "attempt_time"):
        total += failures
        if total >= limit:
            return attempt_time + cool_off
    return None


def retry_after_seconds(request: HttpRequest) -> int:
    """Return how long a locked-out client must wait before its next attempt can count, in whole seconds."""
    cool_off = get_cool_off(request)
    ends = FailureCountingHandler().lockout_ends_at(request, getattr(request, "axes_credentials", None))
    if ends is None:
        return int(cool_off.total_seconds())
    remaining = (ends - timezone.now()).total_seconds()
    return max(1, min(int(cool_off.total_seconds()), int(remaining) + 1))


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """Answer a locked-out login: JSON for the API, the login page for the form."""
    if credentials is not None and getattr(request, "axes_credentials", None) is None:
        request.axes_credentials = credentials
    if request.path.startswith("/api/"):
        response = json_error("throttled", LOCKOUT_MESSAGE, 429)
    else:
        from accounts.forms import LoginForm

        form = LoginForm(request)
        response = render(request, "accounts/login.html", {"form": form, "throttled": LOCKOUT_MESSAGE}, status=429)
    response["Retry-After"] = str(retry_after_seconds(request))
    return response
