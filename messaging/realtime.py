"""Frame handlers for messaging (message.send, message.read, typing, sync), filled in by the messaging issue."""

from __future__ import annotations

from dedwen.realtime.context import FrameHandler
from dedwen.realtime.protocol import ClientFrame

HANDLERS: dict[ClientFrame, FrameHandler] = {}
