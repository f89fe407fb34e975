"""Reads for presence: whose status a user may see, and the statuses themselves."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from asgiref.sync import async_to_sync
from rest_framework.fields import DateTimeField

from dedwen.realtime import db
from messaging.selectors import contact_ids
from presence.models import LastSeen
from presence.stores import PresenceStore


class Status(StrEnum):
    """A user's presence status."""

    ONLINE = "online"
    OFFLINE = "offline"


def last_seen_of(*, user_ids: Iterable[int]) -> dict[int, datetime | None]:
    """Return when each user last went offline (None when never), in one query."""
    user_ids = list(user_ids)
    found = dict(LastSeen.objects.filter(user_id__in=user_ids).values_list("user_id", "at"))
    return {user_id: found.get(user_id) for user_id in user_ids}


def visible_last_seen(*, viewer_id: int, user_ids: Iterable[int] | None = None) -> dict[int, datetime | None]:
    """Return last_seen of the users the viewer may see (sharing a conversation), only `user_ids` when given."""
    visible = contact_ids(user_id=viewer_id)
    if user_ids is not None:
        visible &= set(user_ids)
    return last_seen_of(user_ids=sorted(visible))


def presence_entry(*, user_id: int, status: Status, last_seen: datetime | None) -> dict[str, Any]:
    """Return one user's presence as the protocol shows it (REST, snapshot and event alike)."""
    return {
        "user_id": user_id,
        "status": status.value,
        "last_seen": DateTimeField().to_representation(last_seen) if last_seen is not None else None,
    }


def presence_for(*, store: PresenceStore, viewer_id: int, user_ids: Iterable[int]) -> list[dict[str, Any]]:
    """Return the presence of those of `user_ids` the viewer may see, by id (from sync code: views)."""
    seen = visible_last_seen(viewer_id=viewer_id, user_ids=user_ids)
    return _entries(seen, async_to_sync(store.online)(user_ids=list(seen)))


async def apresence_of(*, store: PresenceStore, viewer_id: int) -> list[dict[str, Any]]:
    """Return the presence of every user the viewer may see, by id (from async code: the snapshot)."""
    seen = await db.call(visible_last_seen, viewer_id=viewer_id)
    return _entries(seen, await store.online(user_ids=seen))


def _entries(seen: dict[int, datetime | None], online: set[int]) -> list[dict[str, Any]]:
    return [
        presence_entry(user_id=user_id, status=Status.ONLINE if user_id in online else Status.OFFLINE, last_seen=at)
        for user_id, at in sorted(seen.items())
    ]
