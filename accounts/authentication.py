"""DRF authentication: Bearer access tokens and sessions, both bound to a live device."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework_simplejwt.authentication import JWTAuthentication

from accounts.tokens import TokenRejected, authenticate_access_token


class DeviceJWTAuthentication(JWTAuthentication):
    """Authenticate `Authorization: Bearer <access token>`; request.auth is the TokenIdentity."""

    def authenticate(self, request):
        header = self.get_header(request)
        if header is None:
            return None
        raw = self.get_raw_token(header)
        if raw is None:
            return None
        try:
            identity = authenticate_access_token(raw.decode("ascii", errors="replace") if isinstance(raw, bytes) else raw)
        except TokenRejected as exc:
            raise exceptions.AuthenticationFailed(f"Access token refused: {exc.failure}.", code=str(exc.failure)) from None
        request._request.dedwen_device = identity.device
        return identity.user, identity


class DeviceSessionAuthentication(SessionAuthentication):
    """Authenticate by session (with CSRF); a revoked device's session is ended by the middleware."""

    def authenticate_header(self, request) -> str:
        """Name the scheme so that a missing session is 401 (not 403) on session-only views."""
        return 'Session realm="dedwen"'
