"""The in-process presence store: the embedded, single-process setup."""

from __future__ import annotations

from collections.abc import Iterable

from presence.stores.base import PresenceStore, Transitions


class InProcessPresenceStore(PresenceStore):
    """Sockets per user held in this process's memory.

    Every method runs to completion without awaiting, so on the one event loop each call is atomic.
    Nothing outlives the process, so there is nothing to refresh or expire.
    """

    def __init__(self) -> None:
        self._sockets: dict[int, set[str]] = {}

    async def open(self, *, user_id: int, socket_id: str) -> bool:
        sockets = self._sockets.setdefault(user_id, set())
        if socket_id in sockets:
            return False
        sockets.add(socket_id)
        return len(sockets) == 1

    async def close(self, *, user_id: int, socket_id: str) -> bool:
        sockets = self._sockets.get(user_id)
        if sockets is None or socket_id not in sockets:
            return False
        sockets.discard(socket_id)
        if sockets:
            return False
        del self._sockets[user_id]
        return True

    async def online(self, *, user_ids: Iterable[int]) -> set[int]:
        return {user_id for user_id in user_ids if user_id in self._sockets}

    async def maintain(self) -> Transitions:
        return Transitions()

    async def shutdown(self) -> set[int]:
        went_offline = set(self._sockets)
        self._sockets.clear()
        return went_offline

    @property
    def maintenance_interval(self) -> float | None:
        return None
