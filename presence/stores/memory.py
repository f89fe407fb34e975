"""The in-process presence store: the embedded, single-process setup."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from presence.stores.base import PresenceStore, Status, Transitions


class InProcessPresenceStore(PresenceStore):
    """Sockets per user held in this process's memory.

    Every method runs to completion without awaiting, so on the one event loop each call is atomic.
    Nothing outlives the process, so there is nothing to refresh or expire; its stop ends everyone's
    status at once (no other process is left for them to come back to, and no watcher either).
    """

    def __init__(self, *, grace: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.grace = grace
        self.clock = clock
        self._sockets: dict[int, dict[str, bool]] = {}  # user id -> socket id -> idle
        self._status: dict[int, Status] = {}  # users who are not offline -> their status
        self._pending: dict[int, float] = {}  # users in their grace -> when it ends (clock)

    def _settle(self, user_id: int, *, grace: float) -> Status | None:
        """Recompute the user's status from their sockets; store and return it when it changed."""
        sockets = self._sockets.get(user_id)
        old = self._status.get(user_id, Status.OFFLINE)
        if sockets:
            self._pending.pop(user_id, None)
            new = Status.IDLE if all(sockets.values()) else Status.ONLINE
        elif old is Status.OFFLINE:
            return None
        elif grace > 0:
            self._pending.setdefault(user_id, self.clock() + grace)
            return None
        else:
            new = Status.OFFLINE
        if new is old:
            return None
        if new is Status.OFFLINE:
            del self._status[user_id]
            self._pending.pop(user_id, None)
        else:
            self._status[user_id] = new
        return new

    async def open(self, *, user_id: int, socket_id: str) -> Status | None:
        self._sockets.setdefault(user_id, {}).setdefault(socket_id, False)
        return self._settle(user_id, grace=self.grace)

    async def close(self, *, user_id: int, socket_id: str) -> Status | None:
        sockets = self._sockets.get(user_id)
        if sockets is None or socket_id not in sockets:
            return None
        del sockets[socket_id]
        if not sockets:
            del self._sockets[user_id]
        return self._settle(user_id, grace=self.grace)

    async def activity(self, *, user_id: int, socket_id: str, idle: bool) -> Status | None:
        sockets = self._sockets.get(user_id)
        if sockets is None or socket_id not in sockets:
            return None
        sockets[socket_id] = idle
        return self._settle(user_id, grace=self.grace)

    async def statuses(self, *, user_ids: Iterable[int]) -> dict[int, Status]:
        return {user_id: self._status.get(user_id, Status.OFFLINE) for user_id in user_ids}

    async def due(self) -> set[int]:
        now = self.clock()
        ended = [user_id for user_id, deadline in self._pending.items() if deadline <= now]
        offline = set()
        for user_id in ended:
            self._pending.pop(user_id, None)
            if self._settle(user_id, grace=0) is Status.OFFLINE:
                offline.add(user_id)
        return offline

    async def waiting(self) -> int:
        return len(self._pending)

    async def maintain(self) -> Transitions:
        return Transitions()

    async def shutdown(self) -> Transitions:
        went_offline = set(self._status)
        self._sockets.clear()
        self._status.clear()
        self._pending.clear()
        return Transitions(offline=went_offline)

    @property
    def maintenance_interval(self) -> float | None:
        return None
