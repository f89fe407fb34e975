"""Template context shared by every page."""

from __future__ import annotations

from django.http import HttpRequest

from realtime.registry import names_for_clients


def protocol(request: HttpRequest) -> dict[str, object]:
    """Expose the WebSocket protocol's names, which base.html hands to the JavaScript client."""
    return {"dedwen_protocol": names_for_clients()}
