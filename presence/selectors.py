"""Reads for presence: whose status a user may see, and the statuses themselves."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from django.db import connection
from django.utils import timezone

from messaging.selectors import contact_ids, contact_pairs_sql
from presence.circles import Circle
from presence.models import LastSeen, Visibility
from presence.stores import PresenceStore, Status
from realtime.fields import datetime_text
from realtime.publish import EncodedJSON, encode_json


def last_seen_of(*, user_ids: Iterable[int]) -> dict[int, datetime | None]:
    """Return when each user last went offline (None when never), in one query."""
    user_ids = list(user_ids)
    found = dict(LastSeen.objects.filter(user_id__in=user_ids).values_list("user_id", "at"))
    return {user_id: found.get(user_id) for user_id in user_ids}


def contacts_of(*, user_ids: Iterable[int]) -> dict[int, set[int]]:
    """Return, for each of the users, the ids of those sharing a conversation with them, in one query.

    Every offline transition runs it; written out for the same reason as `presence.circles.circle_of`.
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


# An enum member's `.value` is a property lookup: a tenth of a snapshot entry's cost, once per contact.
_STATUS_TEXT = {status: status.value for status in Status}


def presence_entry(*, user_id: int, status: Status, last_seen: datetime | None) -> dict[str, Any]:
    """Return one user's presence as the protocol shows it (REST, snapshot and event alike)."""
    return {
        "user_id": user_id,
        "status": _STATUS_TEXT[status],
        "last_seen": datetime_text(last_seen) if last_seen is not None else None,
    }


def shown_entry(*, user_id: int, status: Status, last_seen: datetime | None, visible: bool) -> dict[str, Any]:
    """Return a user's presence as others see it: `offline` with no last_seen while they are not visible."""
    if not visible:
        return presence_entry(user_id=user_id, status=Status.OFFLINE, last_seen=None)
    return presence_entry(user_id=user_id, status=status, last_seen=last_seen)


def hidden_among(*, user_ids: Iterable[int]) -> set[int]:
    """Return which of the users chose not to be visible, in one query (written out: every offline transition runs it)."""
    user_ids = list(dict.fromkeys(user_ids))
    if not user_ids:
        return set()
    quote = connection.ops.quote_name
    user_column, visible_column = (quote(Visibility._meta.get_field(name).column) for name in ("user", "visible"))
    placeholders = ", ".join(["%s"] * len(user_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {user_column} FROM {quote(Visibility._meta.db_table)} WHERE {visible_column} = %s AND {user_column} IN ({placeholders})",
            [False, *user_ids],
        )
        return {user_id for (user_id,) in cursor.fetchall()}


def is_visible(*, user_id: int) -> bool:
    """Return the user's presence_visible (true unless they switched it off)."""
    return not hidden_among(user_ids=[user_id])


def presence_for(*, store: PresenceStore, viewer_id: int, user_ids: Iterable[int]) -> list[dict[str, Any]]:
    """Return the presence of those of `user_ids` the viewer may see, by id (from sync code: views)."""
    seen = visible_last_seen(viewer_id=viewer_id, user_ids=user_ids)
    return _entries(seen, async_to_sync(store.statuses)(user_ids=list(seen)), hidden_among(user_ids=seen))


def snapshot(*, circle: Circle, statuses: dict[int, Status]) -> EncodedJSON:
    """Return the socket's snapshot data, {"users": [...]}: everyone in the user's circle by id, from their statuses, as JSON.

    Every socket of a conversation's members lists the same entries, so each entry's JSON is kept
    while it repeats (`_entry_json`): a snapshot of 1,000 contacts is a join, not 1,000 entries
    built and serialized again (docs/presence.md, "Cost").
    """
    hidden, offline, zone = circle.hidden, Status.OFFLINE, timezone.get_default_timezone()
    entries = ",".join(
        [_entry_json(user_id, statuses.get(user_id, offline), at, user_id not in hidden, zone) for user_id, at in sorted(circle.contacts.items())]
    )
    return EncodedJSON(f'{{"users":[{entries}]}}')


@functools.lru_cache(maxsize=32768)
def _entry_json(user_id: int, status: Status, last_seen: datetime | None, visible: bool, zone) -> str:
    """Return one snapshot entry as JSON; `zone`, the one last_seen is written in, keeps a changed TIME_ZONE from reusing an entry."""
    return encode_json(shown_entry(user_id=user_id, status=status, last_seen=last_seen, visible=visible))


def _entries(seen: dict[int, datetime | None], statuses: dict[int, Status], hidden: set[int] | frozenset[int]) -> list[dict[str, Any]]:
    return [
        shown_entry(user_id=user_id, status=statuses.get(user_id, Status.OFFLINE), last_seen=at, visible=user_id not in hidden)
        for user_id, at in sorted(seen.items())
    ]
