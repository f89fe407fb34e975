"""Refuse WebSocket handshakes whose Origin is not this server's own origin nor a trusted one.

An Origin is allowed when it is absent (a non-browser client), when it names an allowed host
(DEDWEN_ALLOWED_HOSTS) with the scheme and port the handshake itself was addressed to (http for
ws://, https for wss:// or for a request the proxy marks secure through SECURE_PROXY_SSL_HEADER;
the port of the Host header), or when it is one of CSRF_TRUSTED_ORIGINS
(DEDWEN_CSRF_TRUSTED_ORIGINS), the origins already trusted for unsafe HTTP requests.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


class Origin(NamedTuple):
    """A web origin: scheme, lower-case host name and port (the scheme's default when unnamed)."""

    scheme: str
    host: str
    port: int


def parse_origin(text: str) -> Origin | None:
    """Return the origin `scheme://host[:port]` names, or None when it is not exactly that."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:  # a malformed port or address
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None or parts.password is not None:
        return None
    if parts.path or parts.query or parts.fragment:
        return None
    return Origin(parts.scheme, parts.hostname.lower(), port if port is not None else DEFAULT_PORTS[parts.scheme])


def _header(scope, name: bytes) -> list[bytes]:
    return [value for key, value in scope.get("headers", []) if key == name]


def _secure(scope) -> bool:
    """Return True when the client addressed the handshake over TLS (directly, or through the trusted proxy)."""
    if scope.get("scheme") == "wss":
        return True
    if settings.SECURE_PROXY_SSL_HEADER:
        meta_name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        name = meta_name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin-1")
        values = _header(scope, name)
        return len(values) == 1 and values[0].decode("latin-1").split(",", 1)[0].strip() == secure_value
    return False


def _own_scheme_and_port(scope) -> tuple[str, int] | None:
    """Return the scheme and port the client addressed this handshake to (from its Host header)."""
    scheme = "https" if _secure(scope) else "http"
    hosts = _header(scope, b"host")
    if len(hosts) > 1:
        return None
    if not hosts:
        server = scope.get("server")
        return (scheme, server[1]) if server and server[1] is not None else (scheme, DEFAULT_PORTS[scheme])
    _, port = split_domain_port(hosts[0].decode("latin-1"))
    if not port:
        return scheme, DEFAULT_PORTS[scheme]
    return (scheme, int(port)) if port.isdigit() else None


def origin_allowed(scope) -> bool:
    """Return True when the handshake's Origin may open a socket (see the module docstring)."""
    origins = _header(scope, b"origin")
    if not origins:
        return True  # browsers always send Origin: its absence means a client no foreign page drives
    if len(origins) > 1:
        return False
    try:
        origin = parse_origin(origins[0].decode("ascii"))
    except UnicodeDecodeError:
        return False
    if origin is None:
        return False
    if origin in {parse_origin(trusted) for trusted in settings.CSRF_TRUSTED_ORIGINS}:
        return True
    return (origin.scheme, origin.port) == _own_scheme_and_port(scope) and validate_host(origin.host, settings.ALLOWED_HOSTS)


class OriginValidator:
    """ASGI middleware: pass allowed handshakes on, deny the others (HTTP 403)."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
