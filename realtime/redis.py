"""Redis clients for everyone who needs Redis: the plain REDIS_URL server, or the master Sentinel names.

With DEDWEN_REDIS_SENTINELS and DEDWEN_REDIS_MASTER set, REDIS_URL still says that Redis is on and
names the database, username and password; its host and port are not used. Every connection asks
the Sentinels for the master's address when it opens, so after a failover each client reconnects to
the promoted replica by itself (redis-py drops idle connections to the old master when the address
changes). A process counts each change of the master address it sees in dedwen_redis_failovers_total.
"""

from __future__ import annotations

import logging
import threading

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel
from django.conf import settings
from redis.connection import parse_url

from realtime.metrics import REDIS_FAILOVERS

logger = logging.getLogger("dedwen.realtime.redis")

SENTINEL_TIMEOUT = 1.0  # seconds a Sentinel may take to answer where the master is

_seen_lock = threading.Lock()
_seen_master: tuple[str, int] | None = None


def _note_master(address) -> None:
    """Remember the master's address; count a failover when it differs from the last one seen."""
    global _seen_master
    address = (str(address[0]), int(address[1]))
    with _seen_lock:
        previous, _seen_master = _seen_master, address
    if previous is not None and previous != address:
        REDIS_FAILOVERS.inc()
        logger.warning("Redis master moved from %s:%s to %s:%s", *previous, *address)


def sentinel_mode() -> bool:
    """Return whether Redis is reached through Sentinel."""
    return bool(settings.DEDWEN_REDIS_SENTINELS)


def _credentials(url: str) -> dict:
    """Return the database, username and password REDIS_URL names (its host and port are Sentinel's to say)."""
    parsed = parse_url(url)
    return {key: parsed[key] for key in ("db", "username", "password") if parsed.get(key) is not None}


class AsyncMasterPool(redis.asyncio.sentinel.SentinelConnectionPool, redis.asyncio.BlockingConnectionPool):
    """The master's connections, waiting for a free one like BlockingConnectionPool; notes failovers."""

    # redis-py offers no blocking Sentinel pool: the mix-in relies on SentinelConnectionPool passing
    # its keyword arguments on to BlockingConnectionPool (checked on redis 8.1; pyproject pins <9).

    async def get_master_address(self):
        address = await super().get_master_address()
        _note_master(address)
        return address


class SyncMasterPool(redis.sentinel.SentinelConnectionPool):
    """The master's connections for sync code (the admin, Django's cache); notes failovers."""

    def get_master_address(self):
        address = super().get_master_address()
        _note_master(address)
        return address

    @classmethod
    def from_url(cls, url: str, **options):
        """Build the pool from REDIS_URL's credentials, as Django's RedisCache asks (OPTIONS pool_class)."""
        options.pop("parser_class", None)
        return cls(settings.DEDWEN_REDIS_MASTER, _sentinel(redis.sentinel.Sentinel), **_credentials(url), **options)


def _sentinel(sentinel_class):
    timeouts = {"socket_connect_timeout": SENTINEL_TIMEOUT, "socket_timeout": SENTINEL_TIMEOUT}
    return sentinel_class(settings.DEDWEN_REDIS_SENTINELS, sentinel_kwargs=timeouts)


def async_pool(url: str, **options) -> redis.asyncio.ConnectionPool:
    """Return a BlockingConnectionPool for url, or for the Sentinel master (url's credentials) in Sentinel mode."""
    if not sentinel_mode():
        return redis.asyncio.BlockingConnectionPool.from_url(url, **options)
    manager = _sentinel(redis.asyncio.sentinel.Sentinel)
    return AsyncMasterPool(settings.DEDWEN_REDIS_MASTER, manager, **_credentials(url), **options)


def async_client(url: str, **options) -> redis.asyncio.Redis:
    """Return an asyncio client of its own pool (see async_pool)."""
    return redis.asyncio.Redis.from_pool(async_pool(url, **options))


def sync_client(url: str, **options) -> redis.Redis:
    """Return a sync client of its own pool: url's server, or the Sentinel master."""
    if not sentinel_mode():
        return redis.Redis.from_url(url, **options)
    return redis.Redis.from_pool(SyncMasterPool.from_url(url, **options))

