"""Frame handlers for messaging: message.send, message.read, typing and sync (registered with the kernel)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

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

logger = logging.getLogger("dedwen.messaging")

PARTICIPANTS_TTL = 5.0  # seconds a conversation's participant list is trusted for `typing` (docs/protocol.md)
PARTICIPANTS_CACHED = 10_000  # conversations whose participants a process keeps at most
# The share of its life after which a list in use is read again in the background, drawn per list.
PARTICIPANTS_REFRESH = (0.6, 0.9)


class _Entry(NamedTuple):
    expires_at: float
    refresh_at: float
    participant_ids: tuple[int, ...]


class ParticipantCache:
    """Participant ids of recently used conversations, each trusted for `ttl` seconds; the oldest go first.

    Used on the event loop, so `typing` reaches the database once per conversation per `ttl`. A list
    still in use after a random 60–90 % of its life is read again in the background (`claim_refresh`):
    a conversation in use does not wait for the database, and lists stored together are not read
    again together. A leave forgets its conversation at once on the process that stored it (other
    processes within `ttl`); a read that began before any forget is not stored.
    """

    def __init__(
        self,
        *,
        ttl: float,
        size: int,
        clock: Callable[[], float] = time.monotonic,
        refresh: tuple[float, float] = PARTICIPANTS_REFRESH,
        draw: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self.refresh = refresh
        self.draw = draw
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._refreshing: set[int] = set()
        self._forgets = itertools.count(1)
        # Changed by every forget; a read stores its list only if it is unchanged since the read began.
        self.epoch = 0
        self._lock = threading.Lock()  # forget runs in the database thread, the rest on the event loop

    def get(self, conversation_id: int) -> tuple[int, ...] | None:
        """Return the cached participants of a conversation in joining order, or None when unknown or expired."""
        entry = self._entries.get(conversation_id)
        if entry is None or entry.expires_at <= self.clock():
            return None
        return entry.participant_ids

    def claim_refresh(self, conversation_id: int) -> bool:
        """Return True, once, when the conversation's list is past its refresh point: the caller reads it again."""
        entry = self._entries.get(conversation_id)
        if entry is None or entry.refresh_at > self.clock() or conversation_id in self._refreshing:
            return False
        self._refreshing.add(conversation_id)
        return True

    def release(self, conversation_id: int) -> None:
        """End a claimed refresh that stored nothing (the list then expires as usual)."""
        self._refreshing.discard(conversation_id)

    def put(self, conversation_id: int, participant_ids: list[int], *, epoch: int) -> tuple[int, ...]:
        """Remember a conversation's participants read at `epoch`, unless a forget came since; return them."""
        participants = tuple(participant_ids)
        now = self.clock()
        entry = _Entry(now + self.ttl, now + self.ttl * self.draw(*self.refresh), participants)
        with self._lock:
            self._refreshing.discard(conversation_id)
            if epoch != self.epoch:
                return participants
            self._entries.pop(conversation_id, None)
            self._entries[conversation_id] = entry
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return participants

    def forget(self, conversation_id: int) -> None:
        """Drop a conversation whose participants changed, and any read of it under way (safe from any thread)."""
        with self._lock:
            self.epoch = next(self._forgets)
            self._entries.pop(conversation_id, None)
            self._refreshing.discard(conversation_id)

    def clear(self) -> None:
        """Forget every conversation."""
        with self._lock:
            self.epoch = next(self._forgets)
            self._entries.clear()
            self._refreshing.clear()


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
        if participants.claim_refresh(conversation_id):
            refresh = asyncio.get_running_loop().create_task(_refresh_participants(ctx.user, conversation_id))
            _refreshes.add(refresh)
            refresh.add_done_callback(_refreshes.discard)
        return cached
    return await _read_participants(ctx.user, conversation_id)


async def _read_participants(user, conversation_id: int) -> tuple[int, ...]:
    epoch = participants.epoch
    found = await db.call(selectors.conversation_participant_ids, user=user, conversation_id=conversation_id)
    return participants.put(conversation_id, found, epoch=epoch)


_refreshes: set[asyncio.Task] = set()  # the background reads under way (the loop keeps only weak references)


async def _refresh_participants(user, conversation_id: int) -> None:
    """Read a cached list again before it expires; when that fails, the list expires as usual."""
    try:
        await _read_participants(user, conversation_id)
    except selectors.ConversationNotFound:  # the user who asked has left: the cached list is wrong
        participants.forget(conversation_id)
    except db.Unavailable:
        pass
    except Exception:  # noqa: BLE001 - nobody awaits this task: say why, and let the list expire
        logger.exception("participants of conversation %s not read again", conversation_id)
    finally:
        participants.release(conversation_id)


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
