"""Push frames to users' sockets on every process: one API, a sync and an async twin.

- `publish(...)` from sync code (services): after the current transaction commits, by default;
  `at_commit=False` for a frame that stores nothing (typing).
- `apublish(...)` from the event loop: at once; `apublish_many(...)` several frames in one layer call.
- `close_device_sockets(...)` after commit: every live socket of the devices closes with 4403.

Each frame is serialized once and fanned out to the users' groups. A send never makes a database
thread wait for the channel layer: code running for an event loop (the loop itself, or a thread it
handed work to through db.call or Django's ASGI handler) hands the event to that loop, where one
task per loop sends everything in the order it was handed over. Only where no loop is serving
(management commands, sync tests) does the caller send and wait.

Every send goes through the layer's `group_send_batch`, a single event as a batch of one (both of
dedwen's layers have it; another layer, such as Channels' own, gets one group_send per group).
The loop's task sends all the events queued while its previous call was out as one batch, in
order, which on Redis is one pipelined round trip: one round trip per event fell 1.8 s behind
the acks at 1,300 sends/s (docs/performance.md).

Delivery is best effort: a layer failure is logged, never raised, so a stored change is never
undone by a lost push. A batch that fails is sent again one event at a time, so that one bad
event does not take the others queued with it; the events of a batch that failed part-way
through may then reach some sockets twice (clients keep messages and notifications by id).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
import weakref
from collections import deque
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from realtime.layers import NotPublished
from realtime.protocol import (
    EVENT_DEVICE_REVOKED,
    EVENT_FRAME,
    device_group,
    user_group,
)

logger = logging.getLogger("dedwen.realtime.publish")

# The event loop the current code works for. Set on the loop (db.call, the ASGI entry) and carried
# into worker threads by asgiref, which runs sync code in a copy of the caller's context.
serving_loop: ContextVar[asyncio.AbstractEventLoop | None] = ContextVar("serving_loop", default=None)

Event = dict[str, Any]


class EncodedJSON(str):
    """A frame's data already serialized by `encode_json` (a hot path that builds it from kept pieces)."""


def encode_json(value: Any) -> str:
    """Serialize a value as frames carry it: compact JSON, UTF-8 text as is, Django's types (datetimes) as its encoder writes them."""
    return json.dumps(value, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


def encode_frame(frame_type: str, data: dict[str, Any] | EncodedJSON, ref: str | None = None) -> str:
    """Serialize a server frame once, as compact JSON: {"type","data"} and "ref" when given."""
    text = f'{{"type":{_encoded_type(str(frame_type))},"data":{data if isinstance(data, EncodedJSON) else encode_json(data)}'
    if ref is not None:
        text += f',"ref":{encode_json(ref)}'
    return text + "}"


@functools.lru_cache(maxsize=256)
def _encoded_type(frame_type: str) -> str:
    return encode_json(frame_type)


def _frame_event(frame_type: str, data: dict[str, Any], exclude_channel: str | None = None) -> Event:
    event = {"type": EVENT_FRAME, "text": encode_frame(frame_type, data), "frame_type": str(frame_type)}
    if exclude_channel is not None:
        event["exclude_channel"] = exclude_channel  # the socket that relays it skips it (consumer._relay_frame)
    return event


def _user_groups(user_ids: Iterable[int]) -> list[str]:
    return list(dict.fromkeys(map(user_group, user_ids)))


def publish(
    *, user_ids: Iterable[int], frame_type: str, data: dict[str, Any], at_commit: bool = True, exclude_channel: str | None = None
) -> None:
    """Push a frame to every socket of the users: once the current transaction commits, or now.

    `exclude_channel`: one socket (its channel name) that does not get the frame, e.g. the one already answered.
    """
    groups = _user_groups(user_ids)
    if not groups:
        return
    event = _frame_event(frame_type, data, exclude_channel)
    if at_commit:
        transaction.on_commit(lambda: _deliver(groups, event), robust=True)
    else:
        _deliver(groups, event)


async def apublish(*, user_ids: Iterable[int], frame_type: str, data: dict[str, Any]) -> None:
    """Push a frame to every socket of the users, now, from the event loop."""
    await apublish_many(frames=[(user_ids, frame_type, data)])


async def apublish_many(*, frames: Iterable[tuple[Iterable[int], str, dict[str, Any]]]) -> None:
    """Push several frames, each to every socket of its users, in order, now, from the event loop: one layer call."""
    batch = [(groups, _frame_event(frame_type, data)) for user_ids, frame_type, data in frames if (groups := _user_groups(user_ids))]
    if batch:
        await _send_batch(batch)


def close_device_sockets(*, device_ids: Iterable[int]) -> None:
    """Close every live socket of the devices (4403) once the current transaction commits, on every process."""
    groups = list(dict.fromkeys(device_group(device_id) for device_id in device_ids))
    if groups:  # `at`: the commit's time, for dedwen_revocation_close_seconds
        transaction.on_commit(lambda: _deliver(groups, {"type": EVENT_DEVICE_REVOKED, "at": time.time()}), robust=True)


async def _send_batch(batch: list[tuple[list[str], Event]]) -> None:
    """Send events in order, each to its groups, in one layer call when the layer can; log failures, never raise.

    A failed batch of several is sent again one event at a time, each failure logged on its own.
    """
    layer = get_channel_layer()
    if not hasattr(layer, "group_send_batch"):  # not one of dedwen's layers
        for groups, event in batch:
            await _send_without_batch(layer, groups, event)
        return
    try:
        await layer.group_send_batch(batch)
    except NotPublished as exc:  # this process's sockets have them: sent again, they would get them twice
        logger.warning("live events reached this process's sockets but no other process (events: %d): %s", len(batch), exc)
    except Exception as exc:  # noqa: BLE001 - a down layer must not fail the changes that were stored
        if len(batch) == 1:
            _log_not_sent(batch[0][0], exc)
            return
        every_group = {group for groups, _ in batch for group in groups}
        logger.warning(
            "live events not sent in one batch (events: %d, groups: %d): %s: %s; sending them one by one",
            len(batch), len(every_group), type(exc).__name__, exc,
        )
        for groups, event in batch:  # one bad event must not take the ones queued with it
            try:
                await layer.group_send_batch([(groups, event)])
            except Exception as failure:  # noqa: BLE001
                _log_not_sent(groups, failure)


async def _send_without_batch(layer, groups: list[str], event: Event) -> None:
    """Send one event to each group through a layer without group_send_batch; log a failure, never raise it."""
    for group in groups:
        try:
            await layer.group_send(group, event)
        except Exception as exc:  # noqa: BLE001 - a down layer must not fail the change that was stored
            _log_not_sent([group], exc)


def _log_not_sent(groups: list[str], exc: Exception) -> None:
    where = groups[0] if len(groups) == 1 else f"{len(groups)} groups ({groups[0]}, ...)"
    logger.warning("live event to %s not sent: %s: %s", where, type(exc).__name__, exc)


class _Outbox:
    """The sends handed to one event loop, made in order by at most one task, as batches."""

    __slots__ = ("pending", "sender")

    def __init__(self) -> None:
        self.pending: deque[tuple[list[str], Event]] = deque()
        self.sender: asyncio.Task | None = None

    def put(self, groups: list[str], event: Event) -> None:
        """Queue a send behind the earlier ones; call on the outbox's loop."""
        self.pending.append((groups, event))
        if self.sender is None:
            self.sender = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        """Send what is queued, then what was queued meanwhile, each time as one batch, until none is left."""
        try:
            while self.pending:
                batch = list(self.pending)
                self.pending.clear()
                try:
                    await _send_batch(batch)
                except Exception:  # noqa: BLE001 - a bug here must not stop the sends queued behind
                    logger.exception("%d live events not sent", len(batch))
        finally:
            self.sender = None


_outboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Outbox] = weakref.WeakKeyDictionary()


def _hand_over(groups: list[str], event: Event) -> None:
    """Queue a send on the running loop's outbox; call on that loop."""
    loop = asyncio.get_running_loop()
    outbox = _outboxes.get(loop)
    if outbox is None:
        outbox = _outboxes[loop] = _Outbox()
    outbox.put(groups, event)


def _deliver(groups: list[str], event: Event) -> None:
    """Send an event to groups: queued on the event loop this code serves, else sent while waiting."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        _hand_over(groups, event)
        return
    loop = serving_loop.get()
    if loop is not None and loop.is_running():
        try:
            loop.call_soon_threadsafe(_hand_over, groups, event)
            return
        except RuntimeError:  # the loop closed since: send from here instead
            pass
    # A fresh loop: never wait on a loop that has stopped (a database thread at server shutdown).
    async_to_sync(_send_batch, force_new_loop=True)([(groups, event)])


class ServingLoop:
    """ASGI middleware: mark the code that serves a connection with its event loop (see `serving_loop`)."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        serving_loop.set(asyncio.get_running_loop())
        return await self.application(scope, receive, send)
