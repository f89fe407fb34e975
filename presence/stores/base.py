"""The presence store interface: which sockets are open, idle or active, and when a user's status changes."""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """A user's presence status, best first."""

    ONLINE = "online"
    IDLE = "idle"
    OFFLINE = "offline"


@dataclass
class Transitions:
    """Users whose status changed: the store decided each change exactly once, for this caller.

    `waiting` is no transition: users whose last socket just closed and who stay as they were for
    the grace (a later `due` turns them offline, unless a socket reopens first).
    """

    online: set[int] = field(default_factory=set)
    offline: set[int] = field(default_factory=set)
    idle: set[int] = field(default_factory=set)
    waiting: set[int] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.online or self.offline or self.idle)

    def add(self, user_id: int, status: Status | str) -> None:
        """Record that the user's status became `status` (a later change of the same user replaces it)."""
        for users in (self.online, self.offline, self.idle):
            users.discard(user_id)
        {Status.ONLINE: self.online, Status.IDLE: self.idle, Status.OFFLINE: self.offline}[Status(status)].add(user_id)

    def statuses(self) -> dict[int, Status]:
        """Return each changed user's new status."""
        found = {user_id: Status.OFFLINE for user_id in self.offline}
        found.update({user_id: Status.IDLE for user_id in self.idle})
        found.update({user_id: Status.ONLINE for user_id in self.online})
        return found


@dataclass(frozen=True)
class Opened:
    """What opening a socket found: the user's new status when it changed, and the statuses read after it."""

    changed: Status | None
    statuses: dict[int, Status]


class PresenceStore(abc.ABC):
    """Open sockets per user, counted per socket, each active or idle, with atomic status changes.

    A user's status is the best of their sockets' (online > idle), in this process or (for a shared
    store) in any process. After their last socket closes they keep that status for `grace` seconds
    and turn offline only when `due` finds the grace over (a socket opening first cancels it). Each
    change is reported to exactly one caller, as the new status, however the calls interleave.
    """

    grace: float = 0.0  # seconds a user keeps their status after their last socket closed

    @abc.abstractmethod
    async def open(self, *, user_id: int, socket_id: str) -> Status | None:
        """Register an active socket; return the user's new status when it changed."""

    async def open_and_read(self, *, user_id: int, socket_id: str, user_ids: Iterable[int]) -> Opened:
        """Register an active socket, then return its transition and the statuses of `user_ids` read after it.

        A store overrides this to do both in one round trip; the statuses are never read before the open.
        """
        changed = await self.open(user_id=user_id, socket_id=socket_id)
        return Opened(changed=changed, statuses=await self.statuses(user_ids=user_ids))

    @abc.abstractmethod
    async def close(self, *, user_id: int, socket_id: str) -> Status | None:
        """Unregister a socket; return the user's new status when it changed (offline only without a grace)."""

    @abc.abstractmethod
    async def activity(self, *, user_id: int, socket_id: str, idle: bool) -> Status | None:
        """Mark an open socket idle or active; return the user's new status when it changed (unknown socket: None)."""

    @abc.abstractmethod
    async def statuses(self, *, user_ids: Iterable[int]) -> dict[int, Status]:
        """Return each user's status (offline when unknown)."""

    async def online(self, *, user_ids: Iterable[int]) -> set[int]:
        """Return which of the users are present (online or idle)."""
        found = await self.statuses(user_ids=user_ids)
        return {user_id for user_id, status in found.items() if status is not Status.OFFLINE}

    @abc.abstractmethod
    async def due(self) -> set[int]:
        """Turn offline the users whose grace is over with no socket reopened; return them (each once)."""

    @abc.abstractmethod
    async def waiting(self) -> int:
        """Return how many users are in their grace (their last socket closed, not offline yet)."""

    @abc.abstractmethod
    async def maintain(self) -> Transitions:
        """Refresh this process's sockets and expire dead processes' ones; return the transitions found."""

    @abc.abstractmethod
    async def shutdown(self) -> Transitions:
        """Unregister every socket of this process at once; return the transitions (and who now waits)."""

    @property
    @abc.abstractmethod
    def maintenance_interval(self) -> float | None:
        """Return the seconds between `maintain` calls, or None when the store needs none."""

    async def ping(self) -> None:
        """Make a round trip to the store's backend (readiness); raise when it does not answer."""

    async def others_alive(self) -> bool:
        """Tell whether another live process shares this store (and so will end the graces left running)."""
        return False

    @property
    def due_interval(self) -> float | None:
        """Return the seconds between `due` calls (a fraction of the grace, at most 0.5 s), or None without a grace."""
        return min(0.5, max(0.05, self.grace / 4)) if self.grace > 0 else None

    async def aclose(self) -> None:
        """Release connections held by the store."""
