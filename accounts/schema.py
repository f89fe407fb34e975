"""OpenAPI descriptions of the accounts authentication classes (drf-spectacular extensions)."""

from __future__ import annotations

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class DeviceJWTScheme(SimpleJWTScheme):
    """`Authorization: Bearer <access token>` of a live device."""

    target_class = "accounts.authentication.DeviceJWTAuthentication"


class DeviceSessionScheme(SessionScheme):
    """The session cookie set by a login (POSTs also need the CSRF header)."""

    target_class = "accounts.authentication.DeviceSessionAuthentication"
