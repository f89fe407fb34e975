"""Presence stores: one interface, an in-process and a Redis implementation, and this process's store."""

from __future__ import annotations

from django.conf import settings

from presence.stores.base import Opened, PresenceStore, Status, Transitions

__all__ = ["Opened", "PresenceStore", "Status", "Transitions", "build_store", "get_store", "set_store"]

_store: PresenceStore | None = None


def build_store() -> PresenceStore:
    """Return a new store as the settings say: Redis when REDIS_URL is set, in-process otherwise."""
    if settings.REDIS_URL:
        from presence.stores.redis_store import RedisPresenceStore

        return RedisPresenceStore(
            url=settings.REDIS_URL,
            prefix=settings.DEDWEN_REDIS_PREFIX,
            ttl=settings.DEDWEN_PRESENCE_TTL,
            grace=settings.DEDWEN_PRESENCE_GRACE,
        )
    from presence.stores.memory import InProcessPresenceStore

    return InProcessPresenceStore(grace=settings.DEDWEN_PRESENCE_GRACE)


def get_store() -> PresenceStore:
    """Return this process's store, built on first use."""
    global _store
    if _store is None:
        _store = build_store()
    return _store


def set_store(store: PresenceStore | None) -> PresenceStore | None:
    """Replace this process's store (tests); return the previous one."""
    global _store
    previous, _store = _store, store
    return previous
