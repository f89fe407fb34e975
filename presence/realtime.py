"""Presence hooks the consumer calls around an authenticated socket's life, filled in by the presence issue."""

from __future__ import annotations

from dedwen.realtime.context import SocketContext


async def socket_opened(ctx: SocketContext) -> None:
    """Count the socket as online and send it the presence snapshot (right after `authenticated`)."""


async def socket_closed(ctx: SocketContext) -> None:
    """Stop counting the socket; the user turns offline when it was their last."""
