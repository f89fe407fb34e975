"""Presence's frames, named once (docs/protocol.md); registered with the kernel in PresenceConfig.ready."""

from __future__ import annotations

from enum import StrEnum


class PresenceServerFrame(StrEnum):
    """Frame types presence sends."""

    PRESENCE_SNAPSHOT = "presence.snapshot"
    PRESENCE = "presence"
