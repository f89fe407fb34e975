"""The Redis presence store: sockets of every process, with leases and atomic transitions (docs/presence.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from presence.stores.base import Opened, PresenceStore, Status, Transitions
from realtime import redis as redis_clients

logger = logging.getLogger("dedwen.presence")

_LUA = Path(__file__).with_name("lua")
_SCRIPTS = ("open", "open_read", "close", "activity", "due", "beat", "add", "remove", "reap")
_SETTLING = frozenset(_SCRIPTS) - {"beat"}  # the scripts that change sockets: settle.lua is prepended to them
_CHUNK = 500  # sockets per resync script call, so one call never blocks Redis for long
_REAP_LIMIT = 20  # dead processes claimed per sweep
_STATUS_OF = {status.value: status for status in Status}  # a stored status text -> its Status (faster than Status(text))
_READ_LIMIT = 1000  # statuses read by the open script itself (Lua's unpack has a bound); more: a second round trip
_DUE_LIMIT = 200  # users turned offline per `due` script call (a call repeats while it finds this many)
_FAULTS = (RedisError, OSError, asyncio.TimeoutError)


class _Gate:
    """Shared by socket writes, which run side by side; held alone by the heartbeat and the shutdown.

    While one waits to hold it alone, no new write enters (so the heartbeat is never starved), and
    it gets it once the writes in flight are done: then Redis has seen every change of `_local`.
    """

    def __init__(self) -> None:
        self._writes = 0
        self._alone = asyncio.Lock()  # who holds or awaits the gate alone, in turn
        self._open = asyncio.Event()  # clear while one holds or awaits the gate alone
        self._open.set()
        self._idle = asyncio.Event()  # set while no write is in flight
        self._idle.set()

    @contextlib.asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        while not self._open.is_set():
            await self._open.wait()
        self._writes += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._writes -= 1
            if not self._writes:
                self._idle.set()

    @contextlib.asynccontextmanager
    async def alone(self) -> AsyncIterator[None]:
        async with self._alone:
            self._open.clear()
            try:
                await self._idle.wait()
                yield
            finally:
                self._open.set()


class _Turns:
    """One FIFO lock per socket id, kept only while a call holds or awaits it: a socket's calls run in order."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def of(self, socket_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(socket_id) or (asyncio.Lock(), 0)
        self._locks[socket_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[socket_id]
            if users == 1:
                del self._locks[socket_id]
            else:
                self._locks[socket_id] = (lock, users - 1)


@dataclass
class _Bound:
    """A connection pool, its scripts, the store's gate and the sockets' turns, bound to one event loop."""

    loop: asyncio.AbstractEventLoop
    client: Redis
    scripts: dict[str, AsyncScript]
    gate: _Gate
    turns: _Turns


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _flat(tuples: Iterable[tuple]) -> list[str]:
    return [str(value) for pair in tuples for value in pair]


def _changes(pairs: list[str], into: Transitions) -> Transitions:
    """Read a script's flat user id, status pairs into `into` (status `waiting`: in the grace)."""
    for user_id, status in zip(pairs[::2], pairs[1::2]):
        if status == "waiting":
            into.waiting.add(int(user_id))
        else:
            into.add(int(user_id), status)
    return into


class RedisPresenceStore(PresenceStore):
    """Presence shared by every process through Redis.

    Layout (prefix P = "<DEDWEN_REDIS_PREFIX>:presence"):
      P:procs        zset  process id -> lease expiry (ms, Redis clock), extended by the heartbeat
      P:proc:<pid>   hash  socket id -> user id: the sockets a process holds
      P:user:<uid>   set   socket ids: the user's open sockets on every process
      P:idle:<uid>   set   the ones of them that reported idle
      P:status       hash  user id -> online | idle: the public status of users not offline
      P:pending      zset  user id -> end of their grace (ms, Redis clock): no socket left, not offline yet
    Every write is one Lua script (with settle.lua prepended), so each change of P:status (a
    transition) is seen by exactly one script call.

    The process keeps its own sockets in memory too (the truth about this process): while Redis is
    unreachable, calls keep working on that copy, and the heartbeat resyncs Redis once it is back.

    Writes of different sockets run side by side (each script is atomic, so transitions stay
    exact); one socket's calls run in order (`_Turns`), so its close reaches Redis after its open.
    The heartbeat's lease check and resync, and the shutdown, run alone (`_Gate`): they compare
    Redis with `_local`, which must not change under them.
    """

    def __init__(self, *, url: str, prefix: str, ttl: float, grace: float = 0.0, max_connections: int = 20) -> None:
        self.url = url
        self.ttl_ms = max(1, int(ttl * 1000))
        self.grace = grace
        self.grace_ms = max(0, int(grace * 1000))
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.max_connections = max_connections
        base = f"{prefix}:presence"
        self.procs_key = f"{base}:procs"
        self.proc_prefix = f"{base}:proc:"
        self.base = f"{base}:"
        self.status_key = f"{base}:status"
        self.pending_key = f"{base}:pending"
        self.proc_key = f"{self.proc_prefix}{self.process_id}"
        self._local: dict[str, int] = {}  # socket id -> user id: this process's open sockets
        self._idle: set[str] = set()  # the ones of them that reported idle
        self._bound: _Bound | None = None
        self._healthy = True
        self._dirty = False  # a write was skipped or failed: Redis may disagree with _local
        self._closed = False

    # Interface ------------------------------------------------------------------------------

    @property
    def maintenance_interval(self) -> float:
        return self.ttl_ms / 3000

    async def open(self, *, user_id: int, socket_id: str) -> Status | None:
        if self._closed:
            return None
        bound = self._bind()
        async with self._socket_write(bound, socket_id):
            if self._closed:
                return None
            self._local[socket_id] = user_id
            self._idle.discard(socket_id)
            return await self._write(
                bound, "open", [self.procs_key, self.proc_key],
                [self.process_id, self.ttl_ms, socket_id, user_id, self.base, self.grace_ms],
            )

    async def open_and_read(self, *, user_id: int, socket_id: str, user_ids: Iterable[int]) -> Opened:
        user_ids = list(dict.fromkeys(user_ids))
        first, rest = user_ids[:_READ_LIMIT], user_ids[_READ_LIMIT:]
        if self._closed:
            return Opened(changed=None, statuses=await self.statuses(user_ids=user_ids))
        bound = self._bind()
        opened: Opened | None = None
        async with self._socket_write(bound, socket_id):
            if self._closed:
                pass  # the process stopped while this waited: count nothing
            elif not self._healthy:
                self._local[socket_id] = user_id
                self._idle.discard(socket_id)
                self._dirty = True
            else:
                self._local[socket_id] = user_id
                self._idle.discard(socket_id)
                ids = ",".join(map(str, first))
                args = [self.process_id, self.ttl_ms, socket_id, user_id, self.base, self.grace_ms, ids]
                try:
                    changed, found = await bound.scripts["open_read"](keys=[self.procs_key, self.proc_key], args=args)
                except _FAULTS as exc:
                    self._dirty = True
                    self._degrade(exc)
                else:
                    status_of = _STATUS_OF.get
                    statuses = dict(zip(first, [status_of(value, Status.OFFLINE) for value in found.split(",")])) if first else {}
                    opened = Opened(changed=Status(changed) if changed else None, statuses=statuses)
        if opened is None:  # Redis unreachable: no transition reported, statuses from this process's sockets
            return Opened(changed=None, statuses=await self.statuses(user_ids=user_ids))
        if rest:
            opened.statuses.update(await self.statuses(user_ids=rest))
        return opened

    async def close(self, *, user_id: int, socket_id: str) -> Status | None:
        bound = self._bind()
        async with self._socket_write(bound, socket_id):
            if self._local.get(socket_id) != user_id:
                return None
            del self._local[socket_id]
            self._idle.discard(socket_id)
            return await self._write(bound, "close", [self.proc_key], [socket_id, user_id, self.base, self.grace_ms])

    async def activity(self, *, user_id: int, socket_id: str, idle: bool) -> Status | None:
        bound = self._bind()
        async with self._socket_write(bound, socket_id):
            if self._local.get(socket_id) != user_id:
                return None
            (self._idle.add if idle else self._idle.discard)(socket_id)
            return await self._write(
                bound, "activity", [], [socket_id, user_id, self.base, self.grace_ms, "1" if idle else "0"]
            )

    async def statuses(self, *, user_ids: Iterable[int]) -> dict[int, Status]:
        user_ids = list(dict.fromkeys(user_ids))
        if not user_ids:
            return {}
        if self._healthy:
            bound = self._bind()
            try:
                found = await bound.client.hmget(self.status_key, [str(user_id) for user_id in user_ids])
                return {user_id: Status(value) if value else Status.OFFLINE for user_id, value in zip(user_ids, found)}
            except _FAULTS as exc:
                self._degrade(exc)
        return {user_id: self._local_status(user_id) for user_id in user_ids}  # degraded: this process's sockets only

    async def due(self) -> set[int]:
        if not self._healthy:
            return set()
        bound = self._bind()
        offline: set[int] = set()
        try:
            while True:
                found = await bound.scripts["due"](keys=[self.pending_key], args=[self.base, _DUE_LIMIT])
                offline.update(int(user_id) for user_id in found)
                if len(found) < _DUE_LIMIT:
                    return offline
        except _FAULTS as exc:
            self._degrade(exc)
            return offline

    async def waiting(self) -> int:
        bound = self._bind()
        try:
            return await bound.client.zcard(self.pending_key)
        except _FAULTS as exc:
            self._degrade(exc)
            return 0

    async def maintain(self) -> Transitions:
        if self._closed:
            return Transitions()
        bound = self._bind()
        try:
            async with bound.gate.alone():
                changes = await self._heartbeat(bound)
            await self._reap(bound, process_id="", into=changes)
        except _FAULTS as exc:
            self._degrade(exc)
            return Transitions()
        if not self._healthy:
            self._healthy = True
            logger.warning("presence: Redis is reachable again; this process's sockets are resynced")
        return changes

    async def ping(self) -> None:
        await self._bind().client.ping()

    async def others_alive(self) -> bool:
        bound = self._bind()
        try:
            seconds, micros = await bound.client.time()
            live = await bound.client.zrangebyscore(self.procs_key, f"({seconds * 1000 + micros // 1000}", "+inf")
        except _FAULTS as exc:
            self._degrade(exc)
            return False
        return any(pid != self.process_id for pid in live)

    async def shutdown(self) -> Transitions:
        self._closed = True
        bound = self._bind()
        async with bound.gate.alone():
            self._local.clear()
            self._idle.clear()
            try:
                return await self._reap(bound, process_id=self.process_id, into=Transitions())
            except _FAULTS as exc:
                self._degrade(exc)  # the lease runs out on its own: other processes reap us within the TTL
                return Transitions()

    async def aclose(self) -> None:
        if self._bound is not None:
            await self._bound.client.aclose()
            self._bound = None

    # Internals ------------------------------------------------------------------------------

    def _local_status(self, user_id: int) -> Status:
        """Return the user's status from this process's sockets alone (Redis unreachable)."""
        mine = [socket_id for socket_id, owner in self._local.items() if owner == user_id]
        if not mine:
            return Status.OFFLINE
        return Status.IDLE if all(socket_id in self._idle for socket_id in mine) else Status.ONLINE

    def _bind(self) -> _Bound:
        """Return the pool for the running event loop (one loop in a server; one per test in pytest)."""
        loop = asyncio.get_running_loop()
        if self._bound is None or self._bound.loop is not loop:
            pool = redis_clients.async_pool(
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
            settle = (_LUA / "settle.lua").read_text()
            scripts = {
                name: client.register_script((settle if name in _SETTLING else "") + (_LUA / f"{name}.lua").read_text())
                for name in _SCRIPTS
            }
            self._bound = _Bound(loop=loop, client=client, scripts=scripts, gate=_Gate(), turns=_Turns())
        return self._bound

    @contextlib.asynccontextmanager
    async def _socket_write(self, bound: _Bound, socket_id: str) -> AsyncIterator[None]:
        """Hold the socket's turn, then a share of the gate (never the other way: the heartbeat waits on shares)."""
        async with bound.turns.of(socket_id), bound.gate.shared():
            yield

    async def _write(self, bound: _Bound, script: str, keys: list[str], args: list) -> Status | None:
        """Run a transition script; when Redis is down, note that a resync is due and report no transition."""
        if not self._healthy:
            self._dirty = True
            return None
        try:
            changed = await bound.scripts[script](keys=keys, args=args)
        except _FAULTS as exc:
            self._dirty = True
            self._degrade(exc)
            return None
        return Status(changed) if changed else None

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
        local = sorted((sid, uid, int(sid in self._idle)) for sid, uid in self._local.items())
        for chunk in _chunks(local, _CHUNK) if local else [[]]:
            args = [self.process_id, self.ttl_ms, self.base, self.grace_ms, *_flat(chunk)]
            _changes(await bound.scripts["add"](keys=keys, args=args), changes)
        stale = [(sid, int(uid)) for sid, uid in remote.items() if sid not in self._local]
        for chunk in _chunks(stale, _CHUNK):
            args = [self.base, self.grace_ms, *_flat(chunk)]
            _changes(await bound.scripts["remove"](keys=[self.proc_key], args=args), changes)
        self._dirty = False
        return changes

    async def _reap(self, bound: _Bound, *, process_id: str, into: Transitions) -> Transitions:
        """Drop a process's sockets: this one's (shutdown, with the grace), or every expired one's (sweep)."""
        args = [self.proc_prefix, self.base, _REAP_LIMIT, process_id, self.grace_ms]
        return _changes(await bound.scripts["reap"](keys=[self.procs_key], args=args), into)
