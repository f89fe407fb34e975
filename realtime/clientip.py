"""Who a request or socket comes from: the peer, or behind DEDWEN_PROXY_COUNT proxies the one the outermost saw."""

from __future__ import annotations

import ipaddress

from django.conf import settings


def client_ip(*, peer: str | None, forwarded_for: str) -> str | None:
    """Return the client's IP address from the peer address and the X-Forwarded-For header's value."""
    proxies = settings.DEDWEN_PROXY_COUNT
    if proxies:
        hops = [hop.strip() for hop in forwarded_for.split(",")]
        if len(hops) >= proxies:
            try:
                return str(ipaddress.ip_address(hops[-proxies]))
            except ValueError:
                pass
    return peer or None


def scope_header(scope: dict, name: bytes) -> str:
    """Return an ASGI scope's header (lower-case name), decoded as Latin-1; several are joined by commas."""
    values = [value.decode("latin-1") for key, value in scope.get("headers", ()) if key == name]
    return ",".join(values)


def scope_client_ip(scope: dict) -> str | None:
    """Return the client IP of an ASGI connection (HTTP or WebSocket)."""
    client = scope.get("client")
    return client_ip(peer=client[0] if client else None, forwarded_for=scope_header(scope, b"x-forwarded-for"))
