"""The kernel's side of the WebSocket protocol, named once: its frames, close codes and error codes.

Each socket app names its own frames in its own `protocol` module and registers them with its
handlers (realtime.registry); docs/protocol.md describes them all.
"""

from __future__ import annotations

import functools
from enum import IntEnum, StrEnum


class ClientFrame(StrEnum):
    """Frame types a client may send to the kernel itself."""

    AUTHENTICATE = "authenticate"
    PING = "ping"


class ServerFrame(StrEnum):
    """Frame types the kernel itself sends."""

    AUTHENTICATED = "authenticated"
    ACK = "ack"
    ERROR = "error"
    PONG = "pong"
    GOAWAY = "goaway"  # {"reason", "reconnect_after_ms"}: sent just before a 4001 close


class GoawayReason(StrEnum):
    """Why a `goaway` frame asks the client to reconnect."""

    DRAINING = "draining"  # the process is stopping (SIGTERM): reconnect to another one
    DISCONNECTED = "disconnected"  # an operator disconnected the socket (the admin's live connections)


class CloseCode(IntEnum):
    """Close codes the application sends (1000 or 4000-4999: daphne refuses any other)."""

    NORMAL = 1000
    GOING_AWAY = 4001  # draining or disconnected by an operator; always after a `goaway` frame
    BAD_FRAME = 4400  # before authentication: not strict JSON, not an object, binary, not `authenticate`
    UNAUTHORIZED = 4401  # token missing/invalid/expired, or expired on a live socket without re-auth
    FORBIDDEN = 4403  # device revoked, user deactivated, re-auth as another user
    AUTH_TIMEOUT = 4408  # no valid `authenticate` within DEDWEN_WS_AUTH_TIMEOUT
    SLOW_READER = 4409  # over DEDWEN_WS_SEND_BUFFER bytes left unread (sent by realtime.server)
    TOO_LARGE = 4413  # frame over DEDWEN_WS_MAX_FRAME
    RATE_LIMITED = 4429  # frame budget exceeded
    TOO_MANY_SOCKETS = 4429  # same code (an alias): the user holds DEDWEN_WS_MAX_SOCKETS_PER_USER here already
    UNAVAILABLE = 4503  # database or Redis unavailable


class ErrorCode(StrEnum):
    """Codes carried by `error` frames after authentication (the socket stays open)."""

    BAD_FRAME = "bad_frame"  # not strict JSON, not an object, missing/invalid type or data
    UNKNOWN_TYPE = "unknown_type"
    INVALID = "invalid"  # data fails validation (wrong types, empty body, too long, ...)
    NOT_FOUND = "not_found"  # unknown conversation/message, or one the user may not see
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"  # contradicts what is stored (a client_id already used in another conversation)
    UNAVAILABLE = "unavailable"  # a backend (database) is down; nothing was stored
    INTERNAL = "internal"  # the server failed to handle the frame (a bug); the socket stays open


# An ASGI server extension (scope["extensions"]) of realtime.server's daphne: a function that sends
# text frames to the socket synchronously, in order, in one write (dropped once the socket is
# closing), for frames relayed without a task switch (consumer._offer). Other servers lack it, and
# frames take the ASGI `send`.
SCOPE_SEND_TEXTS_NOW = "dedwen.send_texts_now"

# Channel-layer event types (server-internal; never taken from a client frame).
EVENT_FRAME = "dedwen.frame"  # {"text": serialized frame} to relay as-is
EVENT_DEVICE_REVOKED = "dedwen.device_revoked"  # close the device's sockets with 4403 ({"at": commit time})
EVENT_GOAWAY = "dedwen.goaway"  # {"reason", "reconnect_after_ms"}: send `goaway` and close with 4001


@functools.lru_cache(maxsize=65_536)
def user_group(user_id: int) -> str:
    """Return the group every socket of a user joins (kept: a presence announcement names one per watcher)."""
    return f"user.{user_id}"


def device_group(device_id: int) -> str:
    """Return the group every socket of a device joins."""
    return f"device.{device_id}"
