"""Fixtures for presence: both stores for the shared contract suite, Redis access, a fresh process store.

    def test_x(make_store):          # parametrized: in-process and Redis (skipped without REDIS_URL)
        store = make_store()
    def test_y(redis_stores):        # Redis only: each call is another "process" on the same keys
        a, b = redis_stores(), redis_stores(ttl=0.5, grace=0.2)
    async def test_z(socket_of, db_calls, announcements):   # the consumer's hooks, no server
        socket = socket_of(alice)
        await open_presence(socket.ctx)
        assert db_calls.trips == 1
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from presence import runtime
from presence.protocol import PresenceServerFrame
from presence.realtime import prepare_open, socket_opened
from presence.stores import PresenceStore, set_store
from presence.stores.memory import InProcessPresenceStore
from presence.stores.redis_store import RedisPresenceStore
from realtime import db, publish
from realtime.auth import Identity
from realtime.context import SocketContext
from realtime.protocol import ClientFrame, ServerFrame
from tests.support.realtime import authenticate, next_frame, send_frame
from tests.support.services import delete_keys, require_redis


async def start_presence(ctx: SocketContext) -> None:
    """Open a socket's presence as the kernel does: the app's prepare in a database trip, then its open hook (its announcement leaves with the tick)."""
    identity = Identity(user_id=ctx.user_id, username=ctx.username, device_id=ctx.device_id, expires_at=timezone.now())
    await socket_opened(ctx, await db.call(prepare_open, identity))


async def open_presence(ctx: SocketContext) -> None:
    """Open a socket's presence as the kernel does, and wait until its announcement is sent."""
    await start_presence(ctx)
    await runtime.announced()


@pytest.fixture
def redis_prefix():
    """Return a key prefix of this test's own (its keys are deleted afterwards)."""
    url = require_redis()
    prefix = f"{settings.DEDWEN_REDIS_PREFIX}:test:{secrets.token_hex(4)}"
    yield prefix
    delete_keys(url, f"{prefix}:*")


@pytest.fixture
def redis_stores(redis_prefix) -> Callable[..., RedisPresenceStore]:
    """Return a factory of Redis stores sharing one prefix: each store is another process."""
    made: list[RedisPresenceStore] = []

    def make(*, ttl: float = 60.0, url: str | None = None, grace: float = 0.0) -> RedisPresenceStore:
        store = RedisPresenceStore(url=url or settings.REDIS_URL, prefix=redis_prefix, ttl=ttl, grace=grace)
        made.append(store)
        return store

    yield make


@pytest.fixture(params=["in_process", "redis"])
def make_store(request) -> Callable[..., PresenceStore]:
    """Return a factory of stores of one kind, for the contract suite (parametrized over both kinds)."""
    if request.param == "in_process":
        return lambda *, grace=0.0, **options: InProcessPresenceStore(grace=grace)
    return request.getfixturevalue("redis_stores")


@pytest.fixture(autouse=True)
def fresh_presence_store(settings):
    """Give every test a process presence store of its own (no sockets left over from another test).

    Its grace is 0 (offline at once), for this process and the daphne servers a test starts, unless
    the test sets `settings.DEDWEN_PRESENCE_GRACE` or passes DEDWEN_PRESENCE_GRACE to the server.
    """
    settings.DEDWEN_PRESENCE_GRACE = 0.0
    set_store(None)
    runtime.forget_heartbeat()
    if settings.REDIS_URL:
        delete_keys(settings.REDIS_URL, f"{settings.DEDWEN_REDIS_PREFIX}:presence:*")
    yield
    set_store(None)
    runtime.forget_heartbeat()


class RedisProxy:
    """A TCP proxy in front of Redis that a test can cut and restore (an outage without stopping Redis)."""

    def __init__(self, target_host: str, target_port: int, db: int) -> None:
        self.target = (target_host, target_port)
        self.db = db
        self.port: int | None = None
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/{self.db}"

    async def start(self) -> None:
        """Accept connections (on the same port as before, after a cut)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port or 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, upstream_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.transport.abort()
                self._writers.discard(sink)

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


@pytest.fixture
async def redis_proxy():
    """Return a started RedisProxy to the test Redis (needs REDIS_URL)."""
    url = require_redis()
    kwargs = redis.Redis.from_url(url).connection_pool.connection_kwargs
    proxy = RedisProxy(kwargs.get("host", "127.0.0.1"), kwargs.get("port", 6379), kwargs.get("db", 0))
    await proxy.start()
    yield proxy
    if proxy._server is not None and proxy._server.is_serving():
        await proxy.cut()


@dataclass
class DbCalls:
    """How many database trips (thread hops through `realtime.db.call`) were made."""

    trips: int = 0

    def clear(self) -> None:
        self.trips = 0


@pytest.fixture
def db_calls(monkeypatch) -> DbCalls:
    """Count every database trip (thread hop) made through `db.call`."""
    calls = DbCalls()
    real_call = db.call

    async def counting_call(fn, /, *args, **kwargs):
        calls.trips += 1
        return await real_call(fn, *args, **kwargs)

    monkeypatch.setattr(db, "call", counting_call)
    return calls


@dataclass
class Announcements:
    """The presence events runtime sent from the event loop: (group, decoded frame), in order."""

    sent: list[tuple[str, dict]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    batches: list[list[int]] = field(default_factory=list)  # per layer call with presence frames: their users, in order

    def groups(self) -> list[str]:
        return [group for group, _ in self.sent]

    def frames(self) -> list[dict]:
        return [frame for _, frame in self.sent]


@pytest.fixture
def announcements(monkeypatch) -> Announcements:
    """Record the `presence` frames sent to groups (and still send them)."""
    recorded = Announcements()
    real_send_batch = publish._send_batch  # every send goes through it, a lone event as a batch of one

    async def recording_send_batch(batch):
        announced = []
        for groups, event in batch:
            frame = json.loads(event.get("text", "{}"))
            if frame.get("type") == PresenceServerFrame.PRESENCE:
                recorded.texts.append(event["text"])
                recorded.sent.extend((group, frame) for group in groups)
                announced.append(frame["data"]["user_id"])
        if announced:
            recorded.batches.append(announced)
        await real_send_batch(batch)

    monkeypatch.setattr(publish, "_send_batch", recording_send_batch)
    return recorded


# Real sockets ---------------------------------------------------------------------------------


def connect(ws, session) -> list[dict]:
    """Authenticate; return the `presence.snapshot` that must follow `authenticated` at once."""
    authenticate(ws, session.token)
    frame = next_frame(ws)
    assert frame["type"] == PresenceServerFrame.PRESENCE_SNAPSHOT, frame
    return frame["data"]["users"]


def presence_events_until_pong(ws) -> list[tuple[int, str]]:
    """Ping two presence ticks from now, and return the (user_id, status) of every `presence` frame received before the pong.

    An announcement leaves with the tick after its cause (runtime.ANNOUNCE_EVERY): waiting two ticks
    puts the ping behind every announcement caused before the call.
    """
    time.sleep(2 * runtime.ANNOUNCE_EVERY)
    send_frame(ws, ClientFrame.PING, {}, "barrier")
    events = []
    while (frame := next_frame(ws))["type"] != ServerFrame.PONG:
        if frame["type"] == PresenceServerFrame.PRESENCE:
            events.append((frame["data"]["user_id"], frame["data"]["status"]))
    return events
