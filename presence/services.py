"""Writes for presence: record who went offline, and tell the users who share a conversation."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction

from presence.models import LastSeen
from presence.protocol import PresenceServerFrame
from presence.selectors import Status, circle_of, contacts_of, presence_entry
from realtime.publish import publish_frame


def announce(*, user_id: int, status: Status) -> None:
    """Send the user's status (with their stored last_seen) to everyone sharing a conversation with them."""
    circle = circle_of(user_id=user_id)
    _publish(user_id=user_id, status=status, last_seen=circle.last_seen, watcher_ids=circle.contacts)


def record_offline(*, user_ids: Iterable[int], at: datetime) -> None:
    """Store `at` as last_seen of users who went offline, and announce them offline after commit."""
    with transaction.atomic():
        for user_id, watcher_ids in sorted(store_last_seen(user_ids=user_ids, at=at).items()):
            _publish(user_id=user_id, status=Status.OFFLINE, last_seen=at, watcher_ids=watcher_ids)


def store_last_seen(*, user_ids: Iterable[int], at: datetime) -> dict[int, set[int]]:
    """Store `at` as last_seen of users who went offline; return who must be told, per user (deleted users skipped)."""
    with transaction.atomic():
        existing = sorted(get_user_model().objects.filter(pk__in=list(user_ids)).values_list("pk", flat=True))
        LastSeen.objects.bulk_create(
            [LastSeen(user_id=user_id, at=at) for user_id in existing],
            update_conflicts=True,
            unique_fields=["user"],
            update_fields=["at"],
        )
        return contacts_of(user_ids=existing) if existing else {}


def _publish(*, user_id: int, status: Status, last_seen: datetime | None, watcher_ids: Iterable[int]) -> None:
    publish_frame(
        user_ids=sorted(watcher_ids),
        frame_type=PresenceServerFrame.PRESENCE,
        data=presence_entry(user_id=user_id, status=status, last_seen=last_seen),
    )
