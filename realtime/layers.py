"""Channel layers: an in-process one for the embedded setup, and channels-redis pub/sub with a waiting pool."""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import threading
from collections import defaultdict, deque
from collections.abc import Iterable

from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer
from channels_redis import pubsub
from channels_redis.utils import _consistent_hash, _wrap_close
from redis.asyncio import Redis

from realtime import redis as redis_clients

logger = logging.getLogger("dedwen.realtime.layer")

PIPELINE_SIZE = 500  # PUBLISH commands sent in one round trip by group_send_many


class _Inbox:
    """One channel's pending messages and the receiver waiting for them, bound to its event loop."""

    __slots__ = ("loop", "messages", "waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.messages: deque[dict] = deque()
        self.waiter: asyncio.Future | None = None

    def put(self, message: dict) -> None:
        """Queue a message and wake the receiver; call on the inbox's own loop."""
        self.messages.append(message)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class InProcessChannelLayer(BaseChannelLayer):
    """Channels and groups held in this process, for the embedded (single-process) setup.

    Unlike Channels' InMemoryChannelLayer it never walks every channel or group: a send touches one
    inbox, a group send touches only the group's members. Messages are not copied (senders hand
    over immutable payloads), receivers that go away are forgotten at once, and a send from another
    thread or event loop is handed to the receiver's loop safely. Nothing is dropped silently: a
    channel over capacity raises ChannelFull for a direct send and is logged for a group send.
    """

    extensions = ["groups", "flush"]

    def __init__(self, expiry: int = 60, group_expiry: int = 86400, capacity: int = 10_000, channel_capacity=None, **kwargs):
        super().__init__(expiry=expiry, capacity=capacity, channel_capacity=channel_capacity, **kwargs)
        self._inboxes: dict[str, _Inbox] = {}
        self._groups: dict[str, set[str]] = {}
        self._memberships: dict[str, set[str]] = {}
        self._counter = itertools.count()
        self._prefix = secrets.token_hex(4)
        self._lock = threading.Lock()

    # Channel API ---------------------------------------------------------------------------

    async def new_channel(self, prefix: str = "specific.") -> str:
        """Return a fresh channel name that this process can receive on."""
        name = f"{prefix}inprocess!{self._prefix}{next(self._counter)}"
        self._inboxes[name] = _Inbox(asyncio.get_running_loop())
        return name

    async def send(self, channel: str, message: dict) -> None:
        """Deliver a message to one channel, or raise ChannelFull when it is over capacity."""
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        if not self._deliver(channel, message):
            raise ChannelFull(channel)

    async def receive(self, channel: str) -> dict:
        """Wait for the next message on a channel created by new_channel."""
        self.require_valid_channel_name(channel)
        inbox = self._inboxes.get(channel)
        if inbox is None:
            inbox = self._inboxes[channel] = _Inbox(asyncio.get_running_loop())
        try:
            while not inbox.messages:
                inbox.waiter = inbox.loop.create_future()
                try:
                    await inbox.waiter
                finally:
                    inbox.waiter = None
            return inbox.messages.popleft()
        except asyncio.CancelledError:
            self._forget(channel)
            raise

    # Groups -----------------------------------------------------------------------------------

    async def group_add(self, group: str, channel: str) -> None:
        """Add a channel to a group; memberships last until discarded or the channel goes away."""
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        with self._lock:
            self._groups.setdefault(group, set()).add(channel)
            self._memberships.setdefault(channel, set()).add(group)

    async def group_discard(self, group: str, channel: str) -> None:
        """Remove a channel from a group."""
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        with self._lock:
            self._leave(group, channel)
            groups = self._memberships.get(channel)
            if groups is not None:
                groups.discard(group)
                if not groups:
                    del self._memberships[channel]

    async def group_send(self, group: str, message: dict) -> None:
        """Deliver a message to every member of a group."""
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        with self._lock:
            members = tuple(self._groups.get(group, ()))
        for channel in members:
            if not self._deliver(channel, message):
                logger.warning("channel over capacity; message for group %s not delivered to %s", group, channel)

    async def group_send_many(self, groups: Iterable[str], message: dict) -> None:
        """Deliver one message to the members of several groups."""
        for group in groups:
            await self.group_send(group, message)

    async def flush(self) -> None:
        """Forget every channel and group."""
        with self._lock:
            self._inboxes.clear()
            self._groups.clear()
            self._memberships.clear()

    async def close(self) -> None:
        """Nothing to release."""

    # Internals --------------------------------------------------------------------------------

    def _deliver(self, channel: str, message: dict) -> bool:
        inbox = self._inboxes.get(channel)
        if inbox is None:
            return True  # nobody receives on it any more: there is nobody to lose the message for
        if len(inbox.messages) >= self.get_capacity(channel):
            return False
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is inbox.loop:
            inbox.put(message)
        elif inbox.loop.is_closed():
            self._forget(channel)
        else:
            inbox.loop.call_soon_threadsafe(inbox.put, message)
        return True

    def _leave(self, group: str, channel: str) -> None:
        members = self._groups.get(group)
        if members is not None:
            members.discard(channel)
            if not members:
                del self._groups[group]

    def _forget(self, channel: str) -> None:
        with self._lock:
            self._inboxes.pop(channel, None)
            for group in self._memberships.pop(channel, ()):
                self._leave(group, channel)


class RedisPubSubChannelLayer(pubsub.RedisPubSubChannelLayer):
    """channels-redis' pub/sub layer, with a Redis pool that waits for a free connection instead of raising.

    Pub/sub keeps group memberships as Redis subscriptions held by this process, so they never
    expire under a long-lived socket (unlike the core layer's `group_expiry`). Each host entry's
    extra keys go to realtime.redis.async_pool (a BlockingConnectionPool, or the Sentinel master's: max_connections, timeout, socket timeouts, ...).
    """

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = _BlockingPoolLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
        return layer

    async def group_send_many(self, groups: Iterable[str], message: dict) -> None:
        """Publish one message to several groups: serialized once, one pipelined round trip per shard."""
        await self._get_layer().group_send_many(groups, message)


class _BlockingPoolShard(pubsub.RedisSingleShardConnection):
    def _ensure_redis(self) -> None:
        if self._redis is None:
            options = dict(self.host)
            pool = redis_clients.async_pool(options.pop("address"), **options)
            self._redis = Redis(connection_pool=pool)
            self._pubsub = self._redis.pubsub()


class _BlockingPoolLoopLayer(pubsub.RedisPubSubLoopLayer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shards = [_BlockingPoolShard(shard.host, self) for shard in self._shards]

    async def group_send_many(self, groups: Iterable[str], message: dict) -> None:
        """Publish one message to several groups, serialized once, in one pipeline per shard.

        The library's group_send serializes and publishes per group, one round trip each: a fan-out
        to 1,000 user groups then waits for 1,000 replies in turn.
        """
        payload = self.channel_layer.serialize(message)
        by_shard: dict[int, list[str]] = defaultdict(list)
        for group in groups:
            channel = self._get_group_channel_name(group)
            by_shard[_consistent_hash(channel, len(self._shards))].append(channel)
        for index, channels in by_shard.items():
            shard = self._shards[index]
            async with shard._lock:
                shard._ensure_redis()
                for start in range(0, len(channels), PIPELINE_SIZE):
                    pipe = shard._redis.pipeline(transaction=False)
                    for channel in channels[start : start + PIPELINE_SIZE]:
                        pipe.publish(channel, payload)
                    await pipe.execute()
