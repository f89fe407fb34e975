"""Socket apps plug into the kernel here: the frames they name and handle, and their open/close hooks.

An app registers one `SocketApp` from its `AppConfig.ready()`; the consumer dispatches by the
client's frame type through the table built from them, and calls the hooks around each
authenticated socket's life. The kernel imports no app: a new frame type touches only its app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from realtime.auth import Identity
from realtime.context import FrameHandler, SocketContext
from realtime.protocol import ClientFrame, CloseCode, ErrorCode, ServerFrame

SocketHook = Callable[[SocketContext], Awaitable[None]]
# Sync, in the database thread, in the same trip as the token check: what the app's on_open needs from the database.
SocketPrepare = Callable[[Identity], Any]
# After `authenticated`, with what the app's prepare returned (None without a prepare).
SocketOpen = Callable[[SocketContext, Any], Awaitable[None]]


@dataclass(frozen=True)
class SocketApp:
    """What one app adds to the socket."""

    name: str
    client_frames: type[StrEnum] | None = None  # the frame types it accepts from clients
    server_frames: type[StrEnum] | None = None  # the frame types it sends
    handlers: Mapping[str, FrameHandler] = field(default_factory=dict)  # client frame type -> handler
    prepare: SocketPrepare | None = None  # at authentication, in the database thread; a database outage closes with 4503
    on_open: SocketOpen | None = None  # after `authenticated`; a backend error closes the socket with 4503
    on_close: SocketHook | None = None  # when an authenticated socket ends (must not raise)


_KERNEL_FRAMES = frozenset(member.value for member in ClientFrame)  # answered by the consumer itself
_apps: dict[str, SocketApp] = {}
_handlers: dict[str, FrameHandler] = {}


def register(app: SocketApp) -> None:
    """Add an app's frames, handlers and hooks (again under the same name: replace them)."""
    _apps[app.name] = app
    handlers: dict[str, FrameHandler] = {}
    for registered in _apps.values():
        for frame_type, handler in registered.handlers.items():
            if frame_type in handlers or frame_type in _KERNEL_FRAMES:
                raise ValueError(f"the frame type {frame_type!r} is handled twice")
            handlers[str(frame_type)] = handler
    _handlers.clear()
    _handlers.update(handlers)


def is_client_frame(frame_type: str) -> bool:
    """Tell whether a client frame type is answered: by the kernel itself, or by a registered app."""
    return frame_type in _KERNEL_FRAMES or frame_type in _handlers


def handler_for(frame_type: str) -> FrameHandler | None:
    """Return the handler of a client frame type, or None when no app handles it."""
    return _handlers.get(frame_type)


def prepare_all(identity: Identity) -> dict[str, Any]:
    """Run every app's prepare for an accepted identity (in the database thread); return their results by app name."""
    return {app.name: app.prepare(identity) for app in _apps.values() if app.prepare is not None}


def apps() -> list[SocketApp]:
    """Return the registered apps, in registration order."""
    return list(_apps.values())


def names_for_clients() -> dict[str, dict[str, str | int]]:
    """Return every frame, close and error name as JSON for the browser client (realtime.js reads it)."""
    client = {member.name: member.value for member in ClientFrame}
    server = {member.name: member.value for member in ServerFrame}
    for app in _apps.values():
        client.update({member.name: member.value for member in app.client_frames or ()})
        server.update({member.name: member.value for member in app.server_frames or ()})
    return {
        "client_frames": client,
        "server_frames": server,
        "close_codes": {member.name: member.value for member in CloseCode},
        "error_codes": {member.name: member.value for member in ErrorCode},
    }
