"""The presence store interface: which sockets are open, and when a user turns online or offline."""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Transitions:
    """Users whose status changed: the store decided each change exactly once, for this caller."""

    online: set[int] = field(default_factory=set)
    offline: set[int] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.online or self.offline)


class PresenceStore(abc.ABC):
    """Open sockets per user, counted per socket, with atomic online/offline transitions.

    A user is online while at least one of their sockets is registered, in this process or (for a
    shared store) in any process. `open` and `close` report the transition they caused, so exactly
    one caller learns that a user came online or went offline, however the calls interleave.
    """

    @abc.abstractmethod
    async def open(self, *, user_id: int, socket_id: str) -> bool:
        """Register a socket; return True when it made the user online (their first socket)."""

    @abc.abstractmethod
    async def close(self, *, user_id: int, socket_id: str) -> bool:
        """Unregister a socket; return True when it made the user offline (their last socket)."""

    @abc.abstractmethod
    async def online(self, *, user_ids: Iterable[int]) -> set[int]:
        """Return which of the users are online."""

    @abc.abstractmethod
    async def maintain(self) -> Transitions:
        """Refresh this process's sockets and expire dead processes' ones; return the transitions found."""

    @abc.abstractmethod
    async def shutdown(self) -> set[int]:
        """Unregister every socket of this process at once; return the users who went offline."""

    @property
    @abc.abstractmethod
    def maintenance_interval(self) -> float | None:
        """Return the seconds between `maintain` calls, or None when the store needs none."""

    async def ping(self) -> None:
        """Make a round trip to the store's backend (readiness); raise when it does not answer."""

    async def aclose(self) -> None:
        """Release connections held by the store."""
