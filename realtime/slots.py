"""Authenticated sockets per user on this process, held up to DEDWEN_WS_MAX_SOCKETS_PER_USER."""

from __future__ import annotations

from collections import Counter


class SocketSlots:
    """Count the authenticated sockets each user holds on this process; refuse one over the cap.

    Taking and releasing are synchronous (no await between the check and the count), so two
    sockets of one user authenticating at once cannot both take the last slot.
    """

    def __init__(self) -> None:
        self._held: Counter[int] = Counter()

    def take(self, *, user_id: int, limit: int) -> bool:
        """Take a slot for the user; return False when they already hold `limit`."""
        if self._held[user_id] >= limit:
            return False
        self._held[user_id] += 1
        return True

    def release(self, *, user_id: int) -> None:
        """Give back a slot taken by `take`."""
        self._held[user_id] -= 1
        if self._held[user_id] <= 0:
            del self._held[user_id]

    def held(self, *, user_id: int) -> int:
        """Return how many slots the user holds on this process."""
        return self._held.get(user_id, 0)


SLOTS = SocketSlots()
