"""Writes for presence: record when users went offline, switch a user's visibility, tell contacts."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from presence.models import LastSeen, Visibility
from presence.protocol import PresenceServerFrame
from presence.circles import circle_of
from presence.selectors import (
    Status,
    contacts_of,
    hidden_among,
    presence_entry,
    shown_entry,
)
from presence.stores import get_store
from realtime import publish
from realtime.rawsql import RawWrite


def store_last_seen(*, user_ids: Iterable[int], at: datetime) -> dict[int, set[int]]:
    """Store `at` as last_seen of users who went offline; return who must be told, per user.

    Deleted users are skipped; invisible users are told to nobody (everyone sees them offline already).
    """
    write = _last_seen_write()
    with transaction.atomic():
        existing = [user_id for user_id in sorted(set(user_ids)) if write.run([at, user_id])]
        watchers = contacts_of(user_ids=existing) if existing else {}
        for user_id in hidden_among(user_ids=existing) if existing else ():
            watchers[user_id] = set()
        return watchers


def _last_seen_sql(connection: BaseDatabaseWrapper) -> str:
    """Return the statement of `store_last_seen` for one user: insert or move last_seen, unless the user is gone."""
    quote = connection.ops.quote_name
    users = get_user_model()._meta
    user_column, at_column = (quote(LastSeen._meta.get_field(name).column) for name in ("user", "at"))
    return (
        f"INSERT INTO {quote(LastSeen._meta.db_table)} ({user_column}, {at_column})"
        f" SELECT u.{quote(users.pk.column)}, %s FROM {quote(users.db_table)} u WHERE u.{quote(users.pk.column)} = %s"
        f" ON CONFLICT ({user_column}) DO UPDATE SET {at_column} = excluded.{at_column}"
    )


@functools.cache
def _last_seen_write() -> RawWrite:
    """Return the write of one user's last_seen (written out: every offline transition runs it)."""
    return RawWrite(sql=_last_seen_sql, fields=[LastSeen._meta.get_field("at"), None], model=LastSeen)


def announce(*, user_id: int, status: Status) -> None:
    """Tell the user's contacts their status, as they may see it, once the transaction commits."""
    circle = circle_of(user_id=user_id)
    publish.publish(
        user_ids=sorted(circle.contacts),
        frame_type=PresenceServerFrame.PRESENCE,
        data=shown_entry(user_id=user_id, status=status, last_seen=circle.last_seen, visible=circle.visible),
    )


def set_visibility(*, user_id: int, visible: bool) -> bool:
    """Store the user's presence_visible; when it changed, announce what contacts now see; return whether it changed."""
    with transaction.atomic():
        row, created = Visibility.objects.select_for_update().get_or_create(user_id=user_id)
        if row.visible == visible:
            return False
        row.visible = visible
        row.save(update_fields=["visible"])
        status = async_to_sync(get_store().statuses)(user_ids=[user_id])[user_id]
        announce(user_id=user_id, status=status)
    return True


def forget_former_contacts(*, user_id: int, member_ids: Iterable[int]) -> None:
    """After a leave: the leaver and the members they no longer share a conversation with see each other offline."""
    contacts = contacts_of(user_ids=[user_id])[user_id]
    strangers = sorted(set(member_ids) - contacts - {user_id})
    if not strangers:
        return
    for watcher_ids, seen_id in [(strangers, user_id), *(([user_id], stranger) for stranger in strangers)]:
        publish.publish(
            user_ids=watcher_ids,
            frame_type=PresenceServerFrame.PRESENCE,
            data=presence_entry(user_id=seen_id, status=Status.OFFLINE, last_seen=None),
        )
