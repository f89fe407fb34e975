"""Reads for operators: the live connections of every process."""

from __future__ import annotations

from realtime.connections import REGISTRY, Connection


def live_connections(*, user: str = "") -> list[Connection]:
    """Return every authenticated socket on every process, oldest first; `user` filters by username or id."""
    found = REGISTRY.all()
    user = user.strip()
    if not user:
        return found
    return [entry for entry in found if entry.username == user or str(entry.user_id) == user]
