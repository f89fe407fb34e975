"""Shapes of messaging, shared by REST and WebSocket: strict input validators and the output objects."""

from __future__ import annotations

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
)

MAX_PARTICIPANTS = 100
MAX_PAGE = 200
DEFAULT_PAGE = 50


# Input ------------------------------------------------------------------------------------------


class ConversationCreateSerializer(serializers.Serializer):
    participants = serializers.ListField(child=IdField(), min_length=1, max_length=MAX_PARTICIPANTS)
    title = StrictCharField(max_length=200, required=False, allow_blank=True, default="")


class MessageBodySerializer(serializers.Serializer):
    """A message to send: a non-blank body of at most DEDWEN_MESSAGE_MAX_LENGTH characters, and its client_id."""

    body = StrictCharField(trim_whitespace=False)
    client_id = StrictCharField(max_length=64)

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


def notification_frame_data(notification: Notification, *, unread_count: int) -> dict:
    """Return the data of a `notification` frame: the notification and the user's live unread count."""
    data = NotificationSerializer(notification).data
    del data["read_at"]
    return {**data, "unread_count": unread_count}


class NotificationListSerializer(serializers.Serializer):
    notifications = NotificationSerializer(many=True, read_only=True)
    unread_count = serializers.IntegerField(read_only=True)
