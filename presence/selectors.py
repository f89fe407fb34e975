"""Reads for presence: whose status a user may see, and the statuses themselves."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from asgiref.sync import async_to_sync
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from rest_framework.fields import DateTimeField

from messaging.selectors import contact_ids, contact_pairs_sql
from presence.models import LastSeen
from presence.stores import PresenceStore
from realtime.rawsql import RawRead


class Status(StrEnum):
    """A user's presence status."""

    ONLINE = "online"
    OFFLINE = "offline"


def last_seen_of(*, user_ids: Iterable[int]) -> dict[int, datetime | None]:
    """Return when each user last went offline (None when never), in one query."""
    user_ids = list(user_ids)
    found = dict(LastSeen.objects.filter(user_id__in=user_ids).values_list("user_id", "at"))
    return {user_id: found.get(user_id) for user_id in user_ids}


@dataclass(frozen=True)
class Circle:
    """A user, when they were last seen, and everyone sharing a conversation with them with theirs."""

    user_id: int
    last_seen: datetime | None
    contacts: dict[int, datetime | None]


def _circle_sql(connection: BaseDatabaseWrapper) -> str:
    """Return the statement of `circle_of`: the user's contacts with their last_seen, and the user's own."""
    last_seen = connection.ops.quote_name(LastSeen._meta.db_table)
    return f"""
        SELECT c.contact_id, s.at FROM ({contact_pairs_sql(connection)}) c
        LEFT JOIN {last_seen} s ON s.user_id = c.contact_id WHERE c.user_id = %(user_id)s
        UNION
        SELECT user_id, at FROM {last_seen} WHERE user_id = %(user_id)s
    """


_circle = RawRead(sql=_circle_sql, fields=[None, LastSeen._meta.get_field("at")], model=LastSeen)


def circle_of(*, user_id: int) -> Circle:
    """Return the user's last_seen and their contacts' last_seen, in one query.

    Every socket's authentication runs it, so it is one written-out statement (realtime.rawsql):
    building the same query with the ORM took about 15 times the CPU of running it
    (docs/presence.md, "Cost").
    """
    seen = dict(_circle.rows({"user_id": user_id}))
    return Circle(user_id=user_id, last_seen=seen.pop(user_id, None), contacts=seen)


def contacts_of(*, user_ids: Iterable[int]) -> dict[int, set[int]]:
    """Return, for each of the users, the ids of those sharing a conversation with them, in one query.

    Every offline transition runs it; written out for the same reason as `circle_of`.
    """
    user_ids = list(dict.fromkeys(user_ids))
    found: dict[int, set[int]] = {user_id: set() for user_id in user_ids}
    if not user_ids:
        return found
    placeholders = ", ".join(["%s"] * len(user_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT c.user_id, c.contact_id FROM ({contact_pairs_sql(connection)}) c"
            f" WHERE c.user_id IN ({placeholders})",
            user_ids,
        )
        for user_id, contact_id in cursor.fetchall():
            found[user_id].add(contact_id)
    return found


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


async def asnapshot(*, store: PresenceStore, circle: Circle) -> list[dict[str, Any]]:
    """Return the presence of everyone in the user's circle, by id (the socket's snapshot)."""
    return _entries(circle.contacts, await store.online(user_ids=circle.contacts))


def _entries(seen: dict[int, datetime | None], online: set[int]) -> list[dict[str, Any]]:
    return [
        presence_entry(user_id=user_id, status=Status.ONLINE if user_id in online else Status.OFFLINE, last_seen=at)
        for user_id, at in sorted(seen.items())
    ]
