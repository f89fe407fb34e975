"""Presence's hooks around an authenticated socket's life (registered with the kernel)."""

from __future__ import annotations

from presence import runtime
from presence.protocol import PresenceServerFrame
from presence.selectors import Circle, asnapshot, circle_of
from presence.stores import Transitions
from realtime import db
from realtime.context import SocketContext
from realtime.registry import SocketApp


async def socket_opened(ctx: SocketContext) -> None:
    """Count the socket as online and send it the presence snapshot (right after `authenticated`).

    One database call reads the contacts and every last_seen: the snapshot and, when this socket
    made the user online, the announcement to the contacts are both built from it.
    """
    store = runtime.running_store()
    came_online = await store.open(user_id=ctx.user_id, socket_id=ctx.channel_name)
    circle: Circle | None = None
    try:
        circle = await db.call(circle_of, user_id=ctx.user_id)
        users = await asnapshot(store=store, circle=circle)
        await ctx.send_frame(PresenceServerFrame.PRESENCE_SNAPSHOT, {"users": users}, None)
    finally:
        if came_online:
            await runtime.publish_transitions(store, Transitions(online={ctx.user_id}), circle=circle)


async def socket_closed(ctx: SocketContext) -> None:
    """Stop counting the socket; the user turns offline when it was their last (only then is the database used)."""
    store = runtime.running_store()
    if await store.close(user_id=ctx.user_id, socket_id=ctx.channel_name):
        await runtime.publish_transitions(store, Transitions(offline={ctx.user_id}))


SOCKET_APP = SocketApp(
    name="presence", server_frames=PresenceServerFrame, on_open=socket_opened, on_close=socket_closed
)
