"""Shapes of messaging, shared by REST and WebSocket: strict input validators and the output objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from messaging.models import Message, Notification
from messaging.pagination import LIST_PAGE_DEFAULT, LIST_PAGE_MAX
from realtime.fields import (
    MAX_ID,
    IdField,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    datetime_text,
    validated,
)

MAX_PARTICIPANTS = 100
CLIENT_ID_MAX_LENGTH = 64
MAX_PAGE = 200
DEFAULT_PAGE = 50


# Input ------------------------------------------------------------------------------------------


class ConversationCreateSerializer(serializers.Serializer):
    participants = serializers.ListField(child=IdField(), min_length=1, max_length=MAX_PARTICIPANTS)
    title = StrictCharField(max_length=200, required=False, allow_blank=True, default="")


class MessageBodySerializer(serializers.Serializer):
    """A message to send: a non-blank body of at most DEDWEN_MESSAGE_MAX_LENGTH characters, and its client_id."""

    body = StrictCharField(trim_whitespace=False)
    client_id = StrictCharField(max_length=CLIENT_ID_MAX_LENGTH)

    def validate_body(self, body: str) -> str:
        if not body.strip():
            raise serializers.ValidationError("The message is empty.")
        limit = settings.DEDWEN_MESSAGE_MAX_LENGTH
        if len(body) > limit:
            raise serializers.ValidationError(f"Ensure this field has no more than {limit} characters.")
        return body


class MessagePageSerializer(serializers.Serializer):
    """Query parameters of a message page."""

    before = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    after = serializers.IntegerField(min_value=0, max_value=MAX_ID, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=DEFAULT_PAGE)


class ReadMarkerSerializer(serializers.Serializer):
    message_id = IdField()


class ListPageSerializer(serializers.Serializer):
    """Query parameters of a page of a list: how many items (at most 100) and where it starts (an opaque cursor)."""

    limit = serializers.IntegerField(min_value=1, max_value=LIST_PAGE_MAX, default=LIST_PAGE_DEFAULT)
    cursor = serializers.CharField(required=False, max_length=1000, help_text="from the previous page's Link header")


class NotificationsQuerySerializer(ListPageSerializer):
    unread = serializers.BooleanField(required=False, default=False)


class NotificationsReadSerializer(serializers.Serializer):
    """Either `ids` (the notifications to mark read) or `all: true`."""

    ids = serializers.ListField(child=IdField(), max_length=1000, required=False)
    all = StrictBooleanField(required=False)

    def validate(self, attrs):
        if ("ids" in attrs) == bool(attrs.get("all")):
            raise serializers.ValidationError('Send either "ids" or "all": true.')
        return attrs


# WebSocket frames: the same rules, plus the conversation the frame is about.


class MessageSendFrameSerializer(MessageBodySerializer):
    conversation_id = IdField()


def message_send_frame(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return a `message.send` frame's fields as MessageSendFrameSerializer validates them, without running it on plain input.

    The serializer stays the rule: a frame that is not plainly valid here (a wrong type, a blank or
    long value, a null or surrogate character) goes through it, which refuses it in its own words.
    Running it costs more than storing the message (docs/performance.md, "Persisted sends").
    """
    body, client_id, conversation_id = data.get("body"), data.get("client_id"), data.get("conversation_id")
    if type(body) is str and type(client_id) is str and type(conversation_id) is int:
        client_id = client_id.strip()  # as StrictCharField does (trim_whitespace); the body is kept as sent
        if (
            0 < conversation_id <= MAX_ID
            and 0 < len(body) <= settings.DEDWEN_MESSAGE_MAX_LENGTH
            and not body.isspace()
            and 0 < len(client_id) <= CLIENT_ID_MAX_LENGTH
            and _plain(body)
            and _plain(client_id)
        ):
            return {"body": body, "client_id": client_id, "conversation_id": conversation_id}
    return validated(MessageSendFrameSerializer, data)


def _plain(text: str) -> bool:
    """Tell whether a string has neither a null character nor a surrogate (what DRF's CharField refuses)."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


class MessageReadFrameSerializer(ReadMarkerSerializer):
    conversation_id = IdField()


class TypingFrameSerializer(serializers.Serializer):
    conversation_id = IdField()


class SyncFrameSerializer(serializers.Serializer):
    after = StrictIntegerField(min_value=0)


# Output -----------------------------------------------------------------------------------------


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk", read_only=True)
    username = serializers.CharField(source="get_username", read_only=True)


class MessageSerializer(serializers.ModelSerializer):
    conversation_id = serializers.IntegerField(read_only=True)
    sender = UserRefSerializer(read_only=True)

    class Meta:
        model = Message
        fields = ["id", "conversation_id", "sender", "body", "client_id", "created_at"]
        read_only_fields = fields


def message_data(message: Message) -> dict[str, Any]:
    """Return the message as MessageSerializer shapes it, written out (every send shapes one; a test pins them equal).

    The sender must be loaded (or set) on the message.
    """
    sender = message.sender
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "sender": {"id": sender.pk, "username": sender.get_username()},
        "body": message.body,
        "client_id": message.client_id,
        "created_at": datetime_text(message.created_at),
    }


class ConversationSerializer(serializers.Serializer):
    """A conversation as one participant sees it (serializes a Membership from selectors.user_conversations)."""

    id = serializers.IntegerField(source="conversation_id", read_only=True)
    kind = serializers.CharField(source="conversation.kind", read_only=True)
    title = serializers.CharField(source="conversation.title", read_only=True)
    participants = serializers.SerializerMethodField()
    last_message = MessageSerializer(source="conversation.last_message", read_only=True, allow_null=True)
    unread_count = serializers.IntegerField(read_only=True)
    created_at = serializers.DateTimeField(source="conversation.created_at", read_only=True)

    @extend_schema_field(UserRefSerializer(many=True))
    def get_participants(self, membership) -> list[dict]:
        members = membership.conversation.active_memberships
        return UserRefSerializer([member.user for member in members], many=True).data


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "text", "data", "created_at", "read_at"]
        read_only_fields = fields


def notification_frame_data(notification: Notification, *, unread_count: int) -> dict[str, Any]:
    """Return the data of a `notification` frame: NotificationSerializer's shape without `read_at`, and the user's live unread count.

    Written out (every send pushes one per recipient); a test pins it to the serializer's shape.
    """
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "text": notification.text,
        "data": notification.data,
        "created_at": datetime_text(notification.created_at),
        "unread_count": unread_count,
    }


class NotificationListSerializer(serializers.Serializer):
    notifications = NotificationSerializer(many=True, read_only=True)
    unread_count = serializers.IntegerField(read_only=True)
