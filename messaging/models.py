"""Conversations between users, their messages and read markers, and the notifications they cause."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Conversation(models.Model):
    """A direct conversation between two users, or a titled group."""

    class Kind(models.TextChoices):
        DIRECT = "direct", "direct"
        GROUP = "group", "group"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    title = models.CharField(max_length=200, blank=True)
    # "<lower user id>:<higher user id>" for a direct conversation, NULL for a group: the unique
    # constraint keeps a pair from ever getting two direct conversations, even under races.
    direct_key = models.CharField(max_length=50, null=True, blank=True, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_message = models.ForeignKey(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    last_activity_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-last_activity_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="direct", direct_key__isnull=False) | Q(kind="group", direct_key__isnull=True),
                name="messaging_conversation_direct_key_iff_direct",
            )
        ]

    def __str__(self) -> str:
        return self.title or f"{self.get_kind_display()} conversation {self.pk}"

    @staticmethod
    def direct_key_for(user_id: int, other_id: int) -> str:
        """Return the key naming the direct conversation of two users, whatever their order."""
        low, high = sorted((user_id, other_id))
        return f"{low}:{high}"


class Membership(models.Model):
    """A user's place in a conversation: when they joined, what they have read, whether they left."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    joined_at = models.DateTimeField(default=timezone.now)
    last_read_id = models.PositiveBigIntegerField(default=0, help_text="Id of the last message the user has read.")
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "user"], name="messaging_membership_once")]
        indexes = [models.Index(fields=["user", "left_at"])]

    def __str__(self) -> str:
        return f"user {self.user_id} in conversation {self.conversation_id}"


class Message(models.Model):
    """A message a participant sent; `client_id` (chosen by the client) makes sending idempotent."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="messages")
    body = models.TextField()
    client_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["sender", "client_id"], name="messaging_message_client_id_once")]
        indexes = [models.Index(fields=["conversation", "id"])]

    def __str__(self) -> str:
        return f"message {self.pk} in conversation {self.conversation_id}"


class NotificationQuerySet(models.QuerySet):
    def unread(self) -> NotificationQuerySet:
        """Keep the notifications not read yet."""
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    """Something a user should know about (a new message, a new conversation), until they read it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=50)
    text = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["user", "read_at"]), models.Index(fields=["user", "-id"])]

    def __str__(self) -> str:
        return f"{self.kind} for user {self.user_id}"


class UnreadNotifications(models.Model):
    """How many notifications a user has not read, kept in step by messaging.services (a push carries it without counting).

    No row means none: the row appears with the user's first notification.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="+")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "unread notifications"

    def __str__(self) -> str:
        return f"{self.count} unread for user {self.user_id}"
