"""Presence's part of an authenticated socket: hooks around its life and the `activity` frame (registered with the kernel)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from presence import runtime
from presence.protocol import Activity, PresenceClientFrame, PresenceServerFrame
from presence.circles import Circle, circle_of
from presence.selectors import snapshot
from presence.serializers import ActivityFrameSerializer
from presence.stores import Transitions
from realtime.auth import Identity
from realtime.context import SocketContext
from realtime.fields import validated
from realtime.registry import SocketApp


def prepare_open(identity: Identity) -> Circle:
    """Read the user's circle at authentication, in the token check's database-thread trip (the kernel's prepare)."""
    return circle_of(user_id=identity.user_id)


async def socket_opened(ctx: SocketContext, circle: Circle) -> None:
    """Count the socket as online and send it the presence snapshot (right after `authenticated`).

    The circle (the contacts and every last_seen) was read with the token check: the snapshot
    and, when this socket changed the user's status, the announcement to the contacts are both
    built from it. The store opens the socket and reads the contacts' statuses in one call (one
    round trip with Redis), the statuses always after the open. The announcement leaves with the
    presence tick; the socket does not wait for it.
    """
    store = runtime.running_store()
    opened = await store.open_and_read(user_id=ctx.user_id, socket_id=ctx.channel_name, user_ids=circle.contacts)
    changed = opened.changed
    try:
        await ctx.send_frame(PresenceServerFrame.PRESENCE_SNAPSHOT, snapshot(circle=circle, statuses=opened.statuses), None)
    finally:
        if changed is not None:
            runtime.announce_soon(store, _transition(ctx.user_id, changed), circle=circle)


async def socket_closed(ctx: SocketContext) -> None:
    """Stop counting the socket; with a grace the user's last socket only starts it (the heartbeat ends it)."""
    store = runtime.running_store()
    changed = await store.close(user_id=ctx.user_id, socket_id=ctx.channel_name)
    if changed is not None:
        await runtime.publish_transitions(store, _transition(ctx.user_id, changed))


async def activity(ctx: SocketContext, data: Mapping[str, Any], ref: str | None) -> None:
    """Mark this socket active or idle; announce the user's status when it changed."""
    state = validated(ActivityFrameSerializer, data)["state"]
    store = runtime.running_store()
    changed = await store.activity(user_id=ctx.user_id, socket_id=ctx.channel_name, idle=state == Activity.IDLE)
    if changed is not None:
        await runtime.publish_transitions(store, _transition(ctx.user_id, changed))


def _transition(user_id: int, status) -> Transitions:
    changes = Transitions()
    changes.add(user_id, status)
    return changes


async def check_store() -> None:
    """Readiness: a round trip to this process's presence store."""
    await runtime.get_store().ping()


SOCKET_APP = SocketApp(
    name="presence",
    client_frames=PresenceClientFrame,
    server_frames=PresenceServerFrame,
    handlers={PresenceClientFrame.ACTIVITY: activity},
    prepare=prepare_open,
    on_open=socket_opened,
    on_close=socket_closed,
)
