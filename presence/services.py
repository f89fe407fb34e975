"""Writes for presence: record who went offline, and tell the users who share a conversation."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction

from dedwen.realtime.protocol import ServerFrame
from dedwen.realtime.publish import publish_frame
from messaging.selectors import contact_ids
from presence.models import LastSeen
from presence.selectors import Status, last_seen_of, presence_entry


def announce(*, user_id: int, status: Status) -> None:
    """Send the user's status (with their stored last_seen) to everyone sharing a conversation with them."""
    last_seen = last_seen_of(user_ids=[user_id])[user_id]
    _publish(user_id=user_id, status=status, last_seen=last_seen)


def record_offline(*, user_ids: Iterable[int], at: datetime) -> None:
    """Store `at` as last_seen of users who went offline, and announce them offline after commit."""
    with transaction.atomic():
        existing = sorted(get_user_model().objects.filter(pk__in=list(user_ids)).values_list("pk", flat=True))
        LastSeen.objects.bulk_create(
            [LastSeen(user_id=user_id, at=at) for user_id in existing],
            update_conflicts=True,
            unique_fields=["user"],
            update_fields=["at"],
        )
        for user_id in existing:
            _publish(user_id=user_id, status=Status.OFFLINE, last_seen=at)


def _publish(*, user_id: int, status: Status, last_seen: datetime | None) -> None:
    publish_frame(
        user_ids=sorted(contact_ids(user_id=user_id)),
        frame_type=ServerFrame.PRESENCE,
        data=presence_entry(user_id=user_id, status=status, last_seen=last_seen),
    )
