"""Send live events to groups after the database transaction that caused them commits.

A send never makes the database thread wait for the channel layer: in a thread that serves an event
loop (the loop itself, or a database thread running for it through SyncToAsync) the event is handed
to that loop, where one task per loop sends everything in the order it was handed over. Only where
no loop is running (management commands, sync tests) does the caller send and wait.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import weakref
from collections import deque
from collections.abc import Iterable
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from realtime.protocol import (
    EVENT_DEVICE_REVOKED,
    EVENT_FRAME,
    ServerFrame,
    device_group,
    user_group,
)

logger = logging.getLogger("dedwen.realtime.publish")


def encode_frame(frame_type: ServerFrame, data: dict[str, Any], ref: str | None = None) -> str:
    """Serialize a server frame once, as compact JSON."""
    frame: dict[str, Any] = {"type": str(frame_type), "data": data}
    if ref is not None:
        frame["ref"] = ref
    return json.dumps(frame, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


async def agroup_send_all(groups: Iterable[str], event: dict[str, Any]) -> None:
    """Send one event to several groups; a layer failure is logged, never raised (delivery is best effort).

    Several groups go out in one call when the layer can (dedwen's layers: serialized once, pipelined).
    """
    layer = get_channel_layer()
    groups = list(groups)
    if len(groups) > 1 and hasattr(layer, "group_send_many"):
        try:
            await layer.group_send_many(groups, event)
        except Exception as exc:  # noqa: BLE001 - a down layer must not fail the change that was stored
            logger.warning("live event to %d groups (%s, ...) not sent: %s: %s", len(groups), groups[0], type(exc).__name__, exc)
        return
    for group in groups:
        try:
            await layer.group_send(group, event)
        except Exception as exc:  # noqa: BLE001 - a down layer must not fail the change that was stored
            logger.warning("live event to %s not sent: %s: %s", group, type(exc).__name__, exc)


class _Outbox:
    """The sends handed to one event loop, made one after another by at most one task."""

    __slots__ = ("pending", "sender")

    def __init__(self) -> None:
        self.pending: deque[tuple[list[str], dict[str, Any]]] = deque()
        self.sender: asyncio.Task | None = None

    def put(self, groups: list[str], event: dict[str, Any]) -> None:
        """Queue a send behind the earlier ones; call on the outbox's loop."""
        self.pending.append((groups, event))
        if self.sender is None:
            self.sender = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self.pending:
                groups, event = self.pending.popleft()
                try:
                    await agroup_send_all(groups, event)
                except Exception:  # noqa: BLE001 - one bad send must not stop the ones queued behind it
                    logger.exception("live event to %s not sent", ", ".join(groups))
        finally:
            self.sender = None


_outboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Outbox] = weakref.WeakKeyDictionary()


def _hand_over(groups: list[str], event: dict[str, Any]) -> None:
    """Queue a send on the running loop's outbox; call on that loop."""
    loop = asyncio.get_running_loop()
    outbox = _outboxes.get(loop)
    if outbox is None:
        outbox = _outboxes[loop] = _Outbox()
    outbox.put(groups, event)


def _served_loop() -> asyncio.AbstractEventLoop | None:
    """Return the running event loop this (database) thread works for through SyncToAsync, if any."""
    local = SyncToAsync.threadlocal
    loop = getattr(local, "main_event_loop", None)
    if loop is None or getattr(local, "main_event_loop_pid", None) != os.getpid() or not loop.is_running():
        return None
    return loop


def _send_now(groups: list[str], event: dict[str, Any]) -> None:
    """Send an event to groups: queued on the event loop this thread serves, else sent while waiting."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        _hand_over(groups, event)
        return
    loop = _served_loop()
    if loop is not None:
        try:
            loop.call_soon_threadsafe(_hand_over, groups, event)
            return
        except RuntimeError:  # the loop closed since: send from here instead
            pass
    # A fresh loop: never wait on a loop that has stopped (a database thread at server shutdown).
    async_to_sync(agroup_send_all, force_new_loop=True)(groups, event)


def send_after_commit(groups: Iterable[str], event: dict[str, Any]) -> None:
    """Send an event to groups once the current transaction commits (at once outside one)."""
    targets = list(dict.fromkeys(groups))
    if targets:
        transaction.on_commit(lambda: _send_now(targets, event), robust=True)


def publish_frame(*, user_ids: Iterable[int], frame_type: ServerFrame, data: dict[str, Any]) -> None:
    """Push a frame to every socket of the named users after commit; it is serialized once."""
    text = encode_frame(frame_type, data)
    send_after_commit((user_group(user_id) for user_id in user_ids), {"type": EVENT_FRAME, "text": text})


def publish_frame_now(*, user_ids: Iterable[int], frame_type: ServerFrame, data: dict[str, Any]) -> None:
    """Push a frame that stores nothing (typing) to every socket of the named users; safe on the event loop."""
    targets = list(dict.fromkeys(user_group(user_id) for user_id in user_ids))
    if targets:
        _send_now(targets, {"type": EVENT_FRAME, "text": encode_frame(frame_type, data)})


def publish_device_revoked(*, device_ids: Iterable[int]) -> None:
    """Close every live socket of the named devices (4403) after commit, on every process."""
    send_after_commit((device_group(device_id) for device_id in device_ids), {"type": EVENT_DEVICE_REVOKED})
