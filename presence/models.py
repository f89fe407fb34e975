"""When each user was last seen: written when their last socket closes."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class LastSeen(models.Model):
    """The moment a user last went offline (their last socket on every process closed)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="last_seen"
    )
    at = models.DateTimeField()

    class Meta:
        verbose_name = "last seen"
        verbose_name_plural = "last seen"

    def __str__(self) -> str:
        return f"user {self.user_id} last seen {self.at:%Y-%m-%d %H:%M:%S}"


class Visibility(models.Model):
    """Whether others may see the user's presence (`presence_visible`); no row means visible."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="presence_visibility"
    )
    visible = models.BooleanField(default=True)

    class Meta:
        verbose_name = "presence visibility"
        verbose_name_plural = "presence visibility"

    def __str__(self) -> str:
        return f"user {self.user_id} {'visible' if self.visible else 'invisible'}"


class CircleVersion(models.Model):
    """A token replaced by every change to who shares a conversation, to a last_seen or to a visibility (one row).

    Triggers on the membership, last_seen and visibility tables replace it in the transaction that
    makes the change (migration 0003), so a process may keep what it read of those tables for as long
    as the token it read with them is current (presence.circles).
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    token = models.BigIntegerField()

    def __str__(self) -> str:
        return f"circle version {self.token}"
