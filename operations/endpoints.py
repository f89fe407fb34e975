"""/healthz, /readyz and /metrics, answered in front of Django (no Host check, session or database).

Load balancers and Prometheus reach a process by its address, which is rarely in ALLOWED_HOSTS, and
a probe must not cost a session lookup; so these three paths are plain ASGI, and everything else
goes on to Django.
"""

from __future__ import annotations

import hmac
import ipaddress
import json

from django.conf import settings
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from realtime import health
from realtime.clientip import scope_header
from realtime.errors import error_body

JSON = b"application/json"


async def _answer(send, status: int, body: bytes, content_type: bytes = JSON) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"cache-control", b"no-store"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _json(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def metrics_allowed(scope: dict) -> bool:
    """Return True for a loopback client (not proxied), or one presenting DEDWEN_METRICS_TOKEN as a bearer token."""
    token = settings.DEDWEN_METRICS_TOKEN
    if token:
        scheme, _, presented = scope_header(scope, b"authorization").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode()):
            return True
    client = scope.get("client")
    if not client or scope_header(scope, b"x-forwarded-for"):
        return False  # a proxied request comes from the proxy's address, loopback or not
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False


async def healthz(scope) -> tuple[int, bytes, bytes]:
    return 200, _json({"status": "ok"}), JSON


async def readyz(scope) -> tuple[int, bytes, bytes]:
    status, body = await health.readiness()
    return status, _json(body), JSON


async def metrics(scope) -> tuple[int, bytes, bytes]:
    if not metrics_allowed(scope):
        return 403, _json(error_body("forbidden", "metrics are answered to loopback or with the metrics token")), JSON
    return 200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST.encode()


ROUTES = {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics}


class OperationsEndpoints:
    """ASGI middleware: answer the operations paths, pass everything else on."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        route = ROUTES.get(scope.get("path", "")) if scope["type"] == "http" else None
        if route is None:
            return await self.application(scope, receive, send)
        if scope["method"] not in ("GET", "HEAD"):
            await _answer(send, 405, _json(error_body("method_not_allowed", "use GET")))
            return
        status, body, content_type = await route(scope)
        await _answer(send, status, body, content_type)
