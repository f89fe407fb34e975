"""How the kernel asks who a socket's token speaks for: an authenticator plugged in from settings.

`DEDWEN_SOCKET_AUTHENTICATOR` names an object with `authenticate(token)` and `is_live(device_id=,
user_id=)` (both synchronous, run in the database thread). The kernel knows nothing of how tokens
are made; accounts provides the one this project uses (`accounts.sockets.authenticator`), as
Channels lets a project plug in its own AuthMiddleware.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class Refusal(StrEnum):
    """What a refused token means for the socket that presented it."""

    INVALID = "invalid"  # a bad token: 4401
    INACTIVE = "inactive"  # its user is inactive: 4401 at the handshake, 4403 on a live socket
    REVOKED = "revoked"  # its device was revoked: 4403


class TokenRefused(Exception):
    """The token must not be honoured; `reason` names why (logged), `refusal` what it means."""

    def __init__(self, reason: str, refusal: Refusal = Refusal.INVALID) -> None:
        super().__init__(f"token refused: {reason}")
        self.reason = reason
        self.refusal = refusal


@dataclass(frozen=True)
class Identity:
    """Who an accepted token speaks for, and until when."""

    user_id: int
    username: str
    device_id: int
    expires_at: datetime


class SocketAuthenticator(Protocol):
    """What the kernel needs to authenticate sockets and keep them honest."""

    def authenticate(self, token: object) -> Identity:
        """Return the identity of a good token, or raise TokenRefused."""

    def is_live(self, *, device_id: int, user_id: int) -> bool:
        """Tell whether a socket's device may still be served (the periodic re-check)."""


@functools.cache
def authenticator() -> SocketAuthenticator:
    """Return the authenticator DEDWEN_SOCKET_AUTHENTICATOR names."""
    return import_string(settings.DEDWEN_SOCKET_AUTHENTICATOR)
