"""Messaging's frames, named once (docs/protocol.md); registered with the kernel in MessagingConfig.ready."""

from __future__ import annotations

from enum import StrEnum


class MessagingClientFrame(StrEnum):
    """Frame types a client sends to messaging."""

    MESSAGE_SEND = "message.send"
    MESSAGE_READ = "message.read"
    TYPING = "typing"
    SYNC = "sync"


class MessagingServerFrame(StrEnum):
    """Frame types messaging sends."""

    MESSAGE_NEW = "message.new"
    MESSAGE_READ = "message.read"
    TYPING = "typing"
    NOTIFICATION = "notification"
    SYNC_DONE = "sync.done"
