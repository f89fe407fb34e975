"""Channel layers: an in-process one for the embedded setup, and channels-redis pub/sub with a waiting pool."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import secrets
import threading
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence

from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer
from channels_redis import pubsub
from channels_redis.utils import _consistent_hash, _wrap_close
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from realtime import redis as redis_clients

logger = logging.getLogger("dedwen.realtime.layer")

PIPELINE_SIZE = 500  # PUBLISH commands sent in one round trip by group_send_many and group_send_batch
PUBLISHER_HELD_FOR = 5.0  # seconds a shard publishes on one pool connection before handing it back (see `_Shard`)
MULTICAST_MIN_GROUPS = 16  # group_send_many to this many groups or more: one PUBLISH to every process instead
CHECKED_NAMES = 65_536  # group names the in-process layer remembers as checked, at most (then it starts over)
GROUP_NAMES_KEPT = 65_536  # groups whose Redis channel name the pub/sub layer keeps, at most (least recently used go)
ORIGIN = "__origin__"  # the key naming the pub/sub layer that published a group message (see `_LoopLayer._echo`)


# A channel's direct receiver (see `receive_directly`): takes messages synchronously, in order, on
# the channel's event loop, and returns how many of them it handled, counted from the first (the
# rest are queued for `receive`). Several at once: a batch's messages for one channel arrive in one
# call, so a presence tick's frames reach a socket as one write, not one call chain per frame.
DirectReceiver = Callable[[Sequence[dict]], int]


def offer(receiver: DirectReceiver | None, messages: Sequence[dict]) -> int:
    """Hand messages to a channel's direct receiver; return how many it took (a failing receiver counts as taking them all)."""
    if receiver is None:
        return 0
    try:
        return receiver(messages)
    except Exception:  # noqa: BLE001 - one receiver's bug must not stop the delivery to the others
        logger.exception("a direct receiver failed; its messages are dropped")
        return len(messages)


class NotPublished(Exception):
    """Redis failed a group send whose messages this process's own members already have (do not send it again)."""


def _running_loop() -> asyncio.AbstractEventLoop | None:
    """Return the running event loop, or None in a thread without one."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _Inbox:
    """One channel's pending messages, its direct receiver and the task waiting for them, bound to its event loop.

    Both layers keep one per socket's channel, so it is small: an asyncio.Queue (with its three
    deques and an Event) took about 3.3 KB, this about 0.2 KB while nothing is queued (the deque
    is made for the first message queued).
    """

    __slots__ = ("direct", "loop", "messages", "waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.messages: deque[dict | bytes] | None = None
        self.waiter: asyncio.Future | None = None
        self.direct: DirectReceiver | None = None

    def put(self, message: dict | bytes) -> None:
        """Queue a message and wake the receiver; call on the inbox's own loop."""
        if self.messages is None:
            self.messages = deque()
        self.messages.append(message)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def offer_or_put(self, messages: Sequence[dict | bytes]) -> None:
        """Hand messages to the direct receiver when nothing is queued; queue the ones it does not take (see `put`)."""
        taken = offer(self.direct, messages) if not self.messages and self.direct is not None else 0
        for message in messages[taken:] if taken else messages:
            self.put(message)

    async def get(self) -> dict | bytes:
        """Wait for the next queued message (one receiver at a time)."""
        while not self.messages:
            self.waiter = self.loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return self.messages.popleft()


class InProcessChannelLayer(BaseChannelLayer):
    """Channels and groups held in this process, for the embedded (single-process) setup.

    Unlike Channels' InMemoryChannelLayer it never walks every channel or group: a send touches one
    inbox, a group send touches only the group's members. Messages are not copied (senders hand
    over immutable payloads), receivers that go away are forgotten at once, and a send from another
    thread or event loop is handed to the receiver's loop safely. Nothing is dropped silently: a
    channel over capacity raises ChannelFull for a direct send and is logged for a group send.
    `group_send_many` and `group_send_batch` (the publisher's one entry point, see publish.py)
    deliver as group_send does, message after message in the order given.

    `receive_directly(channel, receiver)` (both dedwen layers have it): while nothing is queued on
    the channel, its messages are handed to `receiver(message)` synchronously, on the channel's
    loop, by whoever delivers them (a group send, a pub/sub message), instead of waking the task
    that waits in `receive`. A fan-out then costs one call per member, not one task wake-up each.
    The receiver returns False to have the message queued as usual (it is busy: order is kept,
    since a message queued behind another is never offered).
    """

    extensions = ["groups", "flush", "direct"]

    def __init__(self, expiry: int = 60, group_expiry: int = 86400, capacity: int = 10_000, channel_capacity=None, **kwargs):
        super().__init__(expiry=expiry, capacity=capacity, channel_capacity=channel_capacity, **kwargs)
        self._inboxes: dict[str, _Inbox] = {}
        self._groups: dict[str, set[str]] = {}
        self._memberships: dict[str, set[str]] = {}
        self._counter = itertools.count()
        self._prefix = secrets.token_hex(4)
        self._lock = threading.Lock()
        self._checked: set[str] = set()  # group names sent to without members, already found valid

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
        if self._deliver(channel, [message]):
            raise ChannelFull(channel)

    def receive_directly(self, channel: str, receiver: DirectReceiver | None) -> None:
        """Hand the channel's messages to `receiver` at once while none is queued (None: stop); see the class docstring."""
        inbox = self._inboxes.get(channel)
        if inbox is not None:
            inbox.direct = receiver

    async def receive(self, channel: str) -> dict:
        """Wait for the next message on a channel created by new_channel."""
        self.require_valid_channel_name(channel)
        inbox = self._inboxes.get(channel)
        if inbox is None:
            inbox = self._inboxes[channel] = _Inbox(asyncio.get_running_loop())
        try:
            return await inbox.get()
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
        self._deliver_batch([((group,), message)], _running_loop())

    async def group_send_many(self, groups: Iterable[str], message: dict) -> None:
        """Deliver one message to the members of several groups."""
        self._deliver_batch([(groups, message)], _running_loop())

    async def group_send_batch(self, sends: list[tuple[list[str], dict]]) -> None:
        """Deliver several messages in order, each to the members of its groups (as group_send_many)."""
        self._deliver_batch(sends, _running_loop())

    async def group_add_many(self, groups: Iterable[str], channel: str) -> None:
        """Add a channel to several groups."""
        for group in groups:
            await self.group_add(group, channel)

    async def group_discard_many(self, groups: Iterable[str], channel: str) -> None:
        """Remove a channel from several groups."""
        for group in groups:
            await self.group_discard(group, channel)

    async def flush(self) -> None:
        """Forget every channel and group."""
        with self._lock:
            self._inboxes.clear()
            self._groups.clear()
            self._memberships.clear()

    async def close(self) -> None:
        """Nothing to release."""

    # Internals --------------------------------------------------------------------------------

    def _deliver_batch(self, sends: Iterable[tuple[Iterable[str], dict]], running: asyncio.AbstractEventLoop | None) -> None:
        """Deliver messages in order, each to the members of each of its groups; raise before delivering anything if a name is invalid.

        Each member gets all its messages of the batch in one hand-over, in order: a presence tick
        of several arrivals is one call per socket, not one per frame. A name with members was
        checked when they joined (`group_add`), so only the others are checked here, once each
        (`_check_unjoined`): a presence announcement names one group per watcher, present or not,
        and checking each name again cost as much as delivering to it. The members are taken under
        one hold of the lock.
        """
        by_channel: dict[str, list[dict]] = {}
        unjoined: list[str] = []
        with self._lock:
            for groups, message in sends:
                assert isinstance(message, dict), "message is not a dict"
                for group in groups:
                    members = self._groups.get(group)
                    if not members:
                        unjoined.append(group)
                        continue
                    for channel in members:
                        by_channel.setdefault(channel, []).append(message)
        for group in unjoined:
            self._check_unjoined(group)
        for channel, messages in by_channel.items():
            dropped = self._deliver(channel, messages, running)
            if dropped:
                logger.warning("channel over capacity; group messages not delivered to %s: %d", channel, dropped)

    def _check_unjoined(self, group: str) -> None:
        """Raise as Channels does for an invalid group name; remember the valid ones, up to CHECKED_NAMES."""
        if group in self._checked:
            return
        self.require_valid_group_name(group)
        if len(self._checked) >= CHECKED_NAMES:
            self._checked.clear()
        self._checked.add(group)

    def _deliver(self, channel: str, messages: list[dict], running: asyncio.AbstractEventLoop | None = None) -> int:
        """Hand messages to a channel's inbox, in order; return how many were dropped because its queue is full."""
        inbox = self._inboxes.get(channel)
        if inbox is None:
            return 0  # nobody receives on it any more: there is nobody to lose the messages for
        dropped = 0
        if inbox.messages or len(messages) > 1:  # get_capacity matches patterns: only when a queue may grow
            room = max(0, self.get_capacity(channel) - len(inbox.messages or ()))
            if len(messages) > room:
                dropped, messages = len(messages) - room, messages[:room]
                if not messages:
                    return dropped
        if running is None:
            running = _running_loop()
        if running is inbox.loop:
            inbox.offer_or_put(messages)
        elif inbox.loop.is_closed():
            self._forget(channel)
        else:
            inbox.loop.call_soon_threadsafe(inbox.offer_or_put, messages)
        return dropped

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
    """channels-redis' pub/sub layer (same Redis channels and messages), made cheaper per socket and per fan-out.

    Pub/sub keeps group memberships as Redis subscriptions held by this process, so they never
    expire under a long-lived socket (unlike the core layer's `group_expiry`). Each host entry's
    extra keys go to realtime.redis.async_pool (a BlockingConnectionPool, or the Sentinel master's:
    max_connections, timeout, socket timeouts, ...). What differs from the library (`_LoopLayer`):

    - Publishing (send, group_send, group_send_many, group_send_batch) does not take the shard's
      lock, which the library holds around every SUBSCRIBE and UNSUBSCRIBE of the process: a
      PUBLISH goes out on a pool connection that the shard holds for publishing (several written
      at once), never waiting behind other sockets' subscriptions, and without redis-py's
      per-command machinery (see `_Shard`). One caller's publishes stay in order (each is awaited
      before the next goes out).
    - `group_add_many(groups, channel)` subscribes a socket's groups with one SUBSCRIBE, and with
      them its channel: `new_channel` only names the channel, which is subscribed by the first
      group_add(_many) or receive on it, or by a send to it from this process (another process
      learns the name only once the socket has joined its groups).
    - `group_send_many` to MULTICAST_MIN_GROUPS groups or more is one PUBLISH to the layer's
      multicast channel, which every process of the layer subscribes to with its first group: the
      message names the groups, and each process delivers it to its own members of them (each
      member once). Every process decodes every multicast; in return a presence arrival in a
      1,000-member conversation costs one PUBLISH instead of 1,000. Fewer groups are published
      one PUBLISH each, pipelined.
    - `group_send_batch([(groups, message), ...])` publishes several messages in order, each as
      group_send_many would, in one pipelined round trip per shard: publish.py hands it every event
      queued while the previous round trip was out, so that live delivery keeps up with the sends
      under load (one round trip per event fell 1.8 s behind the acks at 1,300 sends/s). A run of
      multicasts in a batch (a presence tick's arrivals) is one PUBLISH, and each process hands
      each of its members all of that run's messages for it in one call.
    - A group message reaches the members of the sending layer (this process, this event loop) at
      once, before its PUBLISH goes out, as the in-process layer delivers (Phoenix PubSub and
      socket.io's Redis adapter do the same): a relay between two sockets of one process no
      longer waits on a Redis round trip and the pub/sub receiver. The message carries its
      layer's origin (`ORIGIN`, 8 random bytes) into Redis, and the layer skips it when Redis
      hands it back (`is_echo`, a byte comparison, nothing decoded); other layers drop the key
      when they decode it. A send to one channel (`send`) still goes through Redis: the
      readiness probe's round trip relies on it.
    - A message for several members of this process is decoded once for all of them (receivers
      get the same dict and must not change it, as with the in-process layer).
    - `receive_directly(channel, receiver)`, as InProcessChannelLayer's: the pub/sub receiver task
      hands each message to the channel's receiver while nothing is queued for it, so a multicast
      to 1,000 members of this process is delivered in one task step.

    Ordering: one layer's group messages reach its own members in the order they were sent; a
    multicast and a group's own PUBLISH reach another process on the same pub/sub connection (one
    Redis host: one shard) in the order Redis ran them, and one caller runs them in the order it
    awaited them (a batch's in the order listed, one pipeline per shard). So a recipient receives
    one sender's events in the order they were sent, whichever way each went. Between senders on
    different processes there is no order: a process's own message can reach its members before
    one that Redis ran earlier is read from the pub/sub connection. (With several hosts, as in
    the library, there is no order across shards either.)

    This overrides channels-redis internals (RedisPubSubLoopLayer, RedisSingleShardConnection:
    `channels`, `groups`, `_shards`, `_subscribed_to`, `_lock`, `_redis`, `_pubsub`, `_receive_message`, `flush`),
    read on channels-redis 4.3.0; pyproject.toml pins channels-redis to 4.3.x.
    """

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = _LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
        return layer

    async def group_send_many(self, groups: Iterable[str], message: dict) -> None:
        """Publish one message to several groups: serialized once; one multicast for many groups."""
        await self._get_layer().group_send_many(groups, message)

    async def group_send_batch(self, sends: list[tuple[list[str], dict]]) -> None:
        """Publish several messages, each to its groups, in order: one pipelined round trip per shard."""
        await self._get_layer().group_send_batch(sends)

    async def group_add_many(self, groups: Iterable[str], channel: str) -> None:
        """Add a channel of this process to several groups (and subscribe it), one SUBSCRIBE per shard."""
        await self._get_layer().group_add_many(groups, channel)

    async def group_discard_many(self, groups: Iterable[str], channel: str) -> None:
        """Remove a channel from several groups, one UNSUBSCRIBE per shard for the groups left empty."""
        await self._get_layer().group_discard_many(groups, channel)

    def receive_directly(self, channel: str, receiver: DirectReceiver | None) -> None:
        """Hand a channel's messages to `receiver` at once while none is queued (None: stop); as InProcessChannelLayer's."""
        self._get_layer().receive_directly(channel, receiver)


async def _as_pushed(response):
    """Return a pub/sub message as Redis pushed it (what redis-py's default handler returns, without its debug line)."""
    return response


class _Shard(pubsub.RedisSingleShardConnection):
    """One Redis host: a pool that waits for a free connection, publishes outside the lock, batched (un)subscribes.

    Publishing goes below redis-py's command machinery: the shard holds one pool connection for
    up to PUBLISHER_HELD_FOR seconds and writes each call's PUBLISH commands to it at once
    (`send_packed_command`), then reads their replies, one caller at a time. `Redis.execute_command`
    checks a connection out and in, and wraps each command in its retry and each write in a task
    for the write's timeout: `python -m bench.hop` (a frame published, and received by another
    layer, on one core), three alternated runs each, took 216-285 µs of CPU per frame that way and
    166-189 µs on the held connection (docs/performance.md). Handing the connection back
    every few seconds keeps what the pool does on check-in and checkout: in Sentinel mode a
    connection to a demoted master is dropped there, and a connection gone stale is replaced.
    A connection error fails the call after one more try on a fresh connection, as redis-py's
    retry would (a PUBLISH the broken connection had carried may then run twice; clients keep
    messages and notifications by id); any other failure drops the connection, whose replies can
    no longer be matched to their commands.

    redis-py's RESP3 push handler builds the `str()` of every received message for a debug line;
    `_as_pushed` skips it (a sixth of a Redis hop's CPU with the pipeline per lone PUBLISH that the
    shard used then: `python -m bench.hop` at `3923b33`, 180-184 µs per frame with them, 152-158
    without).
    """

    def __init__(self, host, channel_layer) -> None:
        super().__init__(host, channel_layer)
        self._leaving: dict[str, None] = {}  # channels queued for the next UNSUBSCRIBE, in order
        self._leaver: asyncio.Task | None = None
        self._publishing = asyncio.Lock()  # one caller's PUBLISH commands and replies at a time
        self._publisher = None  # the pool connection held for publishing, and until when
        self._publisher_until = 0.0

    def _ensure_redis(self) -> None:
        if self._redis is None:
            options = dict(self.host)
            pool = redis_clients.async_pool(options.pop("address"), **options)
            self._redis = Redis(connection_pool=pool)
            self._pubsub = self._redis.pubsub(push_handler_func=_as_pushed)

    async def publish(self, channel, message) -> None:
        """PUBLISH without waiting for the (un)subscriptions under the lock."""
        await self.publish_pairs([(channel, message)])

    async def publish_pairs(self, publishes: list[tuple[str, bytes]]) -> None:
        """PUBLISH each (channel, message) in order, without the lock, up to PIPELINE_SIZE per round trip."""
        self._ensure_redis()
        async with self._publishing:
            try:
                await self._publish_held(publishes)
            except RedisConnectionError:  # the held connection broke (Redis restarted?): once more, on a fresh one
                await self._publish_held(publishes)

    async def _publish_held(self, publishes: list[tuple[str, bytes]]) -> None:
        connection = await self._held_connection()
        try:
            for start in range(0, len(publishes), PIPELINE_SIZE):
                chunk = publishes[start : start + PIPELINE_SIZE]
                commands = connection.pack_commands([("PUBLISH", channel, message) for channel, message in chunk])
                await connection.send_packed_command(commands, check_health=False)
                for _ in chunk:
                    await connection.read_response()
        except BaseException:  # its replies no longer match its commands: drop it (cancelled too)
            self._publisher = None
            await connection.disconnect(nowait=True)
            await self._redis.connection_pool.release(connection)
            raise

    async def _held_connection(self):
        """Return the connection to publish on: the one held, or a fresh checkout once it has been held for PUBLISHER_HELD_FOR."""
        now = asyncio.get_running_loop().time()
        if self._publisher is not None and now < self._publisher_until:
            return self._publisher
        await self._release_publisher()
        pool = self._redis.connection_pool
        self._publisher = await pool.get_connection()
        self._publisher_until = now + PUBLISHER_HELD_FOR
        return self._publisher

    async def _release_publisher(self) -> None:
        connection, self._publisher = self._publisher, None
        if connection is not None:
            await self._redis.connection_pool.release(connection)

    async def subscribe_many(self, channels: list[str]) -> None:
        """SUBSCRIBE to the channels not yet subscribed, in one command."""
        async with self._lock:
            new = [channel for channel in dict.fromkeys(channels) if channel not in self._subscribed_to]
            if new:
                self._ensure_redis()
                self._ensure_receiver()
                await self._pubsub.subscribe(*new)
                self._subscribed_to.update(new)

    async def unsubscribe_many(self, channels: list[str]) -> None:
        """UNSUBSCRIBE from the channels no local channel or group member needs any more (see `unsubscribe_soon`).

        Returns once a command holding them has run. Cancelling the caller does not cancel it.
        """
        await asyncio.shield(self.unsubscribe_soon(channels))

    def unsubscribe_soon(self, channels: list[str]) -> asyncio.Task:
        """Queue channels to unsubscribe; return the task that sends what is queued, one command at a time.

        Everything queued while a command is out goes in the next one: ten thousand sockets closing
        together cost a few UNSUBSCRIBEs, not twenty thousand behind the lock. A command that fails
        is logged; its channels stay subscribed until the connection goes.
        """
        self._leaving.update(dict.fromkeys(channels))
        if self._leaver is None:
            self._leaver = asyncio.get_running_loop().create_task(self._unsubscribe_queued())
        return self._leaver

    async def _unsubscribe_queued(self) -> None:
        try:
            while self._leaving:
                channels, self._leaving = list(self._leaving), {}
                try:
                    await self._unsubscribe(channels)
                except Exception as exc:  # noqa: BLE001 - the subscriptions go with the connection anyway
                    logger.warning("could not unsubscribe %d channels: %s", len(channels), type(exc).__name__)
        finally:
            self._leaver = None

    async def _unsubscribe(self, channels: list[str]) -> None:
        # Checked under the lock: a member that joined a group after its last member left (while
        # this waited for the lock) keeps the subscription.
        async with self._lock:
            layer = self.channel_layer
            gone = [
                channel for channel in channels
                if channel in self._subscribed_to and channel not in layer.channels and channel not in layer.groups
            ]
            if gone:
                self._ensure_redis()
                self._ensure_receiver()
                await self._pubsub.unsubscribe(*gone)
                self._subscribed_to.difference_update(gone)

    async def flush(self) -> None:
        """Drop what is queued to unsubscribe, hand back the publishing connection, then close as the library does."""
        self._leaving = {}
        if self._leaver is not None:
            self._leaver.cancel()
        if self._redis is not None and not self._publishing.locked():
            await self._release_publisher()
        self._publisher = None  # one in use goes with the pool, which the library closes
        await super().flush()

    def _receive_message(self, message) -> None:
        """Queue a Redis message for this process's receivers: a multicast for its members of the named groups."""
        if message is None:
            return
        name, data = message["channel"], message["data"]
        layer = self.channel_layer
        if layer.is_echo(data):
            return  # published by this layer, whose members here had it at once
        if isinstance(name, bytes):
            name = name.decode()
        if name == layer.multicast_channel:
            layer.deliver_multicast(data)
            return
        if name in layer.channels:
            layer.deliver(name, (data,))
            return
        members = layer.groups.get(name)
        if not members:
            return
        if len(members) > 1:
            data = layer.decode(data)  # decoded once for every member here
        messages = (data,)
        for channel in tuple(members):  # a direct receiver may leave a group meanwhile
            layer.deliver(channel, messages)


def _multicast_envelope(sends: list[list]) -> dict:
    """Return a multicast's envelope: the single form for one message, the batch form for several."""
    if len(sends) == 1:
        names, message = sends[0]
        return {"groups": names, "message": message}
    return {"batch": sends}


class _LoopLayer(pubsub.RedisPubSubLoopLayer):
    """The layer on one event loop (see RedisPubSubChannelLayer for what differs from the library's)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shards = [_Shard(shard.host, self) for shard in self._shards]
        self.multicast_channel = f"{self.prefix}__multicast__"
        self._unsubscribed: set[str] = set()  # channels named by new_channel, not yet subscribed
        # A group's channel name, kept: a presence announcement names a group per watcher.
        self._group_channel_name = functools.lru_cache(maxsize=GROUP_NAMES_KEPT)(self._get_group_channel_name)
        # `channels` (the library's name) maps each channel of this process to its _Inbox, where the
        # library keeps an asyncio.Queue: it is read only here and in `deliver`.
        self._origin = secrets.token_bytes(8)
        self._echo = self._echo_mark()

    def _echo_mark(self) -> bytes | None:
        """Return the bytes that follow the map header of every group message this layer publishes, or None.

        A group message goes out as `{ORIGIN: this layer's origin, **message}`: serialized, it
        opens with a map header (1 byte, or 3 from 16 keys on) and then these bytes, so that the
        layer knows its own messages when Redis hands them back without decoding them. None when
        the serializer hides them (symmetric encryption): then nothing is tagged or delivered
        here ahead of Redis, and every message comes back through Redis as in the library.
        """
        mark = self.channel_layer.serialize({ORIGIN: self._origin})[1:]
        probe = self.channel_layer.serialize({ORIGIN: self._origin, "type": "probe"})
        return mark if probe.startswith(mark, 1) else None

    def is_echo(self, data: bytes) -> bool:
        """Tell whether a message from Redis is one this layer published (and so already delivered here)."""
        echo = self._echo
        return echo is not None and (data.startswith(echo, 1) or data.startswith(echo, 3))

    def decode(self, data: bytes) -> dict:
        """Decode a message from Redis, without the origin key another process's layer adds."""
        message = self.channel_layer.deserialize(data)
        message.pop(ORIGIN, None)
        return message

    def _encode(self, message: dict) -> bytes:
        """Serialize a message for Redis, tagged with this layer's origin when it delivers here itself."""
        return self.channel_layer.serialize({ORIGIN: self._origin, **message} if self._echo is not None else message)

    # Channels ---------------------------------------------------------------------------------

    async def new_channel(self, prefix: str = "specific.") -> str:
        """Name a channel of this process; it is subscribed by its first group_add(_many) or receive."""
        channel = f"{self.prefix}{prefix}{uuid.uuid4().hex}"
        self.channels[channel] = _Inbox(asyncio.get_running_loop())
        self._unsubscribed.add(channel)
        return channel

    async def receive(self, channel: str) -> dict:
        """Wait for the next message on a channel of this process; unsubscribe it when cancelled (as the library)."""
        if channel not in self.channels:
            self.channels[channel] = _Inbox(asyncio.get_running_loop())
            self._unsubscribed.add(channel)
        if channel in self._unsubscribed:
            await self._get_shard(channel).subscribe_many([channel])
            self._unsubscribed.discard(channel)
        inbox = self.channels[channel]
        try:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # Cancelled during the subscribe, and something below swallowed it (Python 3.11's
                # timeout and wait_for can, when the cancel meets their own): honour it, or the
                # consumer's end would wait for ever on a message that never comes.
                raise asyncio.CancelledError
            message = await inbox.get()
        except (TimeoutError, asyncio.CancelledError, GeneratorExit):
            if self.channels.pop(channel, None) is not None:
                self._unsubscribed.discard(channel)
                # Queued, not awaited: a cancelled receive ends at once, even when cancelled again.
                self._get_shard(channel).unsubscribe_soon([channel])
            raise
        return message if isinstance(message, dict) else self.decode(message)

    # Groups -----------------------------------------------------------------------------------

    async def group_add(self, group: str, channel: str) -> None:
        await self.group_add_many([group], channel)

    async def group_add_many(self, groups: Iterable[str], channel: str) -> None:
        """Add a channel to groups; subscribe the channel, the groups and the multicast channel, one SUBSCRIBE per shard."""
        if channel not in self.channels:
            raise RuntimeError("group_add_many() needs a channel made by new_channel() in this process")
        by_shard: dict[int, list[str]] = defaultdict(list)
        pending = channel in self._unsubscribed
        if pending:  # subscribed here: a receive started meanwhile must not subscribe it on its own
            self._unsubscribed.discard(channel)
            by_shard[self._shard_index(channel)].append(channel)
        for group in groups:
            group_channel = self._get_group_channel_name(group)
            self.groups.setdefault(group_channel, set()).add(channel)
            by_shard[self._shard_index(group_channel)].append(group_channel)
        multicast = self._shard_index(self.multicast_channel)
        if self.multicast_channel not in self._shards[multicast]._subscribed_to:
            by_shard[multicast].append(self.multicast_channel)
        try:
            for index, names in by_shard.items():
                await self._shards[index].subscribe_many(names)
        except BaseException:
            if pending and channel in self.channels:
                self._unsubscribed.add(channel)
            raise

    async def group_discard(self, group: str, channel: str) -> None:
        await self.group_discard_many([group], channel)

    async def group_discard_many(self, groups: Iterable[str], channel: str) -> None:
        """Remove a channel from groups; unsubscribe the groups it leaves without a member here."""
        by_shard: dict[int, list[str]] = defaultdict(list)
        for group in groups:
            group_channel = self._get_group_channel_name(group)
            members = self.groups.get(group_channel)
            if not members or channel not in members:
                continue
            members.discard(channel)
            if not members:
                del self.groups[group_channel]
                by_shard[self._shard_index(group_channel)].append(group_channel)
        for index, names in by_shard.items():
            await self._shards[index].unsubscribe_many(names)

    async def send(self, channel: str, message: dict) -> None:
        shard = self._get_shard(channel)
        if channel in self._unsubscribed:  # this process's own channel, only named so far: subscribe it first
            self._unsubscribed.discard(channel)
            await shard.subscribe_many([channel])
        await shard.publish(channel, self.channel_layer.serialize(message))

    async def group_send(self, group: str, message: dict) -> None:
        await self.group_send_batch([([group], message)])

    async def group_send_many(self, groups: Iterable[str], message: dict) -> None:
        """Publish one message to several groups: a multicast for many, else one pipelined PUBLISH per group.

        The library's group_send serializes and publishes per group, one round trip each: a fan-out
        to 1,000 user groups then waits for 1,000 replies in turn.
        """
        await self.group_send_batch([(groups, message)])

    async def group_send_batch(self, sends: list[tuple[list[str], dict]]) -> None:
        """Deliver several messages in order, each to its groups: to the members here at once, then to Redis, pipelined per shard.

        Messages that follow one another as multicasts go out as one multicast naming each one's
        groups (`{"batch": [[groups, message], ...]}`), so that each process hands each of its
        members all of theirs at once (`deliver_multicast`); a lone one keeps the single form
        (`{"groups", "message"}`), which a process of the release before reads too. Every message
        is serialized before anything is delivered: one that cannot be fails the batch with
        nothing sent. This layer's own members get theirs before the PUBLISH goes out (and skip
        them when Redis hands them back, see `is_echo`); when Redis then fails, the error raised
        is a NotPublished.
        """
        named = [(list(dict.fromkeys(map(self._group_channel_name, groups))), message) for groups, message in sends]
        by_shard: dict[int, list[tuple[str, bytes | list]]] = defaultdict(list)
        multicasts: list | None = None  # the run of multicasts being gathered into one PUBLISH
        for names, message in named:
            if len(names) >= MULTICAST_MIN_GROUPS:
                if multicasts is None:
                    multicasts = []
                    by_shard[self._shard_index(self.multicast_channel)].append((self.multicast_channel, multicasts))
                multicasts.append([names, message])
                continue
            multicasts = None
            payload = self._encode(message)
            for name in names:
                by_shard[self._shard_index(name)].append((name, payload))
        for index, publishes in by_shard.items():
            by_shard[index] = [
                (name, payload if isinstance(payload, bytes) else self._encode(_multicast_envelope(payload))) for name, payload in publishes
            ]
        delivered_here = self._echo is not None
        if delivered_here:
            self._deliver_here(named)
        try:
            for index, publishes in by_shard.items():
                await self._shards[index].publish_pairs(publishes)
        except Exception as exc:
            if not delivered_here:
                raise
            raise NotPublished(f"{type(exc).__name__}: {exc}") from exc

    def deliver_multicast(self, data: bytes) -> None:
        """Hand each of this process's members of a multicast's groups its messages, decoded once, each once, in one call per member."""
        try:
            envelope = self.channel_layer.deserialize(data)
            sends = envelope["batch"] if "batch" in envelope else [(envelope["groups"], envelope["message"])]
        except Exception:  # noqa: BLE001 - one bad message must not stop the receiver
            logger.exception("ignored a malformed multicast")
            return
        self._deliver_here(sends)

    def _deliver_here(self, sends: Iterable[tuple[list[str], dict]]) -> None:
        """Hand each member on this layer of the messages' groups (Redis channel names) its messages, each once, in order, in one call per member."""
        member_sets = self.groups.get
        by_channel: dict[str, list[dict]] = {}
        for names, message in sends:
            found = [members for members in map(member_sets, names) if members]
            if not found:
                continue
            for channel in found[0] if len(found) == 1 else set().union(*found):  # each member once
                by_channel.setdefault(channel, []).append(message)
        inboxes = self.channels
        for channel, messages in by_channel.items():
            inbox = inboxes.get(channel)
            if inbox is not None:
                inbox.offer_or_put(messages)

    def deliver(self, channel: str, messages: Sequence[dict | bytes]) -> None:
        """Hand messages to a channel of this process: to its direct receiver when nothing is queued, else to its queue."""
        inbox = self.channels.get(channel)
        if inbox is None:
            return
        if inbox.direct is not None and not inbox.messages:  # they will be offered: the receiver takes dicts
            messages = [message if isinstance(message, dict) else self.decode(message) for message in messages]
        inbox.offer_or_put(messages)

    def receive_directly(self, channel: str, receiver: DirectReceiver | None) -> None:
        """Hand a channel's messages to `receiver` at once while none is queued (None: stop)."""
        inbox = self.channels.get(channel)
        if inbox is not None:
            inbox.direct = receiver

    async def flush(self) -> None:
        self._unsubscribed = set()
        await super().flush()

    def _shard_index(self, name: str) -> int:
        return _consistent_hash(name, len(self._shards))
