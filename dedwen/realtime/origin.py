"""Refuse WebSocket handshakes whose Origin header names a host outside ALLOWED_HOSTS."""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import validate_host


def origin_allowed(headers: list[tuple[bytes, bytes]], allowed_hosts: list[str]) -> bool:
    """Return True when there is no Origin header, or when its hostname is an allowed host.

    Browsers always send Origin on a WebSocket handshake, so a missing one means a non-browser
    client, which cross-site request forgery cannot drive; it is allowed. A present Origin must
    parse as scheme://host[:port] and its hostname must match ALLOWED_HOSTS (same rules as HTTP).
    """
    origins = [value for name, value in headers if name == b"origin"]
    if not origins:
        return True
    if len(origins) > 1:
        return False
    try:
        parts = urlsplit(origins[0].decode("ascii"))
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except (UnicodeDecodeError, ValueError):
        return False
    if parts.scheme not in {"http", "https"} or not hostname:
        return False
    return validate_host(hostname, allowed_hosts)


class OriginValidator:
    """ASGI middleware: pass allowed handshakes on, deny the others (HTTP 403)."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if origin_allowed(scope.get("headers", []), settings.ALLOWED_HOSTS):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
