"""Writes for presence: record when users went offline, switch a user's visibility, tell contacts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.db import transaction

from presence.models import LastSeen, Visibility
from presence.protocol import PresenceServerFrame
from presence.selectors import (
    Status,
    circle_of,
    contacts_of,
    hidden_among,
    presence_entry,
    shown_entry,
)
from presence.stores import get_store
from realtime import publish


def store_last_seen(*, user_ids: Iterable[int], at: datetime) -> dict[int, set[int]]:
    """Store `at` as last_seen of users who went offline; return who must be told, per user.

    Deleted users are skipped; invisible users are told to nobody (everyone sees them offline already).
    """
    with transaction.atomic():
        existing = sorted(get_user_model().objects.filter(pk__in=list(user_ids)).values_list("pk", flat=True))
        LastSeen.objects.bulk_create(
            [LastSeen(user_id=user_id, at=at) for user_id in existing],
            update_conflicts=True,
            unique_fields=["user"],
            update_fields=["at"],
        )
        watchers = contacts_of(user_ids=existing) if existing else {}
        for user_id in hidden_among(user_ids=existing) if existing else ():
            watchers[user_id] = set()
        return watchers


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
