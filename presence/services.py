"""Writes for presence: record when users went offline."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction

from presence.models import LastSeen
from presence.selectors import contacts_of


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
