"""Live connections: every authenticated socket of every process, for the admin to list and disconnect.

Each process keeps its own sockets in memory (the truth about this process). With REDIS_URL the
process also mirrors them into Redis, beside presence's per-socket entries, so that any process
(the admin page) can list them all:

  P = "<DEDWEN_REDIS_PREFIX>:connections"
  P:procs          set   process ids that registered a socket
  P:proc:<pid>     hash  connection id -> JSON entry; the key expires DEDWEN_PRESENCE_TTL seconds
                         after the process's last heartbeat (every TTL/3), so a crashed process's
                         sockets vanish with its presence lease

The adds and removals of one moment go out together: one pipeline at a time per process, carrying
every change made while the previous one was in flight (so under a burst of connects a socket's
write costs a share of a round trip, alone it costs one); each caller returns once its change is
written. A write that fails (Redis down) is logged and repaired by the next heartbeat, which
rewrites the process's hash from memory. Disconnecting a socket is a channel-layer message to its own channel
(named in its entry), so it reaches the socket on whichever process holds it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import secrets
import socket
import weakref
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from redis.exceptions import RedisError

from realtime import redis as redis_clients

logger = logging.getLogger("dedwen.realtime.connections")

PROCESS_ID = f"{socket.gethostname()}:{os.getpid()}"
_FAULTS = (RedisError, OSError, asyncio.TimeoutError)
_REDIS_TIMEOUT = 2.0  # seconds: a registry write never holds a socket longer


def new_connection_id() -> str:
    """Return a fresh opaque id naming one socket (the `connection_id` of `authenticated`)."""
    return secrets.token_urlsafe(12)


@dataclass(frozen=True)
class Connection:
    """One authenticated socket, as the admin lists it."""

    connection_id: str
    user_id: int
    username: str
    device_id: int
    process: str
    connected_at: str  # ISO 8601, UTC
    client_ip: str
    user_agent: str
    channel_name: str  # where a disconnect is sent (not shown)

    def to_json(self) -> str:
        """Return the entry as stored in Redis (made once: every heartbeat rewrites every entry of the process)."""
        return self._json

    @functools.cached_property
    def _json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Connection | None:
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError):
            return None


class _Batch:
    """The registry changes of one event loop waiting for its next pipeline: connection id -> entry, or None to remove."""

    def __init__(self) -> None:
        self.changes: dict[str, str | None] = {}
        self.written: asyncio.Future | None = None  # resolved once these changes are written (or failed)
        self.writer: asyncio.Task | None = None  # the task writing the batches one after another


def _keys() -> tuple[str, str]:
    base = f"{settings.DEDWEN_REDIS_PREFIX}:connections"
    return f"{base}:procs", f"{base}:proc:"


class Registry:
    """This process's live connections, mirrored into Redis when REDIS_URL is set."""

    def __init__(self) -> None:
        self.local: dict[str, Connection] = {}
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
        self._heartbeats: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task] = weakref.WeakKeyDictionary()
        self._batches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batch] = weakref.WeakKeyDictionary()
        self._dirty = False

    # Writes, from the event loop ---------------------------------------------------------------

    async def add(self, entry: Connection) -> None:
        """Record an authenticated socket."""
        self.local[entry.connection_id] = entry
        if settings.REDIS_URL:
            self._ensure_heartbeat()
            await self._batched(entry.connection_id, entry.to_json())

    async def remove(self, connection_id: str) -> None:
        """Forget a socket that closed."""
        if self.local.pop(connection_id, None) is not None and settings.REDIS_URL:
            await self._batched(connection_id, None)

    def forget_local(self, connection_id: str) -> None:
        """Forget a socket in memory only (its Redis entry expires with this process's key)."""
        self.local.pop(connection_id, None)

    async def beat(self) -> None:
        """Extend this process's entries in Redis; rewrite them from memory after a failed write."""
        procs, proc_prefix = _keys()
        key = proc_prefix + PROCESS_ID
        entries = {cid: entry.to_json() for cid, entry in self.local.items()}
        dirty, self._dirty = self._dirty, False

        def commands(pipe):
            if dirty:
                pipe.delete(key)
            if entries:
                pipe.sadd(procs, PROCESS_ID).hset(key, mapping=entries)
            return pipe.pexpire(key, self._ttl_ms())

        await self._write(commands)

    async def _batched(self, connection_id: str, entry: str | None) -> None:
        """Queue one change for the loop's next pipeline and return once it is written (or has failed)."""
        loop = asyncio.get_running_loop()
        batch = self._batches.get(loop)
        if batch is None:
            batch = self._batches[loop] = _Batch()
        batch.changes[connection_id] = entry
        if batch.written is None:
            batch.written = loop.create_future()
        written = batch.written
        if batch.writer is None or batch.writer.done():
            batch.writer = loop.create_task(self._write_batches(batch), name="connections-writes")
        await asyncio.shield(written)  # a caller cancelled meanwhile leaves the write to finish for the others

    async def _write_batches(self, batch: _Batch) -> None:
        """Write the queued changes, one pipeline at a time, until none is left."""
        try:
            while batch.changes:
                changes, written = batch.changes, batch.written
                batch.changes, batch.written = {}, None
                try:
                    await self._write(lambda pipe, changes=changes: self._apply(pipe, changes))
                finally:
                    written.set_result(None)
        finally:
            if batch.written is not None:  # stopped (the loop is closing) with changes queued: the heartbeat rewrites them
                self._dirty = True
                batch.changes.clear()
                batch.written.set_result(None)
                batch.written = None

    def _apply(self, pipe, changes: dict[str, str | None]) -> None:
        procs, proc_prefix = _keys()
        key = proc_prefix + PROCESS_ID
        added = {connection_id: entry for connection_id, entry in changes.items() if entry is not None}
        removed = [connection_id for connection_id, entry in changes.items() if entry is None]
        if added:
            pipe.sadd(procs, PROCESS_ID).hset(key, mapping=added).pexpire(key, self._ttl_ms())
        if removed:
            pipe.hdel(key, *removed)

    async def _write(self, build) -> None:
        try:
            async with self._client().pipeline(transaction=True) as pipe:
                build(pipe)
                await asyncio.wait_for(pipe.execute(), _REDIS_TIMEOUT)
        except _FAULTS as exc:
            self._dirty = True
            logger.warning("live connections: Redis write failed (%s); the heartbeat retries", type(exc).__name__)

    def _client(self):
        """Return a Redis client bound to the running event loop."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = redis_clients.async_client(
                settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=_REDIS_TIMEOUT
            )
        return client

    def _ttl_ms(self) -> int:
        return max(1000, int(settings.DEDWEN_PRESENCE_TTL * 1000))

    def _ensure_heartbeat(self) -> None:
        loop = asyncio.get_running_loop()
        task = self._heartbeats.get(loop)
        if task is None or task.done():
            self._heartbeats[loop] = loop.create_task(self._beat_forever(), name="connections-heartbeat")

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self._ttl_ms() / 3000)
            try:
                await self.beat()
            except Exception:  # noqa: BLE001 - the heartbeat must outlive any one failed tick
                logger.exception("live connections heartbeat failed")

    # Reads and disconnects, from sync code (the admin) ----------------------------------------

    def all(self) -> list[Connection]:
        """Return every live connection on every process, oldest first."""
        if not settings.REDIS_URL:
            found = list(self.local.values())
        else:
            found = self._all_from_redis()
        return sorted(found, key=lambda entry: (entry.connected_at, entry.connection_id))

    def _all_from_redis(self) -> list[Connection]:
        procs, proc_prefix = _keys()
        with redis_clients.sync_client(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=_REDIS_TIMEOUT) as client:
            process_ids = sorted(member.decode() for member in client.smembers(procs))
            with client.pipeline(transaction=False) as pipe:
                for process_id in process_ids:
                    pipe.hvals(proc_prefix + process_id)
                rows = pipe.execute()
            gone = [process_id for process_id, values in zip(process_ids, rows) if not values]
            if gone:
                client.srem(procs, *gone)  # an expired (crashed) or empty process: forget it
        entries = (Connection.from_json(value) for values in rows for value in values)
        return [entry for entry in entries if entry is not None]

    def disconnect(self, *, connection_ids: list[str], reconnect_after_ms: int) -> int:
        """Send each named socket `goaway` (disconnected) and a 4001 close, wherever it is; return how many were found."""
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer

        from realtime.protocol import EVENT_GOAWAY, GoawayReason

        wanted = set(connection_ids)
        targets = [entry for entry in self.all() if entry.connection_id in wanted]
        event = {"type": EVENT_GOAWAY, "reason": str(GoawayReason.DISCONNECTED), "reconnect_after_ms": reconnect_after_ms}
        layer = get_channel_layer()

        async def send_all():
            for entry in targets:
                try:
                    await layer.send(entry.channel_name, event)
                except Exception as exc:  # noqa: BLE001 - one unreachable socket must not stop the others
                    logger.warning("disconnect of %s not sent: %s", entry.connection_id, type(exc).__name__)

        async_to_sync(send_all)()
        return len(targets)


REGISTRY = Registry()
