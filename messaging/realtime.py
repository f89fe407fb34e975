"""Frame handlers for messaging: message.send, message.read, typing and sync (registered with the kernel)."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings

from messaging import selectors, services
from messaging.protocol import MessagingClientFrame, MessagingServerFrame
from messaging.serializers import (
    MessageReadFrameSerializer,
    SyncFrameSerializer,
    TypingFrameSerializer,
    message_data,
    message_send_frame,
)
from realtime import db, metrics
from realtime.context import SocketContext
from realtime.errors import JsonableError
from realtime.fields import validated
from realtime.protocol import ServerFrame
from realtime.registry import SocketApp

PARTICIPANTS_TTL = 5.0  # seconds a conversation's participant list is trusted for `typing` (docs/protocol.md)
PARTICIPANTS_CACHED = 10_000  # conversations whose participants a process keeps at most


class ParticipantCache:
    """Participant ids of recently used conversations, each trusted for `ttl` seconds; the oldest go first.

    Used on the event loop, so `typing` reaches the database once per conversation per `ttl`; a leave
    forgets its conversation at once on the process that stored it (other processes within `ttl`).
    """

    def __init__(self, *, ttl: float, size: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self._entries: OrderedDict[int, tuple[float, tuple[int, ...]]] = OrderedDict()

    def get(self, conversation_id: int) -> tuple[int, ...] | None:
        """Return the cached participants of a conversation in joining order, or None when unknown or expired."""
        entry = self._entries.get(conversation_id)
        if entry is None:
            return None
        if entry[0] <= self.clock():
            self._entries.pop(conversation_id, None)
            return None
        return entry[1]

    def put(self, conversation_id: int, participant_ids: list[int]) -> tuple[int, ...]:
        """Remember a conversation's participants for `ttl` seconds, dropping the oldest entry when full."""
        participants = tuple(participant_ids)
        self._entries.pop(conversation_id, None)
        self._entries[conversation_id] = (self.clock() + self.ttl, participants)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return participants

    def forget(self, conversation_id: int) -> None:
        """Drop a conversation whose participants changed (safe from a database thread: one atomic pop)."""
        self._entries.pop(conversation_id, None)

    def clear(self) -> None:
        """Forget every conversation."""
        self._entries.clear()


participants = ParticipantCache(ttl=PARTICIPANTS_TTL, size=PARTICIPANTS_CACHED)


SEND_BATCH = services.MAX_SENDS  # message.send frames stored in one database trip and transaction, at most


class SendQueue:
    """The `message.send` frames of one event loop waiting for the database thread, stored together.

    While one trip runs, the frames that arrive wait; the next trip stores all of them (at most
    SEND_BATCH) in one transaction (services.send_messages). Each frame keeps its own result: a
    refusal fails only its frame. When the trip itself fails, the database down fails each with
    Unavailable, and anything else stores each frame alone, so that one bad frame fails alone.
    A socket has at most one frame in here (its frames are dispatched one at a time).
    """

    def __init__(self) -> None:
        self._waiting: list[tuple[services.Outgoing, asyncio.Future]] = []
        self._worker: asyncio.Task | None = None

    async def send(self, outgoing: services.Outgoing) -> services.Sent:
        """Store a message with the others waiting; return it once committed, or raise its refusal."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._waiting.append((outgoing, done))
        if self._worker is None:
            self._worker = loop.create_task(self._store_waiting())
        result = await done
        if isinstance(result, JsonableError):
            raise result
        return result

    async def _store_waiting(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:SEND_BATCH], self._waiting[SEND_BATCH:]
                await self._store(batch)
        finally:
            self._worker = None

    async def _store(self, batch: list[tuple[services.Outgoing, asyncio.Future]]) -> None:
        try:
            results = await db.call(services.send_messages, outgoing=[outgoing for outgoing, _ in batch])
        except asyncio.CancelledError:  # the loop is shutting down: no handler may wait for ever
            for _, done in batch:
                done.cancel()
            raise
        except db.Unavailable as exc:
            for _, done in batch:
                _settle(done, exception=db.Unavailable(*exc.args))
        except Exception as exc:  # noqa: BLE001 - handed to the frame's handler, or retried alone
            if len(batch) == 1:
                _settle(batch[0][1], exception=exc)
            else:
                for item in batch:
                    await self._store([item])
        else:
            for (_, done), result in zip(batch, results, strict=True):
                _settle(done, result=result)


def _settle(done: asyncio.Future, *, result: Any = None, exception: BaseException | None = None) -> None:
    if done.done():  # its handler was cancelled (the socket closed): the message is stored all the same
        return
    if exception is not None:
        done.set_exception(exception)
    else:
        done.set_result(result)


_send_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SendQueue] = weakref.WeakKeyDictionary()


def send_queue() -> SendQueue:
    """Return the running event loop's SendQueue."""
    loop = asyncio.get_running_loop()
    queue = _send_queues.get(loop)
    if queue is None:
        queue = _send_queues[loop] = SendQueue()
    return queue


async def message_send(ctx: SocketContext, data: Mapping[str, Any], ref: str | None) -> None:
    """Store a message and acknowledge it; every participant's other sockets get `message.new`."""
    started = time.perf_counter()
    form = message_send_frame(data)
    sent = await send_queue().send(
        services.Outgoing(
            sender=ctx.user,
            conversation_id=form["conversation_id"],
            body=form["body"],
            client_id=form["client_id"],
            exclude_channel=ctx.channel_name,
        )
    )
    await ctx.send_frame(ServerFrame.ACK, {"message": sent.data}, ref)
    metrics.MESSAGE_SEND_SECONDS.observe(time.perf_counter() - started)


def _read(*, user, conversation_id: int, message_id: int) -> None:
    """Check access, find the message and move the marker (one trip to the database thread)."""
    conversation = selectors.access_conversation(user=user, conversation_id=conversation_id)
    message = selectors.conversation_message(conversation=conversation, message_id=message_id)
    services.mark_read(user=user, conversation=conversation, message=message)


async def message_read(ctx: SocketContext, data: Mapping[str, Any], ref: str | None) -> None:
    """Move the read marker; the other participants get `message.read`."""
    form = validated(MessageReadFrameSerializer, data)
    await db.call(_read, user=ctx.user, conversation_id=form["conversation_id"], message_id=form["message_id"])
    if ref is not None:
        await ctx.send_frame(ServerFrame.ACK, {"conversation_id": form["conversation_id"], "message_id": form["message_id"]}, ref)


async def _participants(ctx: SocketContext, conversation_id: int) -> tuple[int, ...]:
    """Return a conversation's participants from the cache, or from the database (refusing a non-participant)."""
    cached = participants.get(conversation_id)
    if cached is not None and ctx.user_id in cached:
        return cached
    found = await db.call(selectors.conversation_participant_ids, user=ctx.user, conversation_id=conversation_id)
    return participants.put(conversation_id, found)


async def typing(ctx: SocketContext, data: Mapping[str, Any], ref: str | None) -> None:
    """Tell the other participants that the user is typing (no database trip while the participants are cached)."""
    conversation_id = validated(TypingFrameSerializer, data)["conversation_id"]
    participant_ids = await _participants(ctx, conversation_id)
    services.typing(user=ctx.user, conversation_id=conversation_id, participant_ids=participant_ids)
    if ref is not None:
        await ctx.send_frame(ServerFrame.ACK, {"conversation_id": conversation_id}, ref)


async def sync(ctx: SocketContext, data: Mapping[str, Any], ref: str | None) -> None:
    """Replay up to DEDWEN_SYNC_BATCH later messages as `message.new`, in id order, then `sync.done` saying whether more remain."""
    last_id = validated(SyncFrameSerializer, data)["after"]
    batch_size = settings.DEDWEN_SYNC_BATCH
    # One more than a page tells whether another page follows, without a second query.
    found = await db.call(selectors.messages_after, user=ctx.user, after=last_id, limit=batch_size + 1)
    for message in found[:batch_size]:
        frame = {"conversation_id": message.conversation_id, "message": message_data(message)}
        await ctx.send_frame(MessagingServerFrame.MESSAGE_NEW, frame, None)
        last_id = message.pk
    await ctx.send_frame(MessagingServerFrame.SYNC_DONE, {"last_id": last_id, "more": len(found) > batch_size}, ref)


SOCKET_APP = SocketApp(
    name="messaging",
    client_frames=MessagingClientFrame,
    server_frames=MessagingServerFrame,
    handlers={
        MessagingClientFrame.MESSAGE_SEND: message_send,
        MessagingClientFrame.MESSAGE_READ: message_read,
        MessagingClientFrame.TYPING: typing,
        MessagingClientFrame.SYNC: sync,
    },
)
