"""Presence's frames, named once (docs/protocol.md); registered with the kernel in PresenceConfig.ready."""

from __future__ import annotations

from enum import StrEnum


class PresenceClientFrame(StrEnum):
    """Frame types a client sends to presence."""

    ACTIVITY = "activity"


class PresenceServerFrame(StrEnum):
    """Frame types presence sends."""

    PRESENCE_SNAPSHOT = "presence.snapshot"
    PRESENCE = "presence"


class Activity(StrEnum):
    """The states an `activity` frame reports."""

    ACTIVE = "active"
    IDLE = "idle"
