"""Changes operators make: disconnect live sockets."""

from __future__ import annotations

from realtime import drain
from realtime.connections import REGISTRY

MAX_SELECTED = 1000  # connection ids one disconnect may name


def disconnect(*, connection_ids: list[str]) -> int:
    """Send each socket `goaway` (disconnected) and close it with 4001, wherever it is; return how many were found."""
    ids = list(dict.fromkeys(connection_ids))[:MAX_SELECTED]
    return REGISTRY.disconnect(connection_ids=ids, reconnect_after_ms=drain.DISCONNECT_RECONNECT_MS)
