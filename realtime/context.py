"""What a frame handler knows about the authenticated socket it serves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

SendFrame = Callable[[str, dict[str, Any], "str | None"], Awaitable[None]]


@dataclass(frozen=True)
class SocketContext:
    """An authenticated socket: who it is, where it receives, and how to answer it."""

    user_id: int
    username: str
    device_id: int
    channel_name: str
    send_frame: SendFrame  # send_frame(frame_type, data, ref): one frame to this socket only

    @cached_property
    def user(self) -> AbstractBaseUser:
        """Return a reference to the socket's user (its id and name; no query), built once per socket."""
        from django.contrib.auth import get_user_model

        return get_user_model()(pk=self.user_id, username=self.username)


# A handler for one client frame type. `data` is the frame's (strictly parsed) object; `ref` is the
# client's correlation id, to be carried by the reply. A refused frame raises errors.JsonableError
# (or DRF's ValidationError, answered `invalid`); a backend outage raises db.Unavailable. Handlers reply through ctx.send_frame.
FrameHandler = Callable[[SocketContext, Mapping[str, Any], "str | None"], Awaitable[None]]
