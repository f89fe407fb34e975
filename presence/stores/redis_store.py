"""The Redis presence store: sockets of every process, with leases and atomic transitions (docs/presence.md)."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from presence.stores.base import PresenceStore, Transitions

logger = logging.getLogger("dedwen.presence")

_LUA = Path(__file__).with_name("lua")
_SCRIPTS = ("open", "close", "beat", "add", "remove", "reap")
_CHUNK = 500  # sockets per resync script call, so one call never blocks Redis for long
_REAP_LIMIT = 20  # dead processes claimed per sweep
_FAULTS = (RedisError, OSError, asyncio.TimeoutError)


@dataclass
class _Bound:
    """A connection pool, its scripts and the store's lock, bound to one event loop."""

    loop: asyncio.AbstractEventLoop
    client: Redis
    scripts: dict[str, AsyncScript]
    lock: asyncio.Lock


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _flat(pairs: Iterable[tuple[str, int]]) -> list[str]:
    return [str(value) for pair in pairs for value in pair]


class RedisPresenceStore(PresenceStore):
    """Presence shared by every process through Redis.

    Layout (prefix P = "<DEDWEN_REDIS_PREFIX>:presence"):
      P:procs        zset  process id -> lease expiry (ms, Redis clock), extended by the heartbeat
      P:proc:<pid>   hash  socket id -> user id: the sockets a process holds
      P:user:<uid>   set   socket ids: the user's open sockets on every process
    A user is online while P:user:<uid> exists. Every write is one Lua script, so the set turning
    non-empty or empty (a transition) is seen by exactly one script call.

    The process keeps its own sockets in memory too (the truth about this process): while Redis is
    unreachable, calls keep working on that copy, and the heartbeat resyncs Redis once it is back.
    """

    def __init__(self, *, url: str, prefix: str, ttl: float, max_connections: int = 20) -> None:
        self.url = url
        self.ttl_ms = max(1, int(ttl * 1000))
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.max_connections = max_connections
        base = f"{prefix}:presence"
        self.procs_key = f"{base}:procs"
        self.proc_prefix = f"{base}:proc:"
        self.user_prefix = f"{base}:user:"
        self.proc_key = f"{self.proc_prefix}{self.process_id}"
        self._local: dict[str, int] = {}  # socket id -> user id: this process's open sockets
        self._bound: _Bound | None = None
        self._healthy = True
        self._dirty = False  # a write was skipped or failed: Redis may disagree with _local
        self._closed = False

    # Interface ------------------------------------------------------------------------------

    @property
    def maintenance_interval(self) -> float:
        return self.ttl_ms / 3000

    async def open(self, *, user_id: int, socket_id: str) -> bool:
        if self._closed:
            return False
        bound = self._bind()
        async with bound.lock:
            self._local[socket_id] = user_id
            return await self._write(
                bound, "open", [self.procs_key, self.proc_key, self._user_key(user_id)],
                [self.process_id, self.ttl_ms, socket_id, user_id],
            )

    async def close(self, *, user_id: int, socket_id: str) -> bool:
        bound = self._bind()
        async with bound.lock:
            if self._local.get(socket_id) != user_id:
                return False
            del self._local[socket_id]
            return await self._write(bound, "close", [self.proc_key, self._user_key(user_id)], [socket_id])

    async def online(self, *, user_ids: Iterable[int]) -> set[int]:
        user_ids = list(dict.fromkeys(user_ids))
        if not user_ids:
            return set()
        if self._healthy:
            bound = self._bind()
            try:
                async with bound.client.pipeline(transaction=False) as pipe:
                    for user_id in user_ids:
                        pipe.exists(self._user_key(user_id))
                    found = await pipe.execute()
                return {user_id for user_id, exists in zip(user_ids, found) if exists}
            except _FAULTS as exc:
                self._degrade(exc)
        local_users = set(self._local.values())  # degraded: only this process's sockets are known
        return {user_id for user_id in user_ids if user_id in local_users}

    async def maintain(self) -> Transitions:
        if self._closed:
            return Transitions()
        bound = self._bind()
        try:
            async with bound.lock:
                changes = await self._heartbeat(bound)
            offline = await self._reap(bound, process_id="")
        except _FAULTS as exc:
            self._degrade(exc)
            return Transitions()
        if not self._healthy:
            self._healthy = True
            logger.warning("presence: Redis is reachable again; this process's sockets are resynced")
        changes.offline |= offline
        changes.online -= offline  # a user re-added here cannot go offline in the same tick
        return changes

    async def ping(self) -> None:
        await self._bind().client.ping()

    async def shutdown(self) -> set[int]:
        self._closed = True
        bound = self._bind()
        async with bound.lock:
            self._local.clear()
            try:
                return await self._reap(bound, process_id=self.process_id)
            except _FAULTS as exc:
                self._degrade(exc)  # the lease runs out on its own: other processes reap us within the TTL
                return set()

    async def aclose(self) -> None:
        if self._bound is not None:
            await self._bound.client.aclose()
            self._bound = None

    # Internals ------------------------------------------------------------------------------

    def _user_key(self, user_id: int) -> str:
        return f"{self.user_prefix}{user_id}"

    def _bind(self) -> _Bound:
        """Return the pool for the running event loop (one loop in a server; one per test in pytest)."""
        loop = asyncio.get_running_loop()
        if self._bound is None or self._bound.loop is not loop:
            pool = BlockingConnectionPool.from_url(
                self.url,
                max_connections=self.max_connections,
                timeout=2.0,  # wait this long for a free connection, then fail (never grow unbounded)
                socket_connect_timeout=1.0,
                socket_timeout=2.0,
                health_check_interval=15,
                retry=Retry(NoBackoff(), 1),
                decode_responses=True,
            )
            client = Redis(connection_pool=pool)
            scripts = {name: client.register_script((_LUA / f"{name}.lua").read_text()) for name in _SCRIPTS}
            self._bound = _Bound(loop=loop, client=client, scripts=scripts, lock=asyncio.Lock())
        return self._bound

    async def _write(self, bound: _Bound, script: str, keys: list[str], args: list) -> bool:
        """Run a transition script; when Redis is down, note that a resync is due and report no transition."""
        if not self._healthy:
            self._dirty = True
            return False
        try:
            return bool(await bound.scripts[script](keys=keys, args=args))
        except _FAULTS as exc:
            self._dirty = True
            self._degrade(exc)
            return False

    def _degrade(self, exc: BaseException) -> None:
        if self._healthy:
            logger.warning(
                "presence: Redis unreachable (%s: %s); serving this process's sockets only until it returns",
                type(exc).__name__, exc,
            )
        self._healthy = False
        self._dirty = True

    async def _heartbeat(self, bound: _Bound) -> Transitions:
        """Extend this process's lease, or resync its sockets when Redis disagrees with them."""
        if not self._dirty and self._healthy:
            args = [self.process_id, self.ttl_ms, len(self._local)]
            if await bound.scripts["beat"](keys=[self.procs_key, self.proc_key], args=args):
                return Transitions()
        return await self._resync(bound)

    async def _resync(self, bound: _Bound) -> Transitions:
        """Make Redis hold exactly this process's sockets: add every one first, then drop stale ones.

        Adding first means no user who still has a socket here is ever seen without one, so the
        removals report only true offline transitions, and additions only true online ones.
        """
        changes = Transitions()
        remote = await bound.client.hgetall(self.proc_key)
        keys = [self.procs_key, self.proc_key]
        local = sorted(self._local.items())
        for chunk in _chunks(local, _CHUNK) if local else [[]]:
            added = await bound.scripts["add"](keys=keys, args=[self.process_id, self.ttl_ms, self.user_prefix, *_flat(chunk)])
            changes.online.update(int(user_id) for user_id in added)
        stale = [(sid, int(uid)) for sid, uid in remote.items() if sid not in self._local]
        for chunk in _chunks(stale, _CHUNK):
            removed = await bound.scripts["remove"](keys=[self.proc_key], args=[self.user_prefix, *_flat(chunk)])
            changes.offline.update(int(user_id) for user_id in removed)
        self._dirty = False
        return changes

    async def _reap(self, bound: _Bound, *, process_id: str) -> set[int]:
        """Drop a process's sockets: this one's (shutdown), or every expired one's (sweep)."""
        args = [self.proc_prefix, self.user_prefix, _REAP_LIMIT, process_id]
        offline = await bound.scripts["reap"](keys=[self.procs_key], args=args)
        return {int(user_id) for user_id in offline}
