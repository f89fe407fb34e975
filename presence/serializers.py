"""Shapes of the presence REST API."""

from __future__ import annotations

from rest_framework import serializers

from presence.protocol import Activity
from presence.selectors import Status
from realtime.fields import MAX_ID

MAX_USERS = 200  # the contract's bound on one presence query


class PresenceQuerySerializer(serializers.Serializer):
    """`?user=ID&user=ID`: the users asked about (numeric ids, at most MAX_USERS)."""

    user = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), min_length=1, max_length=MAX_USERS
    )


class PresenceSerializer(serializers.Serializer):
    """One user's presence."""

    user_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=[status.value for status in Status])
    last_seen = serializers.DateTimeField(allow_null=True, help_text="When the user last went offline.")


class ActivityFrameSerializer(serializers.Serializer):
    """The `activity` frame: `{"state": "active" | "idle"}`."""

    state = serializers.ChoiceField(choices=[state.value for state in Activity])
