"""What several areas share: the test database's teardown, the Redis requirement of the services run, a clean live-connections registry, and a socket that records frames."""

from __future__ import annotations

import itertools
import json
import os
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db.backends.signals import connection_created

from realtime.connections import REGISTRY
from realtime.context import SocketContext
from realtime.publish import EncodedJSON


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """pytest-django's test databases, whose connections opened by other threads are closed before they are dropped.

    Async tests reach the database through asgiref's database thread (realtime.db). Its connections
    outlive the tests, and PostgreSQL refuses to drop a database that sessions still use: the
    services run ended with "Error when trying to teardown test databases".
    """
    opened_elsewhere = weakref.WeakSet()  # weak: this keeps no connection open that would be collected

    def remember(sender, connection, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            opened_elsewhere.add(connection)

    connection_created.connect(remember, weak=False)
    yield
    connection_created.disconnect(remember)
    for connection in list(opened_elsewhere):
        connection.inc_thread_sharing()  # Django's way to close another thread's connection
        try:
            connection.close()
        finally:
            connection.dec_thread_sharing()


def require_redis() -> str:
    """Return REDIS_URL; skip when unset (fail under DEDWEN_REQUIRE_SERVICES=1), fail when unreachable."""
    url = settings.REDIS_URL
    if not url:
        if os.environ.get("DEDWEN_REQUIRE_SERVICES") == "1":
            pytest.fail("DEDWEN_REQUIRE_SERVICES=1 but REDIS_URL is not set")
        pytest.skip("needs Redis: set REDIS_URL (the services run)")
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"REDIS_URL is set but Redis cannot be reached: {exc}")
    finally:
        client.close()
    return url


def delete_keys(url: str, pattern: str) -> None:
    """Delete every key matching the pattern."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(autouse=True)
def fresh_live_connections():
    """Start every test with no live connection listed (a server of an earlier test may have left one in Redis)."""
    REGISTRY.local.clear()
    if settings.REDIS_URL:
        delete_keys(settings.REDIS_URL, f"{settings.DEDWEN_REDIS_PREFIX}:connections:*")


@pytest.fixture
def redis_url() -> str:
    """The services run's Redis (see require_redis)."""
    return require_redis()


_socket_numbers = itertools.count(1)


@dataclass
class RecordingSocket:
    """An authenticated socket for calling handlers and hooks directly: it records the frames sent to it."""

    user: Any
    device_id: int = 1
    channel_name: str = field(default_factory=lambda: f"test.socket.{next(_socket_numbers)}")
    sent: list[dict] = field(default_factory=list)

    @property
    def ctx(self) -> SocketContext:
        return SocketContext(
            user_id=self.user.pk,
            username=self.user.get_username(),
            device_id=self.device_id,
            channel_name=self.channel_name,
            send_frame=self._send_frame,
        )

    async def _send_frame(self, frame_type, data, ref=None) -> None:
        frame = {"type": str(frame_type), "data": json.loads(data) if isinstance(data, EncodedJSON) else data}
        if ref is not None:
            frame["ref"] = ref
        self.sent.append(frame)


@pytest.fixture
def socket_of() -> type[RecordingSocket]:
    """Return the RecordingSocket class: `socket_of(alice)` is another socket of alice's."""
    return RecordingSocket
